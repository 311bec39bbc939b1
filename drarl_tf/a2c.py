"""A2C (synchronous advantage actor-critic) with OpenAI baselines' Atari defaults."""

from __future__ import annotations

from drarl_tf.bookkeeping.session import TrainResult
from drarl_tf.configs import A2CConfig
from drarl_tf.losses import a2c_loss, gae_advantages
from drarl_tf.training.learner import Learner, flatten_time
from drarl_tf.training.on_policy import train_on_policy
from drarl_tf.training.unroll import Unroll, unroll_spec


def a2c_loss_fn(config: A2CConfig):
    """A2C's `loss_fn` on a rollout: n-step returns bootstrapped from V(x_T) (lambda = 1,
    baselines' A2C), then the actor-critic loss averaged over the real transitions."""

    def loss_fn(model, batch: Unroll):
        returns = gae_advantages(batch.rewards, batch.values[:-1], batch.values[-1],
                                 batch.discounts, batch.mask, lambda_=1.0).returns
        out = model(flatten_time(batch.obs[:-1]), training=True)
        loss = a2c_loss(out["policy_logits"], out["value"], flatten_time(batch.actions),
                        flatten_time(returns), flatten_time(batch.mask), config.value_coef,
                        config.entropy_coef)
        return loss.total, {"loss/policy": loss.policy, "loss/value": loss.value,
                            "entropy": loss.entropy}

    return loss_fn


class A2CLearner(Learner):
    """One RMSProp step per rollout on `a2c_loss_fn`."""

    def __init__(self, config: A2CConfig, obs_shape, num_actions: int, frames_per_update: int):
        super().__init__(
            config, obs_shape, num_actions, frames_per_update, loss_fn=a2c_loss_fn(config),
            batch_spec=unroll_spec(config.unroll_length, config.num_envs, obs_shape,
                                   num_actions))


def train(config: A2CConfig, env_fn=None) -> TrainResult:
    """Trains A2C until `config.total_frames`; resumes from the run directory's checkpoint."""
    from drarl_tf.viz.summaries import RunImages

    return train_on_policy("a2c", config, A2CLearner, env_fn, images=RunImages)
