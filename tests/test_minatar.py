"""MinAtar as a game family: names, the missing-extra error, the env's protocol, PPO
learning one game, and every tool on the model it trained."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from drarl_tf.configs import PPOConfig
from drarl_tf.envs import check_game, game_names, make_vector_env
from drarl_tf.envs.minatar import MINATAR_GAMES, OBJECT_CHANNELS
from drarl_tf.errors import DrarlError
from tests.conftest import SCRIPTS

needs_minatar = pytest.mark.skipif(importlib.util.find_spec("minatar") is None,
                                   reason="the minatar extra is not installed")

# The study's PPO settings (drarl_tf/experiments/grid.py, EXPERIMENTS["minatar"]).
STUDY = dict(num_envs=32, unroll_length=64, learning_rate=5e-4, clip_ratio=0.2, value_clip=0.2)
# MinAtar Breakout's random policy scores about 0.4 a game (0.38 over the 58,595 games of
# 32 random envs in 2 s; 0.43 over 100 games by minatar_study.random_policy_score, seed 0,
# both measured 2026-12-05); 60,000 steps of PPO reach 3-4 (the study's first run: 3.87
# at 59,392 steps). The threshold: over 3x random, well below what the run reaches.
RANDOM_BREAKOUT = 0.43
LEARNED_BREAKOUT = 1.5
# The minimal action sets of MinAtar's games (Young & Tian 2019, Appendix).
MINIMAL_ACTIONS = {"MinAtarAsterix": 5, "MinAtarBreakout": 3, "MinAtarFreeway": 3,
                   "MinAtarSeaquest": 6, "MinAtarSpaceInvaders": 4}


def test_names_any_spelling_and_list_games():
    names = game_names()
    assert set(MINATAR_GAMES) <= set(names)
    for spelling in ("MinAtarBreakout", "minatar_breakout", "MinAtar Breakout", "minatar-breakout"):
        assert check_game(spelling) == "MinAtarBreakout"
    out = subprocess.run([sys.executable, str(SCRIPTS / "run_ppo.py"), "--list_games"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert {"MinAtarAsterix", "MinAtarSpaceInvaders", "Catch", "Pong"} <= set(out)


def test_missing_extra_is_one_line_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "minatar", None)  # as if not installed
    for make in (lambda: PPOConfig(game="MinAtarBreakout"),
                 lambda: make_vector_env("MinAtarSeaquest", 2)):
        with pytest.raises(DrarlError) as e:
            make()
        message = str(e.value)
        assert "\n" not in message and "drarl_tf[minatar]" in message
        assert "MinAtar" in message


def test_missing_extra_from_the_command_line(tmp_path):
    # The training script with minatar made unimportable: exit 2, one line, before TF.
    code = ("import sys; sys.modules['minatar'] = None; sys.modules['tensorflow'] = None; "
            "sys.argv = ['run_ppo', '--game=MinAtarBreakout', '--total_frames=1000']; "
            "from drarl_tf.scripts.run_ppo import run; run()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "pip install 'drarl_tf[minatar]'" in lines[0], out.stderr


@needs_minatar
@pytest.mark.parametrize("game", sorted(MINATAR_GAMES))
def test_env_layout_protocol_and_actions(game):
    env = make_vector_env(game, 3)
    obs = env.reset(seed=1)
    assert obs.dtype == np.uint8 and obs.shape == (3, 10, 10, len(OBJECT_CHANNELS[game]))
    assert set(np.unique(obs)) <= {0, 255}
    assert env.frames_per_step == 1 and len(env.action_meanings) == env.num_actions
    assert env.num_actions == MINIMAL_ACTIONS[game] and env.action_meanings[0] == "NOOP"
    assert "sticky actions 0.1" in env.protocol and "difficulty ramping on" in env.protocol
    env.close()


def _play(game, seed, steps=300):
    env = make_vector_env(game, 2)
    frames = [env.reset(seed=seed)]
    rng = np.random.default_rng(0)
    steps_out = []
    for _ in range(steps):
        step = env.step(rng.integers(0, env.num_actions, 2))
        frames.append(step.obs)
        steps_out.append(step)
    env.close()
    return np.stack(frames), steps_out


@needs_minatar
def test_seeded_and_next_step_autoreset():
    a, steps = _play("MinAtarBreakout", seed=5)
    b, _ = _play("MinAtarBreakout", seed=5)
    c, _ = _play("MinAtarBreakout", seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a[:, 0], a[:, 1])  # each env its own seed
    ends = [t for t, s in enumerate(steps) if s.terminated[0]]
    assert ends, "a random Breakout game ends within 300 steps"
    t = ends[0]
    after = steps[t + 1]
    # The step after a game's end only resets: reward 0, a fresh game, its return reported.
    assert after.reset_step[0] and after.reward[0] == 0.0
    assert len(after.episode_returns) >= 1
    assert after.episode_returns[0] == sum(s.reward[0] for s in steps[: t + 1])
    # A fresh game: Breakout starts with its three full rows of bricks (channel 3).
    assert (after.obs[0, 1:4, :, 3] == 255).all() and not (a[t + 1][0, 1:4, :, 3] == 255).all()


def _conv(k, cin, cout):
    return k * k * cin * cout + cout


def _expected_params(net, channels, actions):
    """Parameter counts from the architecture (docs/design.md, Networks), by hand: per
    section a 3x3 conv and two residual blocks (two 3x3 convs each); the attention nets add
    per section a mask branch of one residual block and two 1x1 convs (Large IMPALA: a
    third residual block instead); dense 256 on the last section's 2x2 output (10x10 input,
    three 3x3/2 'same' pools: 5, 3, 2); the policy and value heads."""
    total, cin = 0, channels
    for c in (16, 32, 32):
        total += _conv(3, cin, c) + 4 * _conv(3, c, c)
        if net in ("drarl", "simple_drarl"):
            total += 2 * _conv(3, c, c) + 2 * _conv(1, c, c)
        elif net == "large_impala":
            total += 2 * _conv(3, c, c)
        cin = c
    return total + (2 * 2 * 32 * 256 + 256) + (256 * actions + actions) + 257


def test_the_four_nets_build_on_every_minatar_shape(capsys):
    from drarl_tf.networks import NET_NAMES, build_network

    counts = {}
    for game, channels in OBJECT_CHANNELS.items():
        for net in NET_NAMES:
            actions = MINIMAL_ACTIONS[game]
            model = build_network(net, actions, (10, 10, len(channels)))
            out = model(np.zeros((2, 10, 10, len(channels)), np.uint8))
            assert out["policy_logits"].shape == (2, actions)
            counts[game, net] = model.count_params()
            assert counts[game, net] == _expected_params(net, len(channels), actions), (game, net)
    with capsys.disabled():
        print("\nparameters on MinAtar:", {f"{g}/{n}": c for (g, n), c in counts.items()})


class _FixedGames:
    """A fake VecEnv: env i's games last i + 1 steps and score i + 1."""

    name, num_actions, frames_per_step, obs_shape = "fake", 2, 1, (1, 1, 1)

    def __init__(self, num_envs):
        from drarl_tf.envs import EpisodeTracker

        self.num_envs = num_envs
        self.t = np.zeros(num_envs, int)
        self.done = np.zeros(num_envs, bool)
        self.tracker = EpisodeTracker(num_envs)

    def reset(self, seed=None):
        return np.zeros((self.num_envs, 1, 1, 1), np.uint8)

    def step(self, actions):
        reset = self.done.copy()
        self.t = np.where(reset, 0, self.t + 1)
        length = np.arange(self.num_envs) + 1
        self.done = ~reset & (self.t == length)
        reward = np.where(self.done, length, 0).astype(np.float32)
        return self.tracker.vec_step(self.reset(), reward, self.done,
                                     np.zeros(self.num_envs, bool), reset)

    def close(self):
        pass


