"""What a run never keeps and never forgets: non-finite weights, a lost checkpoint index,
a missing config, a moved run directory, the learning rate on a longer resumed run."""

import json
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from drarl_tf import a2c
from drarl_tf.errors import DrarlError
from drarl_tf.training.optim import LinearDecay, apply_if_finite

TINY = dict(net="impala", game="Catch", num_envs=2, unroll_length=5, image_every_frames=0,
            milestone_fractions=(), log_interval_seconds=1e9)


def _step(optimizer, model, grads):
    return float(tf.function(lambda: apply_if_finite(
        optimizer, grads, model.trainable_variables))())


def test_finite_gradients_that_make_non_finite_weights_change_nothing():
    """An infinite learning rate with finite gradients: the step is undone (weights,
    optimizer slots and step counter as before) and reported as an error."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    optimizer = keras.optimizers.RMSprop(learning_rate=float("inf"))
    optimizer.build(model.trainable_variables)
    before = [v.numpy().copy() for v in model.trainable_variables + optimizer.variables]
    grads = [tf.ones_like(v) for v in model.trainable_variables]
    assert _step(optimizer, model, grads) == 1.0
    after = [v.numpy() for v in model.trainable_variables + optimizer.variables]
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    optimizer.learning_rate = 0.1  # the same step with a sane rate goes through
    assert _step(optimizer, model, grads) == 0.0
    assert int(optimizer.iterations.numpy()) == 1
    assert not np.array_equal(model.trainable_variables[0].numpy(), before[0])


def test_checkpoints_and_exports_refuse_non_finite_weights(tmp_path):
    from drarl_tf.bookkeeping.checkpoints import Checkpointer
    from drarl_tf.bookkeeping.export import export_saved_model
    from drarl_tf.networks import build_network

    model = build_network("impala", 3, (20, 10, 4))
    checkpointer = Checkpointer(tmp_path / "ckpt", model=model)
    checkpointer.save(1)
    model.trainable_variables[0].assign(tf.fill(model.trainable_variables[0].shape, np.nan))
    with pytest.raises(DrarlError, match=r"refusing to write checkpoint ckpt-2: 1 weights are "
                                         r"not finite .*ckpt-1\) is kept"):
        checkpointer.save(2)
    with pytest.raises(DrarlError, match="refusing to export .* not finite"):
        export_saved_model(model, tmp_path / "m", (20, 10, 4), dict(game="Catch"))
    assert not (tmp_path / "m").exists()


def test_evaluation_refuses_a_model_with_nan_outputs():
    from drarl_tf.envs import make_vector_env
    from drarl_tf.training.evaluation import evaluate

    def broken(obs):
        return {"policy_logits": np.full((obs.shape[0], 3), np.nan, np.float32)}

    with pytest.raises(DrarlError, match="policy logits are not finite"):
        evaluate(broken, make_vector_env("Catch", 2, training=False), episodes=4)


def test_linear_decay_goes_on_from_the_current_rate_to_the_new_end():
    schedule = LinearDecay(1.0, total_steps=100)
    assert float(schedule(30)) == pytest.approx(0.7)
    longer = LinearDecay(1.0, total_steps=200)
    for a, b in zip(longer.state.variables, schedule.state.variables, strict=True):
        a.assign(b)  # as a checkpoint restore would
    assert longer.rebase(30) == pytest.approx(0.7)
    assert float(longer(30)) == pytest.approx(0.7)  # no jump
    assert float(longer(115)) == pytest.approx(0.35)  # halfway from step 30 to 200
    assert float(longer(200)) == pytest.approx(0.0)
    assert longer.rebase(40) is None  # already on the new end


def test_a_longer_resumed_run_continues_the_learning_rate_without_a_jump(tmp_path):
    """A finished 40-frame run (4 updates, the rate decayed to 0) resumed with 80 frames:
    the rate stays at 0 (before: it jumped back to half the initial rate) and the new
    anchor is in the checkpoint."""
    from drarl_tf.bookkeeping.session import TrainingSession
    from drarl_tf.envs import describe

    a2c.train(a2c.A2CConfig(**TINY, total_frames=40, logdir=str(tmp_path)))
    config = a2c.A2CConfig(**TINY, total_frames=80, logdir=str(tmp_path))
    learner = a2c.A2CLearner(config, (20, 10, 4), 3, 10)
    session = TrainingSession("a2c", config, describe("Catch"), learner.model, learner.optimizer)
    schedule = learner.optimizer._learning_rate
    assert session.updates == 4
    assert [float(schedule(4 + k)) for k in (0, 2, 4)] == [0.0, 0.0, 0.0]
    assert float(LinearDecay(7e-4, 8)(4)) == pytest.approx(3.5e-4)  # the old schedule
    assert int(schedule.state.end_step.numpy()) == 8
    assert int(schedule.state.anchor_step.numpy()) == 4


def test_a_lost_checkpoint_index_still_resumes_and_a_lost_config_is_refused(tmp_path):
    config = a2c.A2CConfig(**TINY, total_frames=20, logdir=str(tmp_path))
    run = tmp_path / "a2c-impala-Catch-s0"
    a2c.train(config)
    (run / "checkpoints" / "checkpoint").unlink()  # the index
    resumed = a2c.train(a2c.A2CConfig(**{**TINY, "total_frames": 40, "logdir": str(tmp_path)}))
    assert resumed.resumed_from.endswith("ckpt-20") and resumed.frames == 40
    (run / "config.json").write_text("{not json")
    with pytest.raises(DrarlError, match="holds checkpoints but no readable config.json"):
        a2c.train(a2c.A2CConfig(**{**TINY, "total_frames": 60, "logdir": str(tmp_path)}))
    (run / "config.json").unlink()
    with pytest.raises(DrarlError, match="holds checkpoints but no readable config.json"):
        a2c.train(a2c.A2CConfig(**{**TINY, "total_frames": 60, "logdir": str(tmp_path)}))


def test_a_moved_or_relative_logdir_resumes(tmp_path, monkeypatch):
    a2c.train(a2c.A2CConfig(**TINY, total_frames=20, logdir=str(tmp_path / "a")))
    shutil.move(tmp_path / "a", tmp_path / "b")
    monkeypatch.chdir(tmp_path)
    resumed = a2c.train(a2c.A2CConfig(**{**TINY, "total_frames": 40, "logdir": "b"}))
    assert resumed.resumed_from is not None and resumed.frames == 40
    saved = json.loads((tmp_path / "b" / "a2c-impala-Catch-s0" / "config.json").read_text())
    assert saved["logdir"] == "b"


def test_a_frozen_actor_never_blocks_the_learner_and_is_restarted():
    """SIGSTOP of an actor: the other one keeps serving, and after
    --actor_timeout_seconds the stopped one is named, killed and restarted."""
    from tests.test_reliability import (
        _freeze_actor_0_until_restarted,
        _learner_and_pool,
        _no_orphans,
    )

    pool, warnings = _learner_and_pool(actor_timeout_seconds=8.0)
    pool.start()
    try:
        _freeze_actor_0_until_restarted(pool, warnings)
    finally:
        pool.close()
    assert _no_orphans()


@pytest.mark.slow
def test_sigterm_with_every_actor_frozen_checkpoints_within_seconds(tmp_path):
    """The learner waits on frozen actors; SIGTERM still writes the checkpoint at once
    and the run exits 0 (before: blocked in a pipe read until a second signal)."""
    import contextlib
    import os
    import signal
    import time

    from tests.conftest import start_impala_run
    from tests.test_reliability import _spawned_children

    proc = start_impala_run(tmp_path, 100_000_000)
    try:
        actors = _spawned_children(proc.pid)
        for pid in actors:
            os.kill(pid, signal.SIGSTOP)
        time.sleep(2)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        checkpoints = tmp_path / "impala-impala-Catch-s0" / "checkpoints"
        while not list(checkpoints.glob("ckpt-*.index")):
            assert time.monotonic() - start < 10, "no checkpoint 10 s after SIGTERM"
            time.sleep(0.1)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        for pid in actors:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err and "stopped early; rerun the same command" in out


@pytest.fixture
def small_mount(tmp_path):
    """An 8 MB tmpfs at `tmp_path / "mnt"` (root and mount(8) needed; skipped otherwise);
    `remount_read_only()` makes it read-only."""
    import os
    import subprocess

    target = tmp_path / "mnt"
    target.mkdir()
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(target)],
            capture_output=True).returncode != 0:
        pytest.skip("needs root and mount to make a small or read-only filesystem")

    class Mount:
        path = target

        @staticmethod
        def remount_read_only():
            subprocess.run(["mount", "-o", "remount,ro", str(target)], check=True)

    try:
        yield Mount
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_a_really_full_disk_says_so_and_leaves_no_temp_directory(small_mount):
    from drarl_tf.bookkeeping.checkpoints import Checkpointer

    directory = small_mount.path / "ckpt"
    first = Checkpointer(directory, big=tf.Variable(tf.zeros([1000]))).save(1)
    with pytest.raises(DrarlError, match=r"could not write checkpoint ckpt-2 .*\(No space left "
                                         r"on device\); the previous one .*ckpt-1\) is kept"):
        Checkpointer(directory, big=tf.Variable(tf.zeros([3_000_000]))).save(2)
    assert sorted(p.name for p in directory.iterdir()) == [
        "checkpoint", "ckpt-1.data-00000-of-00001", "ckpt-1.index"]
    assert tf.train.latest_checkpoint(str(directory)) == first


@pytest.mark.slow
def test_read_only_filesystem_resume_export_and_evaluate_are_one_line(small_mount):
    import subprocess
    import sys

    from tests.conftest import REPO, SCRIPTS

    def a2c_run(frames):
        return subprocess.run(
            [sys.executable, str(SCRIPTS / "run_a2c.py"), "--game=Catch", "--net=impala",
             "--num_envs=2", f"--total_frames={frames}", "--milestone_fractions=",
             "--image_every_frames=0", f"--logdir={small_mount.path / 'runs'}"],
            capture_output=True, text=True, timeout=300)

    first = a2c_run(10)
    assert first.returncode == 0, first.stderr[-2000:]
    small_mount.remount_read_only()
    resumed = a2c_run(20)
    evaluated = subprocess.run(
        [sys.executable, str(SCRIPTS / "evaluate.py"),
         f"--saved_model={REPO / 'saved_models' / 'demo-impala-drarl-Catch'}",
         f"--output={small_mount.path / 'eval.json'}"], capture_output=True, text=True,
        timeout=300)
    # The writer's lock is the first thing a resumed run writes (bookkeeping/lock.py).
    for out, message in ((resumed, "cannot lock run directory"),
                         (evaluated, "cannot write --output")):
        assert out.returncode == 2, out.stderr[-2000:]
        errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and message in errors[0] and "Traceback" not in out.stderr
    assert "Read-only file system" in evaluated.stderr and "Read-only file system" in resumed.stderr


def test_an_actor_that_cannot_be_started_is_one_line_and_the_others_are_stopped(monkeypatch):
    """The OS refuses a process (BlockingIOError, as with too many --num_actors)."""
    import errno
    from multiprocessing.context import SpawnProcess

    from tests.test_reliability import _learner_and_pool, _no_orphans

    pool, _ = _learner_and_pool(num_actors=2)
    real_start = SpawnProcess.start

    def start(process):
        if process.name == "drarl-actor-1":
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        real_start(process)

    monkeypatch.setattr(SpawnProcess, "start", start)
    with pytest.raises(DrarlError, match=r"could not start actor 1 \(Resource temporarily "
                                         r"unavailable\); lower --num_actors"):
        pool.start()
    pool.close()
    assert _no_orphans()


@pytest.mark.slow
def test_with_every_actor_frozen_a_line_names_them_and_a_stop_ends_the_wait():
    import os
    import signal

    from drarl_tf.impala.channel import StopWaiting
    from tests.test_reliability import _learner_and_pool, _no_orphans, _take

    pool, warnings = _learner_and_pool(actor_timeout_seconds=600.0)
    pool.STUCK_WARNING_SECONDS = 3.0  # 60 s in a run
    pool.start()
    try:
        seen = set()
        while seen != {0, 1}:  # both past their start-up
            seen.add(_take(pool).actor_id)
        warnings.clear()  # a slow start-up may have been reported already
        for process in pool.processes:
            os.kill(process.pid, signal.SIGSTOP)
        while True:  # drain what they had sent before they froze
            try:
                _take(pool, should_stop=lambda: bool(warnings))
            except StopWaiting:
                break
        assert len(warnings) == 1
        assert "no unroll from any actor for" in warnings[0]
        for i, process in enumerate(pool.processes):
            assert f"actor {i} (pid {process.pid}): stopped" in warnings[0]
    finally:
        pool.close()
    assert _no_orphans()
