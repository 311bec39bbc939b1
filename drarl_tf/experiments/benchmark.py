"""Speed measurements: env steps/s, inference and train-step samples/s, IMPALA end to end.

Each rate is measured alone with all cores (unless a config's cpu_threads says
otherwise); ratios are taken between rates measured in the same run, since absolute
speed on a shared machine drifts. `minatar_rates` measures PPO with the MinAtar study's
settings, in fresh processes (one or two at once), against Stable-Baselines3.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

from drarl_tf.configs import PPOConfig
from drarl_tf.envs import CATCH, check_game, make_vector_env, rom_id
from drarl_tf.errors import DrarlError
from drarl_tf.impala import ImpalaConfig, train
from drarl_tf.impala.learner import Learner
from drarl_tf.networks import build_network
from drarl_tf.tf_settings import set_cpu_threads
from drarl_tf.training.hardware import resolved
from drarl_tf.training.rollout import make_policy
from drarl_tf.training.unroll import Unroll


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


def compute_bound(env: float, inference: float, train: float, passes: int = 1) -> float:
    """Samples/s of a loop that steps the env, acts and trains one after the other, each
    alone at its rate (samples/s), training `passes` times on each sample
    (docs/design.md, Performance model): 1 / (1/env + 1/inference + passes/train)."""
    return 1.0 / (1.0 / env + 1.0 / inference + passes / train)


def on_policy_end_to_end(algo: str, config, seconds: float) -> dict:
    """A2C or PPO: rates alone, the bound 1 / (1/E + 1/I + k/L) with k passes per sample
    (1 for A2C, num_epochs for PPO), end to end, and the measured share of time per part,
    all with `config.cpu_threads` TensorFlow threads (set first: it takes effect only in a
    process where TensorFlow has not run yet)."""
    from drarl_tf import a2c, ppo

    module = {"a2c": a2c, "ppo": ppo}[algo]
    set_cpu_threads(config.cpu_threads)
    config = resolved(config)
    T, N = config.unroll_length, config.num_envs
    e, obs_shape, num_actions, fps_per_step = _env_rate(config.game, N, seconds)
    # A2C and PPO act with the learner's own model, so in its precision.
    i = inference_rate(config.net, obs_shape, num_actions, N, seconds, config.precision)
    learner_cls = module.A2CLearner if algo == "a2c" else module.PPOLearner
    learner = learner_cls(config, obs_shape, num_actions, 1)
    k = getattr(config, "num_epochs", 1)
    rollout = _random_rollout(T, N, obs_shape, num_actions)
    lr = _rate(lambda: learner.update(rollout), T * N * k, seconds, warmup=1)  # per pass
    bound = compute_bound(e, i, lr, k)
    end_to_end, result = _timed_run(module.train, config, T * N, fps_per_step, bound, seconds,
                                    min_updates=4)
    shares = {k_: v for k_, v in result.metrics.items() if k_.startswith("time/")}
    return {
        "algo": algo, "net": config.net, "precision": config.precision, "game": config.game,
        "num_envs": N, "cpu_threads": config.cpu_threads,
        "env_steps_per_s": e, "inference_samples_per_s": i, "train_samples_per_s_per_pass": lr,
        "passes_k": k, "compute_bound_samples_per_s": bound,
        "end_to_end_samples_per_s": end_to_end, "end_to_end_frames_per_s": result.steady_fps,
        "ratio_to_bound": end_to_end / bound,
        "env_share": shares.get("time/env_share", float("nan")),
        "inference_share": shares.get("time/inference_share", float("nan")),
        "update_share": shares.get("time/update_share", float("nan")),
    }


def study_overrides(train_flags) -> dict:
    """PPOConfig field -> value for each of an experiment's `train_flags` (`--name=value`,
    e.g. `EXPERIMENTS["minatar"].train_flags`), parsed by the training script's own flag
    definitions; a flag that is no PPOConfig field is one DrarlError line."""
    from absl import flags

    from drarl_tf.cli.flags import define_config_flags

    values = flags.FlagValues()
    define_config_flags(PPOConfig, values)
    try:
        extra = values(["study"] + list(train_flags))[1:]
    except flags.Error as e:
        raise DrarlError(f"the study's train_flags {list(train_flags)}: {e}") from None
    if extra:
        raise DrarlError(f"the study's train_flags must look like --name=value, got {extra}")
    return {f.name: values[f.name].value for f in dataclasses.fields(PPOConfig)
            if values[f.name].present}


def _study_flags() -> tuple[str, ...]:
    from drarl_tf.experiments.grid import EXPERIMENTS

    return EXPERIMENTS["minatar"].train_flags


def minatar_config(game: str, net: str, train_flags=None, **changes) -> PPOConfig:
    """The MinAtar study's PPO config for `game` and `net`: its train_flags (default
    `EXPERIMENTS["minatar"]`'s) as overrides, then `changes` (e.g. cpu_threads=0)."""
    flags = _study_flags() if train_flags is None else train_flags
    return resolved(PPOConfig(**{**study_overrides(flags), "game": game, "net": net,
                                  **changes}))


