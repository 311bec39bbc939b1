"""Speed measurements: env steps/s, inference and train-step samples/s, IMPALA end to end.

Each rate is measured alone with all cores; ratios are taken between rates
measured in the same run, since absolute speed on a shared machine drifts.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

from drarl_tf.envs import CATCH, check_game, make_vector_env, rom_id
from drarl_tf.errors import DrarlError
from drarl_tf.impala import ImpalaConfig, train
from drarl_tf.impala.learner import Learner
from drarl_tf.networks import build_network
from drarl_tf.runtime.rollout import make_policy
from drarl_tf.runtime.unroll import Unroll


def _rate(fn, units_per_call: int, seconds: float, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return calls * units_per_call / (time.perf_counter() - start)


def env_rates(game: str, num_envs: int, seconds: float, trials: int = 6) -> dict:
    """Agent steps/s of drarl_tf's Atari env vs the raw ale_py vector env.

    Short trials alternate between the two, and the ratio is the median of the
    per-pair ratios, so that drifts of the shared machine's speed cancel out.
    """
    from ale_py.vector_env import AtariVectorEnv

    from drarl_tf.errors import DrarlError

    if check_game(game) == CATCH:
        raise DrarlError("the env benchmark compares against raw ale_py: give an Atari game")
    ours = make_vector_env(game, num_envs, training=True)
    raw = AtariVectorEnv(rom_id(game), num_envs, reward_clipping=False, life_loss_info=True)
    ours.reset(seed=0)
    raw.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = [rng.integers(0, ours.num_actions, num_envs) for _ in range(64)]
    counter = {"ours": 0, "raw": 0}

    def step_ours():
        counter["ours"] += 1
        ours.step(actions[counter["ours"] % 64])

    def step_raw():
        counter["raw"] += 1
        raw.step(actions[counter["raw"] % 64].astype(np.int32))

    ours_rates, raw_rates = [], []
    for _ in range(trials):
        raw_rates.append(_rate(step_raw, num_envs, seconds / trials))
        ours_rates.append(_rate(step_ours, num_envs, seconds / trials))
    # Noise-free view of the same thing: the share of our step spent outside ale_py.
    inner, inner_step = [0.0], ours.env.step

    def timed_inner(a):
        start = time.perf_counter()
        out = inner_step(a)
        inner[0] += time.perf_counter() - start
        return out

    ours.env.step = timed_inner
    start = time.perf_counter()
    for _ in range(200):
        step_ours()
    wrapper_share = 1.0 - inner[0] / (time.perf_counter() - start)
    ours.env.step = inner_step
    ours.close()
    # ale_py's own step time, back to back and with the calling thread busy for
    # 0.5 ms between steps (as an agent is, running inference).
    step_ms = {}
    for pause in (0.0, 0.0005):
        elapsed = 0.0
        for _ in range(150):
            start = time.perf_counter()
            step_raw()
            elapsed += time.perf_counter() - start
            until = time.perf_counter() + pause
            while time.perf_counter() < until:
                pass
        step_ms[pause] = 1e3 * elapsed / 150
    raw.close()
    ours_rate, raw_rate = float(np.median(ours_rates)), float(np.median(raw_rates))
    ratio = float(np.median(np.array(ours_rates) / np.array(raw_rates)))
    return {"game": game, "num_envs": num_envs, "drarl_tf_steps_per_s": ours_rate,
            "ale_py_steps_per_s": raw_rate, "ratio": ratio,
            "wrapper_time_share": wrapper_share, "ale_py_step_ms": step_ms[0.0],
            "ale_py_step_ms_after_0.5ms_pause": step_ms[0.0005]}


def inference_rate(net: str, obs_shape, num_actions: int, batch: int, seconds: float,
                   precision: str = "float32") -> float:
    """Policy forward samples/s at the actors' batch size."""
    model = build_network(net, num_actions, obs_shape, precision=precision)
    policy = make_policy(model, obs_shape)
    obs = np.random.default_rng(0).integers(0, 256, (batch,) + tuple(obs_shape), dtype=np.uint8)
    return _rate(lambda: policy(obs), batch, seconds)


def learner_rate(config: ImpalaConfig, obs_shape, num_actions: int, seconds: float) -> float:
    """IMPALA update samples/s (T x B transitions per update) on random batches."""
    learner = Learner(config, obs_shape, num_actions, frames_per_update=1)
    T, B = config.unroll_length, config.batch_size
    batch = _random_rollout(T, B, obs_shape, num_actions)
    return _rate(lambda: learner.update(batch), T * B, seconds, warmup=1)


def _env_rate(game: str, num_envs: int, seconds: float):
    """Training-env steps/s alone with all cores; also returns the env's spec."""
    env = make_vector_env(game, num_envs, training=True)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    rate = _rate(lambda: env.step(rng.integers(0, env.num_actions, num_envs)), num_envs, seconds)
    env.close()
    return rate, env.obs_shape, env.num_actions, env.frames_per_step


