"""IMPALA end to end: real actor processes and learner; resume; bad flags; learning.
(Faults: tests/test_reliability.py.)"""

import functools
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from drarl_tf.envs import make_catch_env
from drarl_tf.errors import DrarlError
from drarl_tf.impala import ImpalaConfig, train
from drarl_tf.impala.learner import Learner
from tests.conftest import SCRIPTS, start_impala_run, start_local_workers

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


@pytest.mark.parametrize("net, inference", [
    # drarl with actor inference: slow-marked, the learner-inference run and the chaos
    # drill (tests/test_chaos.py, which trains to a target return) cover it by default.
    pytest.param("drarl", "actor", marks=pytest.mark.slow),
    pytest.param("impala", "actor", marks=pytest.mark.slow),
    ("drarl", "learner")])
def test_impala_learns_catch(tmp_path, net, inference):
    # Random play returns -0.6 (P(catch) = 1/5); perfect play returns +1.
    config = ImpalaConfig(net=net, game="Catch", total_frames=100_000, seed=1,
                          logdir=str(tmp_path), log_interval_seconds=1000.0,
                          inference=inference)
    result = train(config)
    assert result.mean_return >= 0.7, result


# Slow-marked: the chaos drill (tests/test_chaos.py) sends a SIGTERM and checks the resume.
@pytest.mark.parametrize("inference", [pytest.param("actor", marks=pytest.mark.slow),
                                       pytest.param("learner", marks=pytest.mark.slow)])
def test_sigterm_writes_checkpoint_and_savedmodel_and_the_rerun_resumes(tmp_path, inference):
    import json as json_lib

    saved = tmp_path / "saved"
    proc = start_impala_run(tmp_path, 100_000_000, stderr=subprocess.DEVNULL, export_dir=saved,
                            extra=[f"--inference={inference}"])
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
    base = dict(net="impala", game="Catch", logdir=str(tmp_path), image_every_frames=0,
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


@pytest.mark.parametrize("tf_config, message", [
    (None, "needs TF_CONFIG"),
    ("{not json", "not a worker cluster spec"),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:1"]}, "task": {"type": "worker", "index": 0}}',
     "workers only"),
    ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}',
     "task index 2 is not one of the 2 workers"),
])
def test_bad_tf_config_is_one_line(tf_config, message):
    from drarl_tf.cluster import worker_info

    environ = {} if tf_config is None else {"TF_CONFIG": tf_config}
    with pytest.raises(DrarlError, match=message) as e:
        worker_info("multi_worker", environ)
    assert "\n" not in str(e.value)
    assert worker_info("default", environ).num_workers == 1  # only multi_worker reads it


def _start_workers(tmp_path, total_frames, *flags):
    return start_local_workers(
        [sys.executable, str(SCRIPTS / "run_impala.py"), "--game=Catch", "--net=impala",
         "--strategy=multi_worker", "--num_actors=1", "--envs_per_actor=2", "--batch_size=4",
         f"--total_frames={total_frames}", "--image_every_frames=0",
         f"--logdir={tmp_path / 'runs'}", f"--export_dir={tmp_path / 'saved'}", *flags])


@pytest.mark.slow
def test_two_workers_train_one_run_and_stop_together(tmp_path):
    """`run_impala.py --strategy=multi_worker` as two local workers: both run the same
    updates with the same weights; the chief writes the run directory and SavedModel."""
    procs = _start_workers(tmp_path, 2000)
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0 and "Traceback" not in err, out[-2000:] + err[-3000:]
        outs.append(out)
    assert "worker 1 of 2, 2 of the 4 unrolls per update" in outs[1]
    finals = [next(x for x in o.splitlines() if x.startswith("done:")) for o in outs]
    frames = [int(f.split(" frames")[0].split()[-1].replace(",", "")) for f in finals]
    assert frames[0] == frames[1] >= 2000  # the same number of updates on both
    chief = tmp_path / "runs" / "impala-impala-Catch-s0"
    other = tmp_path / "runs" / "worker1" / "impala-impala-Catch-s0"
    assert (tmp_path / "saved" / "impala-impala-Catch-s0").is_dir()
    assert not (tmp_path / "saved" / "worker1").exists()
    readers = [tf.train.load_checkpoint(str(d / "checkpoints")) for d in (chief, other)]
    # Weights, optimizer slots and step, frames: one learner, the same state on both
    # workers (episodes and returns are each worker's own games).
    names = [n for n in readers[0].get_variable_to_shape_map()
             if n.startswith(("optimizer/", "frames/"))]
    assert len(names) > 2 * 30
    for name in names:
        np.testing.assert_allclose(readers[0].get_tensor(name), readers[1].get_tensor(name),
                                   rtol=1e-5, atol=1e-7)


@pytest.mark.slow  # 28 s; the multi-worker update itself stays in the default run
def test_a_lost_worker_stops_the_chief_with_one_line_and_a_checkpoint(tmp_path):
    chief, other = _start_workers(tmp_path, 10_000_000, "--collective_timeout_seconds=20",
                                  "--log_interval_seconds=0.5")
    for line in chief.stdout:  # training has begun on both (the updates are collective)
        if "frames " in line and "frames 0/" not in line:
            break
    other.kill()
    other.wait()
    start = time.monotonic()
    out, err = chief.communicate(timeout=300)
    assert chief.returncode == 2, out[-2000:] + err[-3000:]
    errors = [x for x in err.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "worker 0: lost the other workers" in errors[0], err[-3000:]
    assert "Traceback" not in err, err[err.index("Traceback") - 300:][:3000]
    assert time.monotonic() - start < 200
    checkpoints = tmp_path / "runs" / "impala-impala-Catch-s0" / "checkpoints"
    assert tf.train.latest_checkpoint(str(checkpoints)), "no checkpoint kept"
