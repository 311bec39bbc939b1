"""Faults: killed and crashing actors (process and Ray backends), non-finite updates,
the lock-free weight broadcast, full disks."""

import functools
import multiprocessing as mp
import os
import re
import signal
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

from drarl_tf import a2c, ppo
from drarl_tf.bookkeeping.checkpoints import Checkpointer
from drarl_tf.bookkeeping.numerics import batch_statistics
from drarl_tf.envs import make_catch_env
from drarl_tf.envs.base import VecEnv, VecStep
from drarl_tf.errors import DrarlError
from drarl_tf.impala import ImpalaConfig, train
from drarl_tf.impala.actor import ActorPool
from drarl_tf.impala.learner import Learner
from drarl_tf.impala.supervision import RestartBudget
from tests.conftest import start_impala_run

FAST = dict(unroll_length=5, batch_size=4, envs_per_actor=2, num_actors=2,
            log_interval_seconds=1000.0, image_every_frames=0)


class NaNRewardEnv(VecEnv):
    """Catch whose first env returns a NaN reward at step `nan_at` (counted from the
    first step of this process), as a broken environment would."""

    def __init__(self, num_envs: int, nan_at: int):
        self.inner = make_catch_env(num_envs)
        self.num_envs, self.obs_shape = self.inner.num_envs, self.inner.obs_shape
        self.num_actions, self.action_meanings = self.inner.num_actions, self.inner.action_meanings
        self.name, self.nan_at, self.steps = "Catch", nan_at, 0

    def reset(self, seed=None):
        return self.inner.reset(seed)

    def step(self, actions):
        step = self.inner.step(actions)
        self.steps += 1
        if self.steps == self.nan_at:
            reward = step.reward.copy()
            reward[0] = np.nan
            step = VecStep(step.obs, reward, step.terminated, step.truncated, step.reset_step,
                           step.episode_returns, step.episode_lengths)
        return step

    def close(self):
        self.inner.close()


def dies_in_actors(num_envs):
    """An env that works in the learner's process and kills every actor process at start."""
    if mp.parent_process() is not None:
        os._exit(3)
    return make_catch_env(num_envs)


def _learner_and_pool(num_actors=2, **overrides):
    config = ImpalaConfig(net="impala", game="Catch", **{**FAST, "num_actors": num_actors,
                                                          **overrides})
    learner = Learner(config, (20, 10, 4), 3, frames_per_update=20)
    warnings = []
    pool = ActorPool(config, None, [w.shape for w in learner.weights()], seed=0,
                     warn=warnings.append)
    pool.publish(learner.weights(), version=1)
    return pool, warnings


def _take(pool, **kwargs):
    """The pool's next message, its slot given straight back (as the driver does once
    it has copied a batch)."""
    message = pool.get(**kwargs)
    pool.release([message])
    return message


def _freeze_actor_0_until_restarted(pool, warnings) -> None:
    """SIGSTOP of actor 0 once it has delivered: the others keep delivering (get() never
    blocks), it is named and restarted after --actor_timeout_seconds, and the new actor 0
    delivers."""
    while _take(pool).actor_id != 0:  # actor 0 is past its start-up
        pass
    frozen = pool.processes[0].pid
    os.kill(frozen, signal.SIGSTOP)
    deadline = time.time() + 120
    while pool.restarts == 0:  # the other actors serve meanwhile
        _take(pool)
        assert time.time() < deadline
    assert any(f"actor 0 (pid {frozen}, stopped) delivered no unroll" in w for w in warnings)
    while _take(pool).actor_id != 0:  # the new actor 0 delivers
        assert time.time() < deadline
    assert pool.processes[0].pid != frozen


def _no_orphans():
    deadline = time.time() + 5
    while mp.active_children() and time.time() < deadline:
        time.sleep(0.1)
    return not mp.active_children()


def test_a_killed_actor_is_restarted_while_the_others_keep_serving():
    pool, warnings = _learner_and_pool()
    pool.start()
    try:
        assert _take(pool).unroll.obs.shape == (6, 2, 20, 10, 4)
        victim = pool.processes[0].pid
        os.kill(victim, signal.SIGKILL)
        seen = set()
        deadline = time.time() + 120
        while {0, 1} - seen or pool.restarts == 0:  # both actors deliver after the kill
            seen.add(_take(pool).actor_id)
            assert time.time() < deadline
        assert pool.restarts == 1 and pool.starts == [2, 1]
        assert pool.processes[0].pid != victim and pool.processes[0].is_alive()
        assert len(warnings) == 1 and "actor 0 died (killed by SIGKILL); restarting" in warnings[0]
    finally:
        pool.close()
    assert _no_orphans()


