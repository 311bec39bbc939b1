"""Nonsense that used to be accepted in silence is refused in one line (issue: a budget
beyond the frame counter, checkpoints never, an actor timeout that kills healthy actors,
an empty logdir, an unknown key in a run's config.json, an empty --game for evaluation,
tables into a path that cannot be a directory) and TensorFlow's start-up lines stay off
tables.py's terminal."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from drarl_tf.bookkeeping.run_dir import open_run_dir
from drarl_tf.configs import A2CConfig, ImpalaConfig, PPOConfig
from drarl_tf.errors import DrarlError
from tests.conftest import SCRIPTS
from tests.test_cli import _run
from tests.test_results import DEMO


@pytest.mark.parametrize("cls", [ImpalaConfig, A2CConfig, PPOConfig])
@pytest.mark.parametrize("field, value, message", [
    ("total_frames", 99999999999999999999, "total_frames must be at most 9,223,372,036,854,775,807"),
    ("checkpoint_minutes", float("inf"), "checkpoint_minutes must be a finite number"),
    ("logdir", "", "logdir must not be empty"),
    ("logdir", "  ", "logdir must not be empty"),
])
def test_run_settings_that_make_no_sense_are_refused(cls, field, value, message):
    with pytest.raises(DrarlError, match=message):
        cls(game="Catch", **{field: value})


def test_an_actor_timeout_below_the_floor_is_refused_saying_why():
    with pytest.raises(DrarlError, match=r"actor_timeout_seconds must be >= 5, got 1e-09: a "
                                         "healthy actor on a busy machine"):
        ImpalaConfig(game="Catch", actor_timeout_seconds=1e-9)
    ImpalaConfig(game="Catch", actor_timeout_seconds=5)  # the floor itself is fine


def test_an_unknown_key_in_a_runs_config_json_is_refused_and_kept(tmp_path):
    config = ImpalaConfig(game="Catch", logdir=str(tmp_path))
    run = open_run_dir(str(tmp_path), "impala-drarl-Catch-s0", config)
    from drarl_tf.bookkeeping.lock import release

    release(run.root)
    saved = {**dataclasses.asdict(config), "unrol_length": 40}
    run.config_path.write_text(json.dumps(saved))
    with pytest.raises(DrarlError, match="does not know: unrol_length"):
        open_run_dir(str(tmp_path), "impala-drarl-Catch-s0", config)
    assert json.loads(run.config_path.read_text())["unrol_length"] == 40  # not dropped


def test_an_empty_game_for_evaluation_is_refused_before_tensorflow():
    code, _, stderr, tf_loaded = _run("evaluate.py", f"--saved_model={DEMO}", "--game=")
    assert code == 2 and not tf_loaded and "error: unknown game ''" in stderr


@pytest.mark.parametrize("make, reason", [
    (lambda p: p.write_text(""), "is a file"),
    (lambda p: None, None),
])
def test_tables_output_dir_errors_are_one_line_and_tensorflow_stays_quiet(tmp_path, make,
                                                                          reason):
    target = tmp_path / "out"
    make(target)
    # As a user runs it: without the test's TF_CPP_MIN_LOG_LEVEL (that would show the lines).
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, str(SCRIPTS / "tables.py"), "--experiment=ppo5",
                          f"--runs={tmp_path}", f"--output_dir={target}"], env=env,
                         capture_output=True, text=True, timeout=120)
    code, stderr = out.returncode, out.stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in stderr, stderr[-2000:]
    if reason:
        assert f"cannot write --output_dir {target}: {target} is a file" in errors[0]
    else:
        assert "no evaluated ppo runs" in errors[0]
    assert "absl::InitializeLog" not in stderr and "cuda" not in stderr.lower()


def test_tables_that_read_tensorboard_logs_keep_tensorflows_start_up_lines_off(tmp_path):
    import tensorflow as tf

    for net, seed, score in [("impala", 0, 1.0), ("impala", 1, 3.0), ("drarl", 0, 4.0)]:
        run = tmp_path / "runs" / f"ppo-{net}-Krull-s{seed}"
        (run / "tb").mkdir(parents=True)
        (run / "eval.json").write_text(json.dumps({"mean": score, "trained_frames": 10}))
        with tf.summary.create_file_writer(str(run / "tb")).as_default():
            for step in (5, 10):
                tf.summary.scalar("episode/return", score, step=step)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, str(SCRIPTS / "tables.py"), "--experiment=ppo5",
                          f"--runs={tmp_path / 'runs'}", f"--output_dir={tmp_path / 'out'}"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "out" / "ppo5-curves.png").exists()  # TensorFlow read the logs
    assert "absl::InitializeLog" not in out.stderr and "cuda" not in out.stderr.lower()
