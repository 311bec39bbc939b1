"""Every trainer is the one learner skeleton with its own loss: same metrics, same signs."""

import numpy as np
import pytest

from drarl_tf import a2c, ppo
from drarl_tf.impala import ImpalaConfig
from drarl_tf.impala.learner import Learner as ImpalaLearner
from drarl_tf.training.learner import Learner
from drarl_tf.training.unroll import Unroll

OBS, ACTIONS = (20, 10, 4), 3
COMMON = {"loss/total", "loss/policy", "loss/value", "entropy", "grad_norm", "nonfinite",
          "learning_rate"}


def _unroll(T, N, seed=0):
    rng = np.random.default_rng(seed)
    return Unroll(
        obs=rng.integers(0, 256, (T + 1, N) + OBS, dtype=np.uint8),
        values=rng.normal(0, 1, (T + 1, N)).astype(np.float32),
        actions=rng.integers(0, ACTIONS, (T, N)).astype(np.int32),
        behaviour_logits=rng.normal(0, 1, (T, N, ACTIONS)).astype(np.float32),
        rewards=rng.choice([-1.0, 0.0, 1.0], (T, N)).astype(np.float32),
        discounts=np.full((T, N), 0.99, np.float32),
        mask=np.ones((T, N), np.float32),
    )


def _learners():
    tiny = dict(net="impala", game="Catch", total_frames=1000)
    yield "impala", ImpalaLearner(ImpalaConfig(unroll_length=4, batch_size=2, envs_per_actor=2,
                                               **tiny), OBS, ACTIONS, 8), (4, 2)
    yield "a2c", a2c.A2CLearner(a2c.A2CConfig(num_envs=2, unroll_length=4, **tiny), OBS,
                                ACTIONS, 8), (4, 2)
    yield "ppo", ppo.PPOLearner(ppo.PPOConfig(num_envs=2, unroll_length=4, num_minibatches=2,
                                              num_epochs=1, **tiny), OBS, ACTIONS, 8), (4, 2)


@pytest.mark.parametrize("algo, learner, shape", list(_learners()),
                         ids=["impala", "a2c", "ppo"])
def test_every_trainer_reports_the_same_metrics_with_the_entropy_as_a_positive_mean(
        algo, learner, shape):
    assert isinstance(learner, Learner)
    before = [w.copy() for w in learner.weights()]
    metrics = learner.update(_unroll(*shape))
    assert set(metrics) >= COMMON, sorted(COMMON - set(metrics))
    # The mean entropy of a 3-action policy: in (0, log 3], whatever the algorithm.
    assert 0.0 < metrics["entropy"] <= np.log(ACTIONS) + 1e-6
    assert metrics["nonfinite"] == 0.0 and learner.updates >= 1
    assert any(not np.array_equal(a, b) for a, b in zip(before, learner.weights(), strict=True))
