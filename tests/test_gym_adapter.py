"""Any gymnasium vector env with image observations and discrete actions is accepted."""

import gymnasium as gym
import numpy as np
import pytest

from drarl_tf.envs import CatchVectorEnv, GymnasiumVecEnv
from drarl_tf.errors import DrarlError


class _Spaces(gym.vector.VectorEnv):
    metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}

    def __init__(self, obs_space, action_space, mode=gym.vector.AutoresetMode.NEXT_STEP):
        self.num_envs = 2
        self.single_observation_space = obs_space
        self.single_action_space = action_space
        self.metadata = {"autoreset_mode": mode}


IMAGE = gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)


@pytest.mark.parametrize(
    "obs_space, action_space, message",
    [
        (gym.spaces.Box(-1, 1, (4,), np.float32), gym.spaces.Discrete(2), "uint8 images"),
        (gym.spaces.Box(0, 1, (8, 8, 3), np.float32), gym.spaces.Discrete(2), "uint8 images"),
        (IMAGE, gym.spaces.Box(-1, 1, (2,), np.float32), "Discrete"),
    ],
)
def test_non_image_or_continuous_envs_are_refused(obs_space, action_space, message):
    with pytest.raises(DrarlError, match=message):
        GymnasiumVecEnv(_Spaces(obs_space, action_space), name="mine")


def test_same_step_autoreset_is_refused():
    env = _Spaces(IMAGE, gym.spaces.Discrete(2), gym.vector.AutoresetMode.SAME_STEP)
    with pytest.raises(DrarlError, match="NEXT_STEP"):
        GymnasiumVecEnv(env)


def test_adapter_reports_spaces():
    env = GymnasiumVecEnv(CatchVectorEnv(2, rows=8, columns=6, scale=3, stack=2), name="c")
    assert env.obs_shape == (24, 18, 2) and env.num_actions == 3
    assert env.action_meanings == ("LEFT", "NOOP", "RIGHT")


def test_a_raw_gymnasium_vector_env_is_wrapped_and_anything_else_refused():
    from drarl_tf.envs import as_vec_env

    wrapped = as_vec_env(CatchVectorEnv(2, rows=8, columns=6, scale=3, stack=2))
    assert isinstance(wrapped, GymnasiumVecEnv) and wrapped.obs_shape == (24, 18, 2)
    with pytest.raises(DrarlError, match="must return a drarl_tf.envs.VecEnv or a "
                                         "gymnasium.vector.VectorEnv, got dict") as e:
        as_vec_env({}, "env_fn")
    assert "\n" not in str(e.value)


def test_training_accepts_an_env_fn_returning_a_raw_gymnasium_vector_env(tmp_path):
    """Before: `AttributeError: ... has no attribute 'frames_per_step'`."""
    from drarl_tf import a2c

    config = a2c.A2CConfig(net="impala", game="Catch", num_envs=2, unroll_length=5,
                           total_frames=40, logdir=str(tmp_path), image_every_frames=0)
    result = a2c.train(config, env_fn=lambda n: CatchVectorEnv(n))
    assert result.frames == 40 and result.updates == 4
    assert (tmp_path / "a2c-impala-CatchVectorEnv-s0" / "config.json").exists()
