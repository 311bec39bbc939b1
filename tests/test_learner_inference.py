"""Learner-side inference (`--inference=learner`) and the shared-memory unroll slots:
the answers are the network's, slots survive killed actors, restarts and config checks."""

import os
import signal
import time

import numpy as np
import pytest
import tensorflow as tf

from drarl_tf.configs import ImpalaConfig
from drarl_tf.errors import DrarlError
from drarl_tf.impala.channel import UnrollSlots
from drarl_tf.impala.inference import InferenceServer
from drarl_tf.training.unroll import unroll_layout
from tests.test_reliability import (
    _freeze_actor_0_until_restarted,
    _learner_and_pool,
    _no_orphans,
    _take,
)


def _server(pool, learner_weights, version=5):
    server = InferenceServer(pool, "impala", 3, (20, 10, 4), "float32", timeout_seconds=0.002)
    server.set_weights(learner_weights, version)
    return server


def _pool_and_server(**overrides):
    pool, warnings = _learner_and_pool(inference="learner", **overrides)
    from drarl_tf.impala.learner import Learner

    learner = Learner(pool.config, (20, 10, 4), 3, frames_per_update=20)
    return pool, _server(pool, learner.weights()), warnings


def test_slots_have_the_unroll_layout_and_do_not_overlap():
    import multiprocessing as mp

    slots = UnrollSlots(mp.get_context("spawn"), 3, 5, 2, (20, 10, 4), 3)
    for k in range(3):
        for array, (shape, dtype) in zip(slots.view(k), unroll_layout(5, 2, (20, 10, 4), 3),
                                         strict=True):
            assert array.shape == shape and array.dtype == dtype
            array[...] = k + 1
    for k in range(3):  # each slot still holds what was written into it
        assert all(np.all(array == k + 1) for array in slots.view(k))
    with pytest.raises(IndexError):
        slots.view(3)


def test_learner_inference_answers_with_the_learners_network_for_every_actor():
    """Each actor's behaviour logits and values are the server model's outputs on the
    observations of its own unroll: rows of the shared batch land with their actor."""
    pool, server, _ = _pool_and_server(num_actors=3)
    pool.start()
    server.start()
    try:
        seen = {}
        deadline = time.time() + 120
        while len(seen) < 3:
            message = pool.get()
            unroll = tf.nest.map_structure(np.copy, message.unroll)
            pool.release([message])
            seen[message.actor_id] = (unroll, message.policy_version)
            assert time.time() < deadline
        server.check()
        assert server.mean_batch_envs() > 0
    finally:
        server.close()
        pool.close()
    assert _no_orphans()
    for unroll, version in seen.values():
        assert version == 5
        T = unroll.actions.shape[0]
        out = server.model(unroll.obs.reshape((-1, 20, 10, 4)))
        logits = out["policy_logits"].numpy().reshape((T + 1, 2, 3))
        values = out["value"].numpy().reshape((T + 1, 2))
        np.testing.assert_allclose(unroll.behaviour_logits, logits[:-1], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(unroll.values, values, rtol=1e-5, atol=1e-5)
        assert unroll.obs.any()  # real frames, not an empty slot


@pytest.mark.parametrize("inference", ["actor", "learner"])
def test_a_killed_actor_never_touches_a_slot_the_learner_holds(inference):
    """The learner keeps one unroll (a view of a slot) while its actor is killed with
    SIGKILL and the restarted actor writes more unrolls than it has slots: the held
    unroll is unchanged, and is given back afterwards without harm."""
    if inference == "learner":
        pool, server, warnings = _pool_and_server(num_actors=1, batch_size=2, queue_size=1)
    else:
        pool, warnings = _learner_and_pool(num_actors=1, batch_size=2, queue_size=1)
        server = None
    pool.start()
    if server:
        server.start()
    try:
        held = pool.get()
        before = tf.nest.map_structure(np.copy, held.unroll)
        victim = pool.processes[0].pid
        os.kill(victim, signal.SIGKILL)
        deadline = time.time() + 120
        delivered = 0
        while delivered < 2 * pool.slots[0].count:
            message = _take(pool)
            assert message.slot != held.slot
            delivered += pool.restarts > 0
            assert time.time() < deadline
        assert pool.restarts == 1 and pool.processes[0].pid != victim
        tf.nest.map_structure(np.testing.assert_array_equal, held.unroll, before)
        pool.release([held])
        _take(pool)  # the slot is in use again
    finally:
        if server:
            server.close()
        pool.close()
    assert _no_orphans()
    assert any("actor 0 died (killed by SIGKILL)" in w for w in warnings)


def test_learner_inference_is_refused_with_ray_and_a_bad_timeout():
    with pytest.raises(DrarlError, match="--inference=learner needs --actor_backend=process"):
        ImpalaConfig(game="Catch", inference="learner", actor_backend="ray")
    with pytest.raises(DrarlError, match="inference_timeout_ms"):
        ImpalaConfig(game="Catch", inference="learner", inference_timeout_ms=0)
    with pytest.raises(DrarlError, match="unknown inference 'gpu'"):
        ImpalaConfig(game="Catch", inference="gpu")


def test_a_frozen_actor_does_not_stall_learner_inference_and_is_restarted():
    """SIGSTOP of one actor: the server keeps answering the other (a batch waits for the
    frozen one only --inference_timeout_ms), and after --actor_timeout_seconds the
    frozen one is killed and restarted; its stale requests are dropped."""
    pool, server, warnings = _pool_and_server(actor_timeout_seconds=8.0)
    pool.start()
    server.start()
    try:
        _freeze_actor_0_until_restarted(pool, warnings)
        server.check()
    finally:
        server.close()
        pool.close()
    assert _no_orphans()
