"""Results stay with their model: evaluate.py, play.py, visualize.py and faithfulness.py
write into the model's own run directory (or, for a model outside any run, a name in
the current directory derived from the model's), never into another run, and never over
another model's result; a wrong --saved_model is one line before TensorFlow loads."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from drarl_tf.bookkeeping import results
from drarl_tf.errors import DrarlError
from tests.conftest import REPO, SCRIPTS
from tests.test_cli import _run

DEMO = REPO / "saved_models" / "demo-impala-drarl-Catch"
RUN = "impala-drarl-Catch-s0"  # the quick start's run name, also the demo model's


def _script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPTS / name), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def _a_run_with_a_model(root: Path, weights_from: Path = DEMO) -> Path:
    """runs/<RUN>/ with config.json and a SavedModel (the demo's, with other weights if
    `weights_from` is changed), as a training run leaves it."""
    run = root / "runs" / RUN
    shutil.copytree(weights_from, run / "saved_model")
    (run / "config.json").write_text(json.dumps({"game": "Catch", "net": "drarl"}))
    return run


def _other_weights(root: Path) -> Path:
    """A copy of the demo model whose variables differ (another model of the same run name)."""
    other = root / "other-model"
    shutil.copytree(DEMO, other)
    data = next((other / "variables").glob("variables.data-*"))
    data.write_bytes(data.read_bytes()[:-8] + b"\x01" * 8)
    return other


def test_evaluate_from_another_directory_writes_into_the_models_run(tmp_path):
    run = _a_run_with_a_model(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = _script("evaluate.py", f"--saved_model={run / 'saved_model'}", "--episodes=8",
                  cwd=elsewhere)
    assert out.returncode == 0, out.stderr[-2000:]
    assert not any(elsewhere.iterdir())  # no stray runs/<run>/eval.json here
    record = json.loads((run / "eval.json").read_text())
    assert record["saved_model"] == str((run / "saved_model").resolve())
    assert record["model_fingerprint"] == results.model_record(run / "saved_model")["fingerprint"]
    assert str(run / "eval.json") in out.stdout


def test_the_demo_model_never_replaces_the_quick_start_runs_eval_json(tmp_path):
    run = _a_run_with_a_model(tmp_path, _other_weights(tmp_path))
    quick_start = {"mean": 0.96, "models": [results.model_record(run / "saved_model")]}
    (run / "eval.json").write_text(json.dumps(quick_start))
    out = _script("evaluate.py", f"--saved_model={DEMO}", "--episodes=8", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads((run / "eval.json").read_text()) == quick_start
    written = json.loads((tmp_path / "eval-demo-impala-drarl-Catch.json").read_text())
    assert written["saved_model"] == str(DEMO.resolve())
    # Asked to write over the run's result, it refuses in one line and keeps the file.
    refused = _script("evaluate.py", f"--saved_model={DEMO}", "--episodes=8",
                      f"--output={run / 'eval.json'}", cwd=tmp_path)
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert refused.returncode == 2 and len(errors) == 1, refused.stderr[-2000:]
    assert "holds the result of another model" in errors[0] and "Traceback" not in refused.stderr
    assert json.loads((run / "eval.json").read_text()) == quick_start


def test_a_model_re_exported_in_place_may_replace_its_own_result(tmp_path):
    run = _a_run_with_a_model(tmp_path)
    before = {"models": [{"path": str((run / "saved_model").resolve()),
                          "fingerprint": "sha256:older-weights"}]}
    results.check_not_another_models(run / "eval.json", before["models"],
                                     [results.model_record(run / "saved_model")])
    copy = tmp_path / "copy"
    shutil.copytree(run / "saved_model", copy)
    results.check_not_another_models(run / "eval.json", [results.model_record(copy)],
                                     [results.model_record(run / "saved_model")])
    with pytest.raises(DrarlError, match="another model"):
        results.check_not_another_models(run / "eval.json", before["models"],
                                         [results.model_record(copy)])


def test_the_owning_run_of_a_model(tmp_path):
    run = _a_run_with_a_model(tmp_path)
    assert results.owning_run(run / "saved_model") == run.resolve()
    # An export elsewhere with the same weights as the run's saved_model/, whose metadata
    # records the run: that run. Other weights, or a run directory that is gone: none.
    export = tmp_path / "exports" / RUN
    shutil.copytree(run / "saved_model", export)
    assert results.owning_run(export, {"run_dir": str(run.resolve())}) == run.resolve()
    other = _other_weights(tmp_path)
    assert results.owning_run(other, {"run_dir": str(run.resolve())}) is None
    assert results.owning_run(export, {"run_dir": str(tmp_path / "gone")}) is None
    assert results.owning_run(DEMO) is None  # its metadata names a run on another machine
    assert results.default_output(DEMO, "eval.json")[0] == Path("eval-demo-impala-drarl-Catch.json")
    assert results.default_output(run / "saved_model", "viz")[0] == run.resolve() / "viz"
    # An older checkpoint's export inside the run is not the run's own model: its result
    # is named for it, so the run's eval.json (the score tables.py reads) stays the run's.
    older = run / "saved_model-4000"
    shutil.copytree(_other_weights(tmp_path / "o"), older)
    assert results.default_output(older, "eval.json")[0] == (
        run.resolve() / "eval-saved_model-4000.json")


def test_play_records_its_model_in_the_gif_and_keeps_another_models_gif(tmp_path):
    from PIL import Image

    out = _script("play.py", f"--saved_model={DEMO}", "--max_steps=5", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    gif = tmp_path / "episode-demo-impala-drarl-Catch.gif"
    with Image.open(gif) as image:
        recorded = results.recorded_models(json.loads(image.info["comment"]))
    assert recorded == [results.model_record(DEMO)]
    other = _other_weights(tmp_path)
    before = gif.read_bytes()
    code, _, stderr, tf_loaded = _run("play.py", f"--saved_model={other}", f"--output={gif}")
    assert code == 2 and not tf_loaded and "holds the result of another model" in stderr
    assert gif.read_bytes() == before


@pytest.mark.parametrize("script, output_flag", [("visualize.py", "--output_dir"),
                                                 ("faithfulness.py", "--output_dir")])
def test_a_directory_of_another_models_figures_is_refused_before_tensorflow(
        tmp_path, script, output_flag):
    figures = tmp_path / "figures"
    results.claim_result_dir(figures, [results.model_record(_other_weights(tmp_path))])
    code, _, stderr, tf_loaded = _run(script, f"--saved_model={DEMO}",
                                      f"{output_flag}={figures}")
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert code == 2 and not tf_loaded and len(errors) == 1, stderr[-2000:]
    assert "holds the result of another model" in errors[0]


@pytest.mark.parametrize("script", ["evaluate.py", "play.py", "visualize.py", "faithfulness.py"])
def test_a_run_directory_given_as_saved_model_names_its_model_before_tensorflow(tmp_path,
                                                                                 script):
    run = _a_run_with_a_model(tmp_path)
    code, _, stderr, tf_loaded = _run(script, f"--saved_model={run}")
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert code == 2 and not tf_loaded, stderr[-2000:]
    assert len(errors) == 1 and f"its SavedModel is {run / 'saved_model'}" in errors[0]
    code, _, stderr, tf_loaded = _run(script, "--saved_model=/nonexistent/model")
    assert code == 2 and not tf_loaded and "no SavedModel at /nonexistent/model" in stderr