def _end_to_end_child(algo: str, config, seconds: float, barrier, send) -> None:
    """A process of `on_policy_in_processes`: waits for its siblings, then sends
    (`on_policy_end_to_end`'s row, None) or (None, the error as one line)."""
    try:
        barrier.wait(timeout=600)
        reply = (on_policy_end_to_end(algo, config, seconds), None)
    except Exception as e:  # reported by the parent
        reply = (None, f"{type(e).__name__}: {e}")
    send.send(reply)
    send.close()


def on_policy_in_processes(algo: str, config, seconds: float, processes: int = 1) -> list[dict]:
    """`on_policy_end_to_end` in `processes` fresh processes (spawn: each imports
    TensorFlow itself and applies `config.cpu_threads` before it runs) started together
    and measuring at the same time, as the study's parallel runs train; their rows. A
    failed or dead process is one DrarlError line, and the others are stopped."""
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(processes)
    pipes = [ctx.Pipe(duplex=False) for _ in range(processes)]
    children = [ctx.Process(target=_end_to_end_child, args=(algo, config, seconds, barrier, send))
                for _, send in pipes]
    for child in children:
        child.start()
    for _, send in pipes:
        send.close()  # so that a child that dies makes its recv() raise EOFError
    waiting, rows = {receive: i for i, (receive, _) in enumerate(pipes)}, {}
    try:
        while waiting:
            for receive in wait(list(waiting)):
                i = waiting.pop(receive)
                try:
                    rows[i], error = receive.recv()
                except EOFError:
                    children[i].join()
                    error = f"it died (exit code {children[i].exitcode})"
                if error:
                    raise DrarlError(f"an end-to-end benchmark process failed: {error}")
    except BaseException:
        for child in children:
            child.terminate()
        raise
    finally:
        for child in children:
            child.join()
    return [rows[i] for i in range(processes)]


def minatar_rates(game: str, nets, seconds: float, timed_rollouts: int = 2,
                  train_flags=None, **changes) -> dict:
    """PPO with the MinAtar study's settings (`minatar_config`; `changes` on top, e.g. a
    smaller run for a test): Stable-Baselines3 with the same settings and IMPALA torso
    (its own process, no TensorFlow), then per net drarl_tf's `on_policy_end_to_end` in
    fresh processes: one run with all cores, one run with the study's cpu_threads, and
    two such runs at once. Needs torch and SB3 (`torch_reference.require("minatar")`)."""
    from drarl_tf.experiments import torch_reference

    flags = _study_flags() if train_flags is None else train_flags
    base = minatar_config(game, nets[0], flags, **changes)
    results = {"game": base.game, "train_flags": list(flags), "changes": changes,
               "precision": base.precision,
               "sb3_settings": torch_reference.sb3_ppo_settings(base),
               "sb3": torch_reference.sb3_minatar_ppo_rate_in_process(base, timed_rollouts),
               "drarl_tf": {}}
    for net in nets:
        config = dataclasses.replace(base, net=net)
        all_cores = dataclasses.replace(config, cpu_threads=0)
        results["drarl_tf"][net] = {
            "one_run_all_cores": on_policy_in_processes("ppo", all_cores, seconds)[0],
            "one_run": on_policy_in_processes("ppo", config, seconds)[0],
            "two_runs": on_policy_in_processes("ppo", config, seconds, processes=2)}
    return results