def test_restart_budget_counts_deaths_in_a_row_per_actor():
    warnings = []
    budget = RestartBudget(num_actors=2, bound=2, warn=warnings.append)
    budget.died(0, "exit code 1")
    budget.died(1, "exit code 1")
    budget.delivered(0)  # a delivered unroll resets actor 0's count
    budget.died(0, "exit code 1")
    budget.died(1, "exit code 1")
    with pytest.raises(DrarlError, match=r"actor 1 died 3 times in a row .*exit code 9"):
        budget.died(1, "exit code 9")
    assert budget.total == 4 and len(warnings) == 4


def test_an_actor_that_keeps_dying_stops_the_run_with_one_line(tmp_path):
    config = ImpalaConfig(net="impala", game="Catch", total_frames=400, logdir=str(tmp_path),
                          max_actor_restarts=1, **FAST)
    start = time.time()
    with pytest.raises(DrarlError, match="died 2 times in a row without delivering an unroll"):
        train(config, env_fn=dies_in_actors)
    assert time.time() - start < 120
    assert _no_orphans()


@pytest.mark.slow  # the chaos drill (tests/test_chaos.py) kills an actor of a run by default
def test_kill_9_of_an_actor_during_a_run_the_run_finishes_and_logs_the_restart(tmp_path):
    total = 16_000
    proc = start_impala_run(tmp_path, total)
    try:
        actors = _spawned_children(proc.pid)
        assert len(actors) == 2, actors
        os.kill(actors[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "died (killed by SIGKILL); restarting it" in err
    assert f"done: {total:,} frames" in out


def test_actors_exit_by_themselves_when_the_learner_is_killed(tmp_path):
    proc = start_impala_run(tmp_path, 100_000_000, stderr=subprocess.DEVNULL)
    try:
        actors = _spawned_children(proc.pid)
        assert len(actors) == 2
        proc.kill()
        proc.wait(10)
        deadline = time.time() + 30
        while any(os.path.exists(f"/proc/{a}") and not _is_zombie(a) for a in actors):
            assert time.time() < deadline, "orphaned actors kept running"
            time.sleep(0.2)
    finally:
        proc.kill()


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _spawned_children(pid: int) -> list[int]:
    """Pids of `pid`'s multiprocessing spawn children (its actors), from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if parent == pid and b"spawn_main" in cmdline:
            found.append(int(entry))
    return sorted(found)


def test_an_injected_nan_stops_impala_with_the_last_good_checkpoint(tmp_path, capsys):
    env_fn = functools.partial(NaNRewardEnv, nan_at=43)  # in each actor's 9th unroll
    config = ImpalaConfig(net="impala", game="Catch", total_frames=4000, logdir=str(tmp_path),
                          **FAST)
    with pytest.raises(DrarlError, match="non-finite loss or gradients.*on_nonfinite=skip"):
        train(config, env_fn=env_fn)
    err = capsys.readouterr().err
    # The batch statistics: each actor injects one NaN, so one or both are in the batch.
    assert re.search(r"batch: rewards \[[^\]]*\] with [12] non-finite of 20;", err), err
    checkpoints = tmp_path / "impala-impala-Catch-s0" / "checkpoints"
    reader = tf.train.load_checkpoint(str(checkpoints))
    frames = reader.get_tensor(next(k for k in reader.get_variable_to_shape_map()
                                    if k.startswith("frames/")))
    assert 0 < frames < 4000 and frames % 20 == 0
    tensors = [reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
               if k != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    floats = [t for t in tensors if t.dtype.kind == "f"]
    assert len(floats) > 10 and all(np.isfinite(t).all() for t in floats)  # weights, slots


def test_skip_mode_drops_nan_batches_and_finishes(tmp_path, capsys):
    env_fn = functools.partial(NaNRewardEnv, nan_at=43)
    config = ImpalaConfig(net="impala", game="Catch", total_frames=400, logdir=str(tmp_path),
                          on_nonfinite="skip", **FAST)
    result = train(config, env_fn=env_fn)
    captured = capsys.readouterr()
    assert result.frames == 400
    assert "skipped that batch (1 skipped so far)" in captured.out
    # Each actor injects one NaN; both may land in one batch or in two.
    assert result.updates in (400 // 20 - 1, 400 // 20 - 2)


@pytest.mark.parametrize("trainer, config_cls", [(a2c.train, a2c.A2CConfig),
                                                 (ppo.train, ppo.PPOConfig)])
def test_an_injected_nan_stops_a2c_and_ppo(tmp_path, trainer, config_cls, capsys):
    config = config_cls(net="impala", game="Catch", total_frames=2000, num_envs=4,
                        unroll_length=5, logdir=str(tmp_path), log_interval_seconds=1000.0,
                        image_every_frames=0,
                        **({"num_minibatches": 2} if config_cls is ppo.PPOConfig else {}))
    with pytest.raises(DrarlError, match="non-finite loss or gradients in the update after 40"):
        trainer(config, env_fn=functools.partial(NaNRewardEnv, nan_at=13))  # 3rd rollout
    run = next(tmp_path.glob("*-impala-Catch-s0"))
    assert tf.train.latest_checkpoint(str(run / "checkpoints")).endswith("ckpt-40")


def test_batch_statistics_name_the_non_finite_arrays_first():
    text = batch_statistics({"actions": np.array([0, 2]), "rewards": np.array([1.0, np.nan, -1]),
                             "obs": np.zeros((2, 3), np.uint8)})
    assert text == ("rewards [-1, 1] with 1 non-finite of 3; actions [0, 2]; obs [0, 0]")


def test_a_full_disk_while_checkpointing_is_one_line_and_keeps_the_previous(tmp_path,
                                                                         monkeypatch):
    counter = tf.Variable(0, dtype=tf.int64)
    ckpt = Checkpointer(tmp_path / "ckpt", frames=counter)
    first = ckpt.save(1)

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt.manager, "save", no_space)
    with pytest.raises(DrarlError, match="could not write checkpoint.*No space left.*kept"):
        ckpt.save(2)
    assert tf.train.latest_checkpoint(str(tmp_path / "ckpt")) == first


ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_impala_with_ray_actors_runs_a_few_updates_and_ends_cleanly(tmp_path, local_ray):
    config = ImpalaConfig(net="drarl", game="Catch", total_frames=60, logdir=str(tmp_path),
                          actor_backend="ray", **FAST)
    result = train(config)
    assert (result.frames, result.updates) == (60, 3)
    assert ray.is_initialized()  # a Ray that the caller started is left running
    deadline = time.time() + 30  # the actors were killed: their CPUs come back
    while ray.available_resources().get("CPU", 0) < 2:
        assert time.time() < deadline
        time.sleep(0.2)


def test_a_killed_ray_actor_is_restarted(local_ray):
    from drarl_tf.impala.ray_backend import RayActorPool

    config = ImpalaConfig(net="impala", game="Catch", actor_backend="ray", **FAST)
    learner = Learner(config, (20, 10, 4), 3, frames_per_update=20)
    warnings = []
    pool = RayActorPool(config, None, [w.shape for w in learner.weights()], 0, warnings.append)
    pool.publish(learner.weights(), version=1)
    pool.start()
    try:
        assert _take(pool).unroll.obs.shape == (6, 2, 20, 10, 4)
        ray.kill(pool.actors[0], no_restart=True)
        seen = set()
        deadline = time.time() + 120
        while {0, 1} - seen or pool.restarts == 0:
            seen.add(_take(pool).actor_id)
            assert time.time() < deadline
        assert pool.restarts == 1 and pool.starts == [2, 1]
        assert "actor 0 died (Ray actor lost" in warnings[0]
    finally:
        pool.close()


def test_a_signal_in_the_middle_of_an_update_lets_it_finish_before_the_checkpoint(
        tmp_path, monkeypatch):
    # SIGTERM arrives during the 6th PPO minibatch step (the 2nd rollout's update of
    # 2 epochs x 2 minibatches); the update must complete, so that the checkpoint's
    # optimizer steps match its frame count.
    original_init = ppo.PPOLearner.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        step, calls = self._compiled_step, [0]

        def counted(minibatch):
            calls[0] += 1
            if calls[0] == 6:
                signal.raise_signal(signal.SIGTERM)
            return step(minibatch)

        self._compiled_step = counted

    monkeypatch.setattr(ppo.PPOLearner, "__init__", init)
    config = ppo.PPOConfig(net="impala", game="Catch", total_frames=10_000, num_envs=4,
                           unroll_length=16, num_minibatches=2, num_epochs=2,
                           logdir=str(tmp_path), log_interval_seconds=1000.0,
                           image_every_frames=0)
    result = ppo.train(config)
    assert result.interrupted
    assert (result.frames, result.updates) == (2 * 64, 2 * 4)
    reader = tf.train.load_checkpoint(str(tmp_path / "ppo-impala-Catch-s0" / "checkpoints"))
    names = reader.get_variable_to_shape_map()
    assert reader.get_tensor(next(n for n in names if n.startswith("frames/"))) == 128
    assert reader.get_tensor(next(n for n in names if n.startswith("optimizer/_iterations"))) == 8
