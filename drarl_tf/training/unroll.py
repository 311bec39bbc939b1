"""The one trajectory type every trainer uses, and the message an IMPALA actor sends.

An `Unroll` is what `RolloutCollector.collect` makes, what an IMPALA actor sends
(inside an `ActorMessage`), what the IMPALA driver batches and what every learner
trains on. Its arrays are time-major; specs, batching and slicing are derived from
the type with `tf.nest`, so a new field is added here and nowhere else.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Unroll(NamedTuple):
    """A trajectory of `T` steps of `N` envs (time-major; `A` actions, `[H, W, C]` images).

    Attributes:
      obs: uint8 `[T + 1, N, H, W, C]`; the last is the first of the next unroll
        (for bootstrapping).
      values: float32 `[T + 1, N]` V(x_t) of the acting policy (A2C's and PPO's
        baseline; IMPALA's learner computes its own).
      actions: int32 `[T, N]`.
      behaviour_logits: float32 `[T, N, A]` the acting policy's logits (mu).
      rewards: float32 `[T, N]` clipped for learning.
      discounts: float32 `[T, N]` gamma, 0 where the episode terminated at step t.
      mask: float32 `[T, N]` 1 for transitions, 0 for the autoreset steps.
    """

    obs: np.ndarray
    values: np.ndarray
    actions: np.ndarray
    behaviour_logits: np.ndarray
    rewards: np.ndarray
    discounts: np.ndarray
    mask: np.ndarray


class Episodes(NamedTuple):
    """The full games that ended during an unroll: float64 `[K]` raw returns and int64
    `[K]` lengths in agent steps."""

    returns: np.ndarray
    lengths: np.ndarray


class ActorMessage(NamedTuple):
    """What an IMPALA actor sends: its unroll, the policy version that acted (for the
    policy lag), and the games that ended during it.

    Between processes the unroll itself stays in shared memory: the message crossing
    the pipe carries `unroll=None` and the index of the actor's `slot` that holds it
    (`drarl_tf.impala.channel`); the learner's side fills `unroll` with views of that slot
    and gives the slot back with `ActorPool.release` once it has copied the batch.
    """

    actor_id: int
    policy_version: int
    unroll: Unroll | None
    episodes: Episodes
    slot: int = -1  # -1: `unroll` is the actor's own copy (the Ray backend, tests)


def unroll_layout(length: int, num_envs: int, obs_shape, num_actions: int) -> Unroll:
    """An `Unroll` of `(shape, numpy dtype)` pairs: the one place the shapes are written
    (TensorFlow-free, so that actors and shared-memory slots need not load it)."""
    T, N = length, num_envs
    return Unroll(
        obs=((T + 1, N) + tuple(obs_shape), np.dtype(np.uint8)),
        values=((T + 1, N), np.dtype(np.float32)),
        actions=((T, N), np.dtype(np.int32)),
        behaviour_logits=((T, N, num_actions), np.dtype(np.float32)),
        rewards=((T, N), np.dtype(np.float32)),
        discounts=((T, N), np.dtype(np.float32)),
        mask=((T, N), np.dtype(np.float32)),
    )


def unroll_spec(length: int, num_envs: int, obs_shape, num_actions: int):
    """An `Unroll` of `tf.TensorSpec`s: the input signature of a learner's step."""
    import tensorflow as tf

    return Unroll(*(tf.TensorSpec(shape, tf.as_dtype(dtype)) for shape, dtype in
                    unroll_layout(length, num_envs, obs_shape, num_actions)))


def empty_unroll(length: int, num_envs: int, obs_shape, num_actions: int) -> Unroll:
    """An uninitialised numpy `Unroll` with the shapes and dtypes of `unroll_spec`."""
    return Unroll(*(np.empty(shape, dtype) for shape, dtype in
                    unroll_layout(length, num_envs, obs_shape, num_actions)))


def concat_unrolls(unrolls: list[Unroll]) -> Unroll:
    """The unrolls of several actors as one batch (along the env axis)."""
    import tensorflow as tf

    return tf.nest.map_structure(lambda *xs: np.concatenate(xs, axis=1), *unrolls)


def concat_episodes(episodes: list[Episodes]) -> Episodes:
    """The games of several messages in one `Episodes`."""
    import tensorflow as tf

    return tf.nest.map_structure(lambda *xs: np.concatenate(xs), *episodes)


def slice_envs(unroll: Unroll, start: int, stop: int) -> Unroll:
    """The envs `[start, stop)` of an unroll (numpy arrays or tensors): a replica's share."""
    import tensorflow as tf

    return tf.nest.map_structure(lambda x: x[:, start:stop], unroll)
