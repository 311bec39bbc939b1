"""A non-editable install (`pip install .`, no checkout beside it) finds its scripts and
the demo model: the experiment grid and the bad-input catalogue run the installed copies.

The package is installed with `pip install --target` from a copy of the sources (so the
build leaves nothing in the checkout) and used from a directory outside the repository
with PYTHONPATH=<target>, which comes before the checkout's editable install."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO

DEMO = "saved_models/demo-impala-drarl-Catch"
SOURCES = ("drarl_tf", "scripts", DEMO, "saved_models/README.md", "setup.py", "pyproject.toml",
           "README.md")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(target, workdir): drarl_tf installed non-editable into `target`."""
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    target = root / "target"
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "--quiet", "--target", str(target),
         str(source)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    workdir = root / "elsewhere"
    workdir.mkdir()
    return target, workdir


def _run_installed(installed, code: str) -> dict:
    """Runs `code` (which prints one JSON line last) with the installed drarl_tf."""
    target, workdir = installed
    env = dict(os.environ, PYTHONPATH=str(target))
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=workdir, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _outside_the_checkout(target, path: str) -> str:
    path = os.path.realpath(path)
    assert path.startswith(str(target.resolve()) + os.sep), path
    assert not path.startswith(str(REPO) + os.sep), path
    assert os.path.exists(path), path
    return path


def test_a_non_editable_install_finds_its_own_scripts_and_demo_model(installed):
    target, _ = installed
    seen = _run_installed(installed, """
        import json
        import drarl_tf
        from drarl_tf.experiments import bad_inputs
        from drarl_tf.experiments.grid import Cell, find_script

        cell = Cell("ppo", "drarl", "Catch", 0, 1000)
        print(json.dumps({
            "package": drarl_tf.__file__,
            "script": str(find_script("visualize.py")),
            "train_script": cell.train_command("runs", "")[1],
            "eval_script": cell.eval_command("runs", "", 1)[1],
            "demo_model": str(bad_inputs.DEMO_MODEL),
        }))
    """)
    for path in seen.values():
        _outside_the_checkout(target, path)
    assert os.path.basename(seen["train_script"]) == "run_ppo.py"
    assert os.path.isfile(os.path.join(seen["demo_model"], "saved_model.pb"))


@pytest.mark.slow
def test_the_installed_scripts_run_end_to_end(installed):
    """grid.py's training command and two bad-input cases (one on the demo model), run
    from the install: one `error:` line and exit code 2 each."""
    seen = _run_installed(installed, """
        import json, subprocess
        from pathlib import Path
        from drarl_tf.experiments import bad_inputs
        from drarl_tf.experiments.grid import Cell

        train = Cell("impala", "drarl", "Catch", 0, 1000).train_command("runs", "", ["--gamma=0.9"])
        run = subprocess.run(train, capture_output=True, text=True, timeout=300)
        cases = [c for c in bad_inputs.CASES if c.what in (
            "misspelt game", "a model evaluated on a game with other observations")]
        outcomes = [bad_inputs.run_case(c, Path("case") / str(n)) for n, c in enumerate(cases)]
        print(json.dumps({
            "train_returncode": run.returncode,
            "train_errors": [l for l in run.stderr.splitlines() if l.startswith("error:")],
            "cases": [[o.case.what, o.ok, o.returncode, list(o.error_lines)] for o in outcomes],
        }))
    """)
    assert seen["train_returncode"] == 2
    assert len(seen["train_errors"]) == 1 and "gamma" in seen["train_errors"][0]
    assert len(seen["cases"]) == 2 and all(ok for _, ok, _, _ in seen["cases"]), seen["cases"]


def test_scripts_are_found_in_the_checkout_when_running_from_it():
    from drarl_tf.experiments.grid import find_script

    assert find_script("run_ppo.py") == REPO / "scripts" / "run_ppo.py"


def test_a_missing_script_is_one_line_naming_it():
    from drarl_tf.errors import DrarlError
    from drarl_tf.experiments.grid import find_script

    with pytest.raises(DrarlError, match="run_nothing.py") as raised:
        find_script("run_nothing.py")
    assert "\n" not in str(raised.value)


def test_an_install_scheme_that_cannot_be_expanded_is_skipped(monkeypatch):
    """In a venv, sysconfig's user scheme may lack `userbase` (AttributeError; seen when a
    grid's worker threads expanded it at once): the lookup goes on with the other schemes."""
    import sysconfig

    from drarl_tf.experiments import grid

    real = sysconfig.get_path

    def get_path(name, scheme=None, *args, **kwargs):
        if scheme is not None and "user" in scheme:
            raise AttributeError("userbase")
        return real(name, scheme, *args, **kwargs) if scheme else real(name)

    monkeypatch.setattr(sysconfig, "get_path", get_path)
    grid._install_dirs.cache_clear()
    try:
        dirs = grid._install_dirs("scripts")
        assert Path(sys.executable).parent in dirs
    finally:
        grid._install_dirs.cache_clear()


def test_a_grid_with_a_missing_script_fails_before_any_cell_runs(tmp_path, monkeypatch):
    from drarl_tf.errors import DrarlError
    from drarl_tf.experiments import grid

    cell = grid.Cell("nothing", "impala", "Catch", 0, 10)
    with pytest.raises(DrarlError, match="run_nothing.py"):
        grid.run_grid([cell], str(tmp_path / "runs"), str(tmp_path / "saved"), eval_episodes=1,
                      parallel=2, log=lambda line: None)
    assert not (tmp_path / "runs").exists()
