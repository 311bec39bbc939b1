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