_SUMMARY_KEYS = ("net", "precision", "cpu_threads", "env_steps_per_s",
                 "inference_samples_per_s", "train_samples_per_s_per_pass",
                 "compute_bound_samples_per_s", "end_to_end_samples_per_s", "ratio_to_bound",
                 "env_share", "inference_share", "update_share")


def _summary(run: str, row: dict, sb3_rate: float) -> dict:
    """One table row: `row`'s `_SUMMARY_KEYS` ("-" where it has none) and its end-to-end
    steps/s over SB3's."""
    out = {"run": run, **{k: row.get(k, "-") for k in _SUMMARY_KEYS}}
    out["ratio_to_sb3"] = row["end_to_end_samples_per_s"] / sb3_rate
    return out


def minatar_table(results: dict) -> list[dict]:
    """`minatar_rates`' results as table rows with the same columns, each with its
    end-to-end steps/s over SB3's (measured in the same run); the two runs at once also
    as their total (the sums of end to end and of the bounds)."""
    sb3 = results["sb3"]
    rows = []
    for net, runs in results["drarl_tf"].items():
        threads = runs["one_run"]["cpu_threads"]
        rows.append(_summary("drarl_tf, 1 run, all cores", runs["one_run_all_cores"],
                             sb3["steps_per_s"]))
        rows.append(_summary(f"drarl_tf, 1 run, {threads} thread(s)", runs["one_run"],
                             sb3["steps_per_s"]))
        for i, row in enumerate(runs["two_runs"], 1):
            rows.append(_summary(f"drarl_tf, 2 runs at once: run {i}", row, sb3["steps_per_s"]))
        total = {k: sum(r[k] for r in runs["two_runs"])
                 for k in ("compute_bound_samples_per_s", "end_to_end_samples_per_s")}
        total["ratio_to_bound"] = (total["end_to_end_samples_per_s"]
                                   / total["compute_bound_samples_per_s"])
        rows.append(_summary("drarl_tf, 2 runs at once: total", {
            "net": net, "precision": results["precision"], "cpu_threads": 2 * threads, **total},
            sb3["steps_per_s"]))
    sb3_row = {"net": "impala", "precision": "float32", "cpu_threads": sb3["torch_threads"],
               "end_to_end_samples_per_s": sb3["steps_per_s"]}
    rows.append(_summary(sb3["implementation"], sb3_row, sb3["steps_per_s"]))
    return rows


def impala_end_to_end(config: ImpalaConfig, seconds: float) -> dict:
    """Rates alone (E, I, L), the compute bound 1 / (1/E + 1/I + 1/L), and IMPALA end to
    end, in `config.inference`'s mode: the inference rate I is that of the model that
    acts there, at its batch size (an actor's float32 CPU copy at `envs_per_actor`, or
    the learner's model in its precision at `num_actors x envs_per_actor`)."""
    config = resolved(config)
    e, obs_shape, num_actions, fps_per_step = _env_rate(
        config.game, config.num_actors * config.envs_per_actor, seconds)
    if config.inference == "learner":
        i = inference_rate(config.net, obs_shape, num_actions,
                           config.num_actors * config.envs_per_actor, seconds, config.precision)
    else:
        i = inference_rate(config.net, obs_shape, num_actions, config.envs_per_actor, seconds)
    lr = learner_rate(config, obs_shape, num_actions, seconds)
    bound = compute_bound(e, i, lr)
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
