"""SavedModel export (plain-TF loading), paper-protocol evaluation, and the play video."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from drarl_tf.envs import make_vector_env
from drarl_tf.errors import DrarlError
from drarl_tf.networks import NET_NAMES, build_network
from drarl_tf.runtime.evaluation import evaluate
from drarl_tf.runtime.export import LoadedPolicy, export_checkpoint, export_saved_model
from drarl_tf.viz.video import play_episode, write_gif
from tests.conftest import SCRIPTS

SHIPPED = Path(__file__).resolve().parents[1] / "saved_models" / "demo-impala-drarl-Catch"

_LOAD_WITHOUT_DRARL = textwrap.dedent(
    """
    import sys, json, numpy as np, tensorflow as tf
    model = tf.saved_model.load(sys.argv[1])
    obs = np.load(sys.argv[2])
    out = model.signatures["serving_default"](observation=tf.constant(obs))
    assert "drarl_tf" not in sys.modules, "loading must not import drarl_tf"
    np.savez(sys.argv[3], **{k: v.numpy() for k, v in out.items()})
    print(json.loads(model.metadata.numpy().decode())["net"])
    """
)


@pytest.mark.parametrize("net", NET_NAMES)
def test_savedmodel_matches_keras_in_a_process_without_drarl_tf(tmp_path, net):
    obs_shape = (20, 10, 4)
    model = build_network(net, 3, obs_shape)
    path = export_saved_model(model, tmp_path / net, obs_shape,
                              dict(game="Catch", net=net, num_actions=3))
    obs = np.random.default_rng(0).integers(0, 256, (5,) + obs_shape, dtype=np.uint8)
    np.save(tmp_path / "obs.npy", obs)
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_WITHOUT_DRARL, path, str(tmp_path / "obs.npy"),
         str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=300,
        cwd=tmp_path)  # outside the repository: drarl_tf is not on the path by accident
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == net
    served = dict(np.load(tmp_path / "out.npz"))
    expected = {k: v.numpy() for k, v in model(obs).items()}
    assert set(served) == set(expected) | {"greedy_action"}
    for key, value in expected.items():
        np.testing.assert_allclose(served[key], value, atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(served["greedy_action"], expected["policy_logits"].argmax(-1))
    masks = sorted(k for k in served if k.startswith("mask_"))
    assert masks == ([] if net in ("impala", "large_impala") else
                     ["mask_section0", "mask_section1", "mask_section2"])


def test_export_replaces_an_older_export(tmp_path):
    model = build_network("impala", 3, (20, 10, 4))
    for frames in (1, 2):
        export_saved_model(model, tmp_path / "m", (20, 10, 4),
                           dict(game="Catch", net="impala", num_actions=3, frames=frames))
    assert LoadedPolicy(tmp_path / "m").metadata["frames"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_shipped_catch_model_beats_random_and_eval_json_has_the_fields(tmp_path):
    out_file = tmp_path / "eval.json"
    out = subprocess.run(
        [sys.executable, str(SCRIPTS / "evaluate.py"), f"--saved_model={SHIPPED}", "--episodes=200",
         f"--output={out_file}"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out_file.read_text())
    for key in ("scores", "mean", "std", "median", "frames", "episodes", "game", "greedy"):
        assert key in result
    assert result["episodes"] == len(result["scores"]) == 200
    assert result["frames"] == 200 * 9  # every Catch game lasts 9 steps
    # Random play returns -0.6 on average (std 0.8, so 200 games: +-0.06).
    assert result["mean"] >= 0.6
    assert "mean" in out.stdout


def test_evaluation_plays_a_fixed_quota_per_env():
    class Always:
        def __call__(self, obs):
            return {"policy_logits": np.zeros((obs.shape[0], 3), np.float32)}

    env = make_vector_env("Catch", 4, training=False)
    result = evaluate(Always(), env, episodes=10, seed=1)
    assert result["episodes"] == 10 and len(result["scores"]) == 10
    assert set(result["scores"]) <= {-1.0, 1.0}


def test_checkpoint_export_round_trip(tmp_path):
    from drarl_tf.impala import ImpalaConfig, train

    config = ImpalaConfig(net="drarl", game="Catch", total_frames=40, unroll_length=5,
                          batch_size=4, envs_per_actor=2, logdir=str(tmp_path / "runs"),
                          export_dir=str(tmp_path / "saved"), log_interval_seconds=1e9)
    train(config)
    final = LoadedPolicy(tmp_path / "saved" / "impala-drarl-Catch-s0")
    assert final.metadata["frames"] == 40 and final.metadata["algo"] == "impala"
    again = export_checkpoint(tmp_path / "runs" / "impala-drarl-Catch-s0",
                              output=tmp_path / "again")
    obs = np.random.default_rng(0).integers(0, 256, (3, 20, 10, 4), dtype=np.uint8)
    a, b = final(obs), LoadedPolicy(again)(obs)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-6)


def test_play_writes_a_non_blank_gif_with_the_mask(tmp_path):
    from PIL import Image

    policy = LoadedPolicy(SHIPPED)
    env = make_vector_env("Catch", 1, training=False)
    frames, score = play_episode(policy, env, mask="mask_section0")
    assert len(frames) == 9 and score in (-1.0, 1.0)
    path = write_gif(frames, tmp_path / "episode.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 9
        pixels = np.asarray(gif.convert("RGB"))
    assert pixels.std() > 0 and pixels.max() > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--saved_model=/nonexistent/model"], "no SavedModel at /nonexistent/model"),
        ([f"--saved_model={SHIPPED}", "--episodes=0"], "--episodes must be >= 1"),
        ([f"--saved_model={SHIPPED}", "--episodes=-3"], "--episodes must be >= 1"),
        ([f"--saved_model={SHIPPED}", "--game=Pong"], "takes observations (20, 10, 4)"),
    ],
)
def test_evaluate_bad_input_is_one_line(args, message, tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPTS / "evaluate.py"), *args,
                          f"--output={tmp_path / 'e.json'}"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last and "Traceback" not in out.stderr


def test_mask_of_a_net_without_attention_is_a_clear_error(tmp_path):
    model = build_network("impala", 3, (20, 10, 4))
    path = export_saved_model(model, tmp_path / "m", (20, 10, 4),
                              dict(game="Catch", net="impala", num_actions=3))
    env = make_vector_env("Catch", 1, training=False)
    with pytest.raises(DrarlError, match="no mask 'mask_section0'.*no attention"):
        play_episode(LoadedPolicy(path), env, mask="mask_section0")
