"""MinAtar as a game family: names, the missing-extra error, the env's protocol, PPO
learning one game, and every tool on the model it trained."""

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

pytest.importorskip("minatar")

# The study's PPO settings (drarl_tf/experiments/grid.py, EXPERIMENTS["minatar"]).
STUDY = dict(num_envs=32, unroll_length=64, learning_rate=5e-4, clip_ratio=0.2, value_clip=0.2)
# MinAtar Breakout's random policy scores 0.38 a game (0.36-0.40 measured over 5 x 100
# games); 60,000 steps of PPO reach 3-4. The threshold: well clear of random, well below
# what the run reaches.
RANDOM_BREAKOUT = 0.38
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


def test_seeded_and_next_step_autoreset():
    a, steps = _play("MinAtarBreakout", seed=5)
    b, _ = _play("MinAtarBreakout", seed=5)
    c, _ = _play("MinAtarBreakout", seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    ends = [t for t, s in enumerate(steps) if s.terminated[0]]
    assert ends, "a random Breakout game ends within 300 steps"
    t = ends[0]
    after = steps[t + 1]
    # The step after a game's end only resets: reward 0, a fresh game, its return reported.
    assert after.reset_step[0] and after.reward[0] == 0.0
    assert len(after.episode_returns) >= 1
    assert after.episode_returns[0] == sum(s.reward[0] for s in steps[: t + 1])


def test_the_four_nets_build_on_every_minatar_shape(capsys):
    from drarl_tf.networks import NET_NAMES, build_network

    counts = {}
    for game, channels in OBJECT_CHANNELS.items():
        for net in NET_NAMES:
            model = build_network(net, 6, (10, 10, len(channels)))
            out = model(np.zeros((2, 10, 10, len(channels)), np.uint8))
            assert out["policy_logits"].shape == (2, 6)
            counts[game, net] = model.count_params()
    with capsys.disabled():
        print("\nparameters on MinAtar (6 actions):", {k: v for k, v in counts.items()
                                                        if k[0] == "MinAtarBreakout"})
    # The attention nets add the mask branches; Large IMPALA is larger than IMPALA.
    for game in OBJECT_CHANNELS:
        assert counts[game, "drarl"] > counts[game, "impala"]
        assert counts[game, "large_impala"] > counts[game, "impala"]


def test_random_policy_score_plays_each_env_its_share():
    from drarl_tf.experiments.minatar_study import random_policy_score

    score = random_policy_score("MinAtarBreakout", episodes=200, seed=0)
    assert abs(score - RANDOM_BREAKOUT) < 0.1


@pytest.fixture(scope="module")
def breakout_run(tmp_path_factory):
    """PPO (impala net, the study's settings) on MinAtar Breakout for 60,000 steps."""
    from drarl_tf import ppo

    root = tmp_path_factory.mktemp("minatar")
    config = PPOConfig(net="impala", game="MinAtarBreakout", total_frames=60_000, seed=0,
                       logdir=str(root / "runs"), export_dir=str(root / "saved"),
                       log_interval_seconds=1e9, checkpoint_minutes=1e9, **STUDY)
    return root, ppo.train(config)


def test_ppo_learns_minatar_breakout(breakout_run):
    _, result = breakout_run
    assert result.frames >= 60_000
    assert result.mean_return > LEARNED_BREAKOUT > RANDOM_BREAKOUT, result.mean_return


def _script(name, *args, cwd):
    out = subprocess.run([sys.executable, str(SCRIPTS / f"{name}.py"), *args],
                         capture_output=True, text=True, cwd=cwd)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


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
