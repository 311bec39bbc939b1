"""The rollout collector: clipped rewards for learning, raw game scores for logging, masks."""

import numpy as np

from drarl_tf.envs import EpisodeTracker, VecEnv, VecStep
from drarl_tf.training.rollout import RolloutCollector, sample_actions


class _Scripted(VecEnv):
    """One env: rewards 5, -3, 7 then a termination; next-step autoreset after it."""

    name, num_envs, obs_shape, num_actions, action_meanings = "s", 1, (2, 2, 1), 2, ("A", "B")

    def __init__(self):
        self.t = 0
        self.tracker = EpisodeTracker(1)

    def reset(self, seed=None):
        self.t = 0
        return np.zeros((1, 2, 2, 1), np.uint8)

    def step(self, actions):
        phase = self.t % 4
        self.t += 1
        reward = np.array([(5.0, -3.0, 7.0, 0.0)[phase]], np.float32)
        reset_step = np.array([phase == 3])
        returns, lengths = self.tracker.update(reward, reset_step)
        return VecStep(np.full((1, 2, 2, 1), self.t, np.uint8), reward,
                       np.array([phase == 2]), np.array([False]), reset_step, returns, lengths)

    def close(self):
        pass


def test_rewards_are_clipped_for_learning_and_scores_stay_raw():
    policy = lambda obs: (np.zeros((1, 2), np.float32), np.zeros(1, np.float32))  # noqa: E731
    collector = RolloutCollector(_Scripted(), policy, length=8, discount=0.99, reward_clip=1.0,
                                 seed=0)
    rollout, episodes = collector.collect()
    np.testing.assert_array_equal(rollout.rewards[:, 0], [1, -1, 1, 0, 1, -1, 1, 0])
    np.testing.assert_allclose(rollout.discounts[:, 0], [0.99, 0.99, 0, 0.99] * 2)
    np.testing.assert_array_equal(rollout.mask[:, 0], [1, 1, 1, 0] * 2)
    np.testing.assert_array_equal(episodes.returns, [9.0, 9.0])  # 5 - 3 + 7
    assert rollout.obs.shape == (9, 1, 2, 2, 1) and rollout.obs[-1, 0, 0, 0, 0] == 8


def test_sampled_actions_follow_the_softmax():
    rng = np.random.default_rng(0)
    logits = np.log(np.array([[0.1, 0.2, 0.7]] * 20000))
    counts = np.bincount(sample_actions(logits, rng), minlength=3) / 20000
    np.testing.assert_allclose(counts, [0.1, 0.2, 0.7], atol=0.015)
