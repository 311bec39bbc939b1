"""Evaluation by the paper's protocol: full games (all lives), 30 no-ops, sampled actions."""

from __future__ import annotations

import numpy as np

from drarl_tf.envs import VecEnv
from drarl_tf.errors import DrarlError
from drarl_tf.training.rollout import sample_actions


def evaluate(policy, env: VecEnv, episodes: int, greedy: bool = False, seed: int = 0) -> dict:
    """Plays `episodes` full games with `policy(obs) -> {"policy_logits": ...}`.

    Each env plays a fixed quota of games (episodes spread evenly), so that short
    games are not over-represented, as they would be by taking the first ones
    to finish. Actions are sampled from the policy (IMPALA's evaluation) unless
    `greedy`.
    """
    if episodes < 1:
        raise DrarlError(f"episodes must be >= 1, got {episodes}")
    n = env.num_envs
    quota = np.full(n, episodes // n) + (np.arange(n) < episodes % n)
    scores: list[list[float]] = [[] for _ in range(n)]
    lengths: list[list[int]] = [[] for _ in range(n)]
    rng = np.random.default_rng(seed)
    obs = env.reset(seed=seed)
    steps = 0
    while any(len(s) < q for s, q in zip(scores, quota, strict=True)):
        logits = policy(obs)["policy_logits"]
        if not np.isfinite(logits).all():
            raise DrarlError("the model's policy logits are not finite (NaN or inf) on "
                             f"{env.name}'s observations: its weights are broken; export an "
                             "earlier checkpoint")
        actions = (np.argmax(logits, -1).astype(np.int32) if greedy
                   else sample_actions(logits, rng))
        step = env.step(actions)
        steps += n
        for env_id, ret, length in zip(np.flatnonzero(step.reset_step), step.episode_returns,
                                       step.episode_lengths, strict=True):
            if len(scores[env_id]) < quota[env_id]:
                scores[env_id].append(float(ret))
                lengths[env_id].append(int(length))
        obs = step.obs
    flat = np.array([s for per_env in scores for s in per_env])
    return {
        "game": env.name, "episodes": int(len(flat)), "greedy": greedy, "seed": seed,
        "mean": float(flat.mean()), "std": float(flat.std()), "median": float(np.median(flat)),
        "min": float(flat.min()), "max": float(flat.max()),
        "frames": int(sum(sum(x) for x in lengths) * env.frames_per_step),
        "scores": flat.tolist(),
    }