def _timed_run(train_fn, config, samples_per_update: int, frames_per_step: int, bound: float,
               seconds: float, min_updates: int):
    """A real training run long enough for several updates after the start-up (which
    `steady_fps` excludes), in a temporary directory; returns (samples/s, result)."""
    with tempfile.TemporaryDirectory() as tmp:
        updates = max(min_updates, int(3 * seconds * bound / samples_per_update))
        run = dataclasses.replace(
            config, logdir=f"{tmp}/runs", export_dir=f"{tmp}/saved",
            total_frames=updates * samples_per_update * frames_per_step,
            log_interval_seconds=1e9, checkpoint_minutes=1e9)
        result = train_fn(run)
    return result.steady_fps / frames_per_step, result


def _random_rollout(T: int, N: int, obs_shape, num_actions: int) -> Unroll:
    rng = np.random.default_rng(0)
    return Unroll(
        obs=rng.integers(0, 256, (T + 1, N) + tuple(obs_shape), dtype=np.uint8),
        values=rng.normal(0, 1, (T + 1, N)).astype(np.float32),
        actions=rng.integers(0, num_actions, (T, N)).astype(np.int32),
        behaviour_logits=rng.normal(0, 1, (T, N, num_actions)).astype(np.float32),
        rewards=np.zeros((T, N), np.float32),
        discounts=np.full((T, N), 0.99, np.float32),
        mask=np.ones((T, N), np.float32),
    )


def on_policy_end_to_end(algo: str, config, seconds: float) -> dict:
    """A2C or PPO: rates alone, the bound 1 / (1/E + 1/I + k/L) with k passes per sample
    (1 for A2C, num_epochs for PPO), end to end, and the measured share of time per part."""
    from drarl_tf import a2c, ppo

    module = {"a2c": a2c, "ppo": ppo}[algo]
    T, N = config.unroll_length, config.num_envs
    e, obs_shape, num_actions, fps_per_step = _env_rate(config.game, N, seconds)
    # A2C and PPO act with the learner's own model, so in its precision.
    i = inference_rate(config.net, obs_shape, num_actions, N, seconds, config.precision)
    learner_cls = module.A2CLearner if algo == "a2c" else module.PPOLearner
    learner = learner_cls(config, obs_shape, num_actions, 1)
    k = getattr(config, "num_epochs", 1)
    rollout = _random_rollout(T, N, obs_shape, num_actions)
    lr = _rate(lambda: learner.update(rollout), T * N * k, seconds, warmup=1)  # per pass
    bound = 1.0 / (1.0 / e + 1.0 / i + k / lr)
    end_to_end, result = _timed_run(module.train, config, T * N, fps_per_step, bound, seconds,
                                    min_updates=4)
    shares = {k_: v for k_, v in result.metrics.items() if k_.startswith("time/")}
    return {
        "algo": algo, "net": config.net, "precision": config.precision, "game": config.game,
        "num_envs": N,
        "env_steps_per_s": e, "inference_samples_per_s": i, "train_samples_per_s_per_pass": lr,
        "passes_k": k, "compute_bound_samples_per_s": bound,
        "end_to_end_samples_per_s": end_to_end, "end_to_end_frames_per_s": result.steady_fps,
        "ratio_to_bound": end_to_end / bound,
        "env_share": shares.get("time/env_share", float("nan")),
        "inference_share": shares.get("time/inference_share", float("nan")),
        "update_share": shares.get("time/update_share", float("nan")),
    }


def impala_end_to_end(config: ImpalaConfig, seconds: float) -> dict:
    """Rates alone (E, I, L), the compute bound 1 / (1/E + 1/I + 1/L), and IMPALA end to
    end, in `config.inference`'s mode: the inference rate I is that of the model that
    acts there, at its batch size (an actor's float32 CPU copy at `envs_per_actor`, or
    the learner's model in its precision at `num_actors x envs_per_actor`)."""
    e, obs_shape, num_actions, fps_per_step = _env_rate(
        config.game, config.num_actors * config.envs_per_actor, seconds)
    if config.inference == "learner":
        i = inference_rate(config.net, obs_shape, num_actions,
                           config.num_actors * config.envs_per_actor, seconds, config.precision)
    else:
        i = inference_rate(config.net, obs_shape, num_actions, config.envs_per_actor, seconds)
    lr = learner_rate(config, obs_shape, num_actions, seconds)
    bound = 1.0 / (1.0 / e + 1.0 / i + 1.0 / lr)
    end_to_end, result = _timed_run(train, config, config.batch_size * config.unroll_length,
                                    fps_per_step, bound, seconds, min_updates=8)
    return {
        "net": config.net, "precision": config.precision, "inference": config.inference,
        "strategy": config.strategy, "game": config.game, "num_actors": config.num_actors,
        "envs_per_actor": config.envs_per_actor, "env_steps_per_s": e,
        "inference_samples_per_s": i, "learner_samples_per_s": lr,
        "compute_bound_samples_per_s": bound, "end_to_end_samples_per_s": end_to_end,
        "end_to_end_frames_per_s": result.steady_fps,
        "ratio_to_bound": end_to_end / bound, "ratio_to_learner_only": end_to_end / lr,
    }