def test_random_policy_score_plays_each_env_its_share(monkeypatch):
    from drarl_tf import envs
    from drarl_tf.experiments import minatar_study

    monkeypatch.setattr(envs, "make_vector_env", lambda game, n, training: _FixedGames(n))
    # 2 envs x 3 games each: (1 + 1 + 1 + 2 + 2 + 2) / 6, where taking the first 6 games
    # to end would favour env 0's short games (1, 1, 2, 1, 1, 2 ...).
    assert minatar_study.random_policy_score("MinAtarBreakout", episodes=6,
                                             num_envs=2) == pytest.approx(1.5)


@needs_minatar
def test_a2c_and_impala_train_on_minatar(tmp_path):
    from drarl_tf import a2c
    from drarl_tf.configs import A2CConfig, ImpalaConfig
    from drarl_tf.impala import train

    common = dict(game="MinAtarSpaceInvaders", net="drarl", logdir=str(tmp_path / "runs"),
                  export_dir=str(tmp_path / "saved"), log_interval_seconds=1e9,
                  image_every_frames=0)
    result = a2c.train(A2CConfig(total_frames=2_000, **common))
    assert result.frames >= 2_000 and np.isfinite(result.metrics["loss/total"])
    # IMPALA's actors make their envs in their own (spawned) processes.
    result = train(ImpalaConfig(total_frames=1_000, num_actors=1, envs_per_actor=2,
                                batch_size=2, unroll_length=10, **common))
    assert result.frames >= 1_000 and np.isfinite(result.metrics["loss/total"])


