"""IMPALA end to end: real actor processes and learner; resume; bad flags; learning.
(Faults: tests/test_reliability.py.)"""

import functools
import json
import multiprocessing as mp
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

from drarl_tf.envs import make_catch_env
from drarl_tf.errors import DrarlError
from drarl_tf.impala import ImpalaConfig, train
from drarl_tf.impala.learner import Learner
from tests.conftest import start_impala_run

FAST = dict(unroll_length=5, batch_size=4, envs_per_actor=2, num_actors=2,
            log_interval_seconds=1000.0)


def _no_orphans():
    # Actors are joined before train() returns.
    deadline = time.time() + 5
    while mp.active_children() and time.time() < deadline:
        time.sleep(0.1)
    return not mp.active_children()


@pytest.mark.parametrize("game, frames_per_step", [("Catch", 1), ("Pong", 4)])
def test_actors_queue_and_learner_run_a_few_updates(tmp_path, game, frames_per_step):
    per_update = 4 * 5 * frames_per_step
    config = ImpalaConfig(net="drarl", game=game, total_frames=3 * per_update,
                          logdir=str(tmp_path), **FAST)
    result = train(config)
    assert result.updates == 3 and result.frames == 3 * per_update
    assert _no_orphans()
    run = tmp_path / f"impala-drarl-{game}-s0"
    assert json.loads((run / "config.json").read_text())["game"] == game
    assert list((run / "checkpoints").glob("ckpt-*.index"))
    assert list((run / "tb").glob("events.out.tfevents.*"))


def test_custom_gymnasium_env_through_env_fn(tmp_path):
    env_fn = functools.partial(make_catch_env, rows=6, columns=4, scale=3, stack=2)
    config = ImpalaConfig(net="impala", game="Catch", total_frames=40, logdir=str(tmp_path), **FAST)
    result = train(config, env_fn=env_fn)
    assert result.updates == 2


def _checkpoint_optimizer_state(run_dir):
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints"))
    # The optimizer's own state: its step counter and RMSProp slots (not the model
    # weights it also references).
    names = sorted(n for n in reader.get_variable_to_shape_map()
                   if n.startswith(("optimizer/_variables/", "optimizer/_iterations/")))
    return {n: reader.get_tensor(n) for n in names}, reader


def test_resume_continues_frames_and_optimizer_state(tmp_path, capsys):
    base = dict(net="impala", game="Catch", logdir=str(tmp_path), **FAST)
    first = train(ImpalaConfig(total_frames=100, **base))  # 5 updates of 20 frames
    assert (first.frames, first.updates) == (100, 5)
    run_dir = tmp_path / "impala-impala-Catch-s0"
    saved, reader = _checkpoint_optimizer_state(run_dir)
    frames_key = next(k for k in reader.get_variable_to_shape_map() if k.startswith("frames/"))
    assert reader.get_tensor(frames_key) == 100

    # A fresh learner restored from the checkpoint holds exactly that optimizer state.
    config = ImpalaConfig(total_frames=200, **base)
    learner = Learner(config, (20, 10, 4), 3, frames_per_update=20)
    ckpt = tf.train.Checkpoint(model=learner.model, optimizer=learner.optimizer)
    ckpt.restore(tf.train.latest_checkpoint(str(run_dir / "checkpoints"))).expect_partial()
    assert learner.updates == 5
    # Every optimizer slot (iterations, RMSProp velocities) equals a saved tensor.
    assert len(saved) == len(learner.optimizer.variables) >= 2
    saved_values = list(saved.values())
    for variable in learner.optimizer.variables:
        value = variable.numpy()
        assert any(v.shape == value.shape and np.array_equal(v, value) for v in saved_values)
    velocity = [v for v in learner.optimizer.variables if "velocity" in v.path]
    assert velocity and all(np.abs(v.numpy()).sum() > 0 for v in velocity)

    capsys.readouterr()
    second = train(config)  # the same command with a larger budget resumes
    assert "resumed from" in capsys.readouterr().out
    assert second.resumed_from is not None
    assert (second.frames, second.updates) == (200, 10)  # frames and LR step continue


def test_a_finished_run_is_not_retrained(tmp_path):
    config = ImpalaConfig(net="impala", game="Catch", total_frames=40, logdir=str(tmp_path), **FAST)
    train(config)
    again = train(config)
    assert again.frames == 40 and again.updates == 2


def test_resuming_with_another_config_is_refused(tmp_path):
    base = dict(game="Catch", total_frames=40, logdir=str(tmp_path), **FAST)
    train(ImpalaConfig(net="impala", **base))
    os.rename(tmp_path / "impala-impala-Catch-s0", tmp_path / "impala-drarl-Catch-s0")
    with pytest.raises(DrarlError, match="different config.*net"):
        train(ImpalaConfig(net="drarl", **base))


@pytest.mark.parametrize("net", ["drarl", "impala"])
def test_impala_learns_catch(tmp_path, net):
    # Random play returns -0.6 (P(catch) = 1/5); perfect play returns +1.
    config = ImpalaConfig(net=net, game="Catch", total_frames=100_000, seed=1,
                          logdir=str(tmp_path), log_interval_seconds=1000.0)
    result = train(config)
    assert result.mean_return >= 0.7, result


def test_sigterm_writes_checkpoint_and_savedmodel_and_the_rerun_resumes(tmp_path):
    import json as json_lib

    saved = tmp_path / "saved"
    proc = start_impala_run(tmp_path, 100_000_000, stderr=subprocess.DEVNULL, export_dir=saved)
    cmd = proc.args_list
    try:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert "stopped early" in out
    run = tmp_path / "impala-impala-Catch-s0"
    assert list((run / "checkpoints").glob("ckpt-*.index"))
    stopped_at = json_lib.loads((saved / "impala-impala-Catch-s0" / "assets" /
                                 "drarl_metadata.json").read_text())["frames"]
    assert stopped_at > 0
    rerun = subprocess.run(cmd[:4] + [f"--total_frames={stopped_at + 640}"] + cmd[5:],
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"at {stopped_at:,} frames" in rerun.stdout
    assert f"done: {stopped_at + 640:,} frames" in rerun.stdout


def test_a_truncated_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
    base = dict(net="impala", game="Catch", logdir=str(tmp_path), image_every_updates=0,
                export_dir=str(tmp_path / "saved"), **FAST)
    train(ImpalaConfig(total_frames=40, **base))
    train(ImpalaConfig(total_frames=80, **base))
    checkpoints = tmp_path / "impala-impala-Catch-s0" / "checkpoints"
    latest = next(checkpoints.glob("ckpt-80.data-*"))
    latest.write_bytes(latest.read_bytes()[:100])  # a crash in the middle of the write
    capsys.readouterr()
    result = train(ImpalaConfig(total_frames=120, **base))
    captured = capsys.readouterr()
    assert "ckpt-80 is unreadable" in captured.err
    assert "at 40 frames" in captured.out  # resumed from the previous checkpoint
    assert result.frames == 120 and result.updates == 6