def nets_rates(nets, obs_shape=(84, 84, 4), num_actions=18, seconds=5.0) -> list[dict]:
    """Forward (batch 256) and IMPALA train-step (20 x 32) samples/s per net."""
    rows = []
    for net in nets:
        tf.keras.backend.clear_session()
        config = ImpalaConfig(net=net, game="Pong", envs_per_actor=16)
        rows.append({
            "net": net,
            "forward_samples_per_s": inference_rate(net, obs_shape, num_actions, 256, seconds),
            "train_samples_per_s": learner_rate(config, obs_shape, num_actions, seconds),
        })
    return rows


_NETS_RATES_CHILD = """
import json, sys
from drarl_tf.experiments.benchmark import nets_rates
print("RESULT " + json.dumps(nets_rates(sys.argv[1].split(","), seconds=float(sys.argv[2]))))
"""


def onednn_rates(nets, seconds=5.0) -> list[dict]:
    """`nets_rates` with TensorFlow's oneDNN kernels off and on (TF_ENABLE_ONEDNN_OPTS is
    read when TensorFlow loads, so each setting runs in a fresh process), one after the
    other in this run, and the speed-up of "on"."""
    by_setting = {}
    for setting in ("0", "1"):
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": setting}
        out = subprocess.run([sys.executable, "-c", _NETS_RATES_CHILD, ",".join(nets),
                              str(seconds)], env=env, capture_output=True, text=True)
        lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
        if out.returncode != 0 or not lines:
            raise DrarlError(f"the benchmark with TF_ENABLE_ONEDNN_OPTS={setting} failed: "
                             f"{(out.stderr.strip().splitlines() or ['no output'])[-1]}")
        by_setting[setting] = {r["net"]: r for r in json.loads(lines[-1][len("RESULT "):])}
    rows = []
    for net in nets:
        off, on = by_setting["0"][net], by_setting["1"][net]
        rows.append({
            "net": net,
            "forward_off": off["forward_samples_per_s"], "forward_on": on["forward_samples_per_s"],
            "forward_speedup": on["forward_samples_per_s"] / off["forward_samples_per_s"],
            "train_off": off["train_samples_per_s"], "train_on": on["train_samples_per_s"],
            "train_speedup": on["train_samples_per_s"] / off["train_samples_per_s"],
        })
    return rows


def precision_rates(nets, obs_shape=(84, 84, 4), num_actions=18, seconds=5.0,
                    precisions=("float32", "mixed_bfloat16")) -> list[dict]:
    """IMPALA train-step samples/s per net for each precision, without and with XLA,
    with each setting's speed-up over float32 (the first) measured in the same run."""
    rows = []
    for net in nets:
        base = None
        for xla in (False, True):
            for precision in precisions:
                rows.append(_precision_row(net, precision, xla, obs_shape, num_actions,
                                           seconds))
                base = rows[-1]["train_samples_per_s"] if base is None else base
                rows[-1]["speedup_vs_float32"] = rows[-1]["train_samples_per_s"] / base
    return rows


def _precision_row(net, precision, xla, obs_shape, num_actions, seconds) -> dict:
    tf.keras.backend.clear_session()
    config = ImpalaConfig(net=net, game="Pong", envs_per_actor=16, precision=precision, xla=xla)
    return {"net": net, "precision": precision, "xla": str(xla),
            "train_samples_per_s": learner_rate(config, obs_shape, num_actions, seconds)}


def impala_scaling(net: str, game: str, actor_counts, envs_per_actor: int,
                   seconds: float, precision: str = "float32",
                   inference: str = "actor") -> list[dict]:
    """IMPALA end to end with each number of actors (the batch stays 32 unrolls), with
    the end-to-end / learner-only ratio and the gain of each added actor over the
    previous count, all measured in this run."""
    rows, previous = [], None
    for n in actor_counts:
        tf.keras.backend.clear_session()
        config = ImpalaConfig(net=net, game=game, num_actors=n, envs_per_actor=envs_per_actor,
                              queue_size=max(8, 2 * n), precision=precision,
                              inference=inference)
        row = impala_end_to_end(config, seconds)
        rate = row["end_to_end_samples_per_s"]
        row["gain_per_added_actor"] = (float("nan") if previous is None else
                                       (rate / previous[1] - 1.0) / (n - previous[0]))
        previous = (n, rate)
        rows.append(row)
    return rows