@pytest.fixture(scope="module")
def breakout_run(tmp_path_factory):
    """PPO (impala net, the study's settings) on MinAtar Breakout for 60,000 steps."""
    from drarl_tf import ppo

    root = tmp_path_factory.mktemp("minatar")
    config = PPOConfig(net="impala", game="MinAtarBreakout", total_frames=60_000, seed=0,
                       logdir=str(root / "runs"), export_dir=str(root / "saved"),
                       log_interval_seconds=1e9, checkpoint_minutes=1e9, **STUDY)
    return root, ppo.train(config)


@needs_minatar
def test_ppo_learns_minatar_breakout(breakout_run):
    _, result = breakout_run
    assert result.frames >= 60_000
    assert result.mean_return > LEARNED_BREAKOUT > RANDOM_BREAKOUT, result.mean_return


def _script(name, *args, cwd):
    out = subprocess.run([sys.executable, str(SCRIPTS / f"{name}.py"), *args],
                         capture_output=True, text=True, cwd=cwd)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@needs_minatar
def test_every_tool_on_a_minatar_model(breakout_run, tmp_path):
    root, _ = breakout_run
    model = root / "saved" / "ppo-impala-MinAtarBreakout-s0"
    _script("evaluate", f"--saved_model={model}", "--episodes=20",
            f"--output={tmp_path / 'eval.json'}", cwd=tmp_path)
    evaluation = json.loads((tmp_path / "eval.json").read_text())
    assert evaluation["episodes"] == 20 and evaluation["mean"] > RANDOM_BREAKOUT
    assert "sticky actions 0.1" in evaluation["protocol"]
    out = _script("play", f"--saved_model={model}", f"--output={tmp_path / 'game.gif'}",
                  "--max_steps=50", cwd=tmp_path)
    assert "objects: paddle white, ball red, trail blue, brick yellow" in out
    from PIL import Image

    gif = Image.open(tmp_path / "game.gif").convert("RGB")
    colours = {tuple(c) for c in np.asarray(gif).reshape(-1, 3)}
    assert (255, 200, 0) in colours  # the bricks in yellow, not a grey channel
    _script("visualize", f"--saved_model={model}", f"--output_dir={tmp_path / 'viz'}",
            "--steps=2", cwd=tmp_path)
    assert (tmp_path / "viz" / "step2.png").exists()
    _script("faithfulness", f"--saved_model={model}", f"--output_dir={tmp_path / 'faith'}",
            "--states=4", "--steps=5", "--play_steps=200", cwd=tmp_path)
    table = json.loads((tmp_path / "faith" / "faithfulness.json").read_text())
    (maps,) = table["models"].values()
    assert {"grad_cam", "input_gradient", "random"} <= set(maps)


def test_object_picture_colours_each_channel_and_the_highest_wins():
    from drarl_tf.viz.overlay import OBJECT_COLOURS, legend, object_picture

    obs = np.zeros((10, 10, 4), np.uint8)
    obs[9, 4, 0] = 255  # paddle
    obs[5, 5, 1] = 255  # ball
    obs[5, 5, 2] = 255  # and a trail on the same cell: the higher channel is drawn
    picture = object_picture(obs)
    assert picture.shape == (10, 10, 3) and picture.dtype == np.uint8
    assert tuple(picture[9, 4]) == tuple(OBJECT_COLOURS[0])
    assert tuple(picture[5, 5]) == tuple(OBJECT_COLOURS[2])
    assert (picture[0, 0] == 0).all()
    assert legend(OBJECT_CHANNELS["MinAtarBreakout"]).startswith("objects: paddle white")
