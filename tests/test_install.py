"""A non-editable `pip install .` into a fresh virtual environment, used from an empty
directory outside the checkout: the installed `drarl-*` commands run (their `--help`, and
a short `drarl-impala` run to the end), nothing with a generic name lands on PATH, and
the installed package finds its own scripts and demo model.

The wheel is built from a copy of the sources (so the build leaves nothing in the
checkout) and installed, without its dependencies, into a venv made with no packages;
the dependencies come from the test's own environment through a `.pth` line (a plain
path: the checkout's editable install, a finder that a `.pth` file there would start,
stays off)."""

import json
import os
import shutil
import site
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

DEMO = "saved_models/demo-impala-drarl-Catch"
SOURCES = ("drarl_tf", "scripts", DEMO, "saved_models/__init__.py", "setup.py",
           "pyproject.toml", "README.md")


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """(venv directory, empty working directory, the wheel's console_scripts)."""
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    built = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-w", str(root / "wheel"), str(source)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    wheel = next((root / "wheel").glob("drarl_tf-*.whl"))
    env_dir = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path"
                              "('purelib'))"], capture_output=True, text=True, check=True)
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    Path(purelib.stdout.strip(), "test-dependencies.pth").write_text("\n".join(deps) + "\n")
    out = subprocess.run([*pip, "--python", str(python), "install", "--no-deps", "--no-index",
                          str(wheel)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    with zipfile.ZipFile(wheel) as z:
        entry_points = next(n for n in z.namelist() if n.endswith("entry_points.txt"))
        commands = {line.split("=")[0].strip(): line.split("=")[1].strip()
                    for line in z.read(entry_points).decode().splitlines() if "=" in line}
    workdir = root / "empty"
    workdir.mkdir()
    return env_dir, workdir, commands


def _env():
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


def test_every_script_is_one_prefixed_command_and_nothing_else_is_on_path(venv):
    env_dir, _, commands = venv
    scripts = {p.stem for p in (REPO / "scripts").glob("*.py") if p.stem != "__init__"}
    assert {target.split(":")[0].rsplit(".", 1)[1] for target in commands.values()} == scripts
    assert all(name.startswith("drarl-") for name in commands)
    assert all(target.endswith(":run") for target in commands.values())
    on_path = {p.name for p in (env_dir / "bin").iterdir()}
    venv_own = {n for n in on_path if n.startswith(("python", "activate", "Activate"))}
    assert on_path - venv_own == set(commands)  # no evaluate.py, export.py, tables.py ...


def test_every_installed_command_shows_its_help_from_an_empty_directory(venv):
    env_dir, workdir, commands = venv
    for name, target in sorted(commands.items()):
        out = subprocess.run([str(env_dir / "bin" / name), "--help"], cwd=workdir, env=_env(),
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, (name, out.stdout[-500:], out.stderr[-1500:])
        # The script's own docstring and flags, not just absl's.
        module = target.split(":")[0].rsplit(".", 1)[1]
        first_line = (REPO / "scripts" / f"{module}.py").read_text().split('"""')[1]
        assert first_line.splitlines()[0] in out.stdout, name
        assert f"/{name}:" in out.stdout or f"{name}:" in out.stdout, (name, out.stdout[:800])
        assert "Traceback" not in out.stderr, (name, out.stderr[-1500:])
    assert not any(workdir.iterdir())  # --help wrote nothing


def test_the_installed_package_finds_its_own_scripts_and_demo_model(venv):
    env_dir, workdir, _ = venv
    code = textwrap.dedent("""
        import json
        import drarl_tf
        from drarl_tf.experiments import bad_inputs
        from drarl_tf.experiments.grid import Cell
        from drarl_tf.bookkeeping.paths import demo_model

        cell = Cell("ppo", "drarl", "Catch", 0, 1000)
        print(json.dumps({"package": drarl_tf.__file__, "demo": str(demo_model()),
                          "catalogue_demo": str(bad_inputs.DEMO_MODEL),
                          "train": cell.train_command("runs", "")[:3],
                          "eval": cell.eval_command("runs", "", 1)[:3]}))
    """)
    out = subprocess.run([str(env_dir / "bin" / "python"), "-c", code], cwd=workdir,
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    inside = str(env_dir.resolve()) + os.sep
    for key in ("package", "demo", "catalogue_demo"):
        assert os.path.realpath(seen[key]).startswith(inside), (key, seen[key])
        assert not os.path.realpath(seen[key]).startswith(str(REPO) + os.sep)
    assert os.path.isfile(os.path.join(seen["demo"], "saved_model.pb"))
    assert seen["train"] == [str(env_dir / "bin" / "python"), "-m", "drarl_tf.scripts.run_ppo"]
    assert seen["eval"][1:] == ["-m", "drarl_tf.scripts.evaluate"]


def test_drarl_impala_trains_catch_to_the_end_from_an_empty_directory(venv):
    env_dir, workdir, _ = venv
    out = subprocess.run(
        [str(env_dir / "bin" / "drarl-impala"), "--game=Catch", "--net=impala",
         "--total_frames=3000", "--num_actors=1", "--envs_per_actor=8", "--batch_size=8",
         "--image_every_frames=0", "--log_interval_seconds=1"],
        cwd=workdir, env=_env(), capture_output=True, text=True, timeout=420)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert out.stdout.splitlines()[-1].startswith("done: "), out.stdout[-1000:]
    run = workdir / "runs" / "impala-impala-Catch-s0"
    assert (run / "saved_model" / "saved_model.pb").is_file()
    assert "Traceback" not in out.stderr


def test_a_missing_script_is_one_line_naming_it():
    from drarl_tf.cli.flags import script_command
    from drarl_tf.errors import DrarlError

    assert script_command("run_ppo.py")[1:] == ["-m", "drarl_tf.scripts.run_ppo"]
    with pytest.raises(DrarlError, match="run_nothing") as raised:
        script_command("run_nothing.py")
    assert "\n" not in str(raised.value)


def test_a_grid_with_a_missing_script_fails_before_any_cell_runs(tmp_path):
    from drarl_tf.errors import DrarlError
    from drarl_tf.experiments import grid

    cell = grid.Cell("nothing", "impala", "Catch", 0, 10)
    with pytest.raises(DrarlError, match="run_nothing"):
        grid.run_grid([cell], str(tmp_path / "runs"), str(tmp_path / "saved"), eval_episodes=1,
                      parallel=2, log=lambda line: None)
    assert not (tmp_path / "runs").exists()
