"""SavedModel export (plain-TF loading), paper-protocol evaluation, and the play video."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from drarl_tf.bookkeeping.export import LoadedPolicy, export_checkpoint, export_saved_model
from drarl_tf.envs import make_vector_env
from drarl_tf.errors import DrarlError
from drarl_tf.networks import NET_NAMES, build_network
from drarl_tf.training.evaluation import evaluate
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


def test_export_replaces_an_older_export_of_the_same_run_only(tmp_path):
    model = build_network("impala", 3, (20, 10, 4))
    run = dict(game="Catch", net="impala", num_actions=3, run_dir="/runs/a")
    for frames in (1, 2):
        export_saved_model(model, tmp_path / "m", (20, 10, 4), {**run, "frames": frames})
    assert LoadedPolicy(tmp_path / "m").metadata["frames"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    with pytest.raises(DrarlError, match="holds the export of another run \\(/runs/a\\)"):
        export_saved_model(model, tmp_path / "m", (20, 10, 4), {**run, "run_dir": "/runs/b"})
    assert LoadedPolicy(tmp_path / "m").metadata["run_dir"] == "/runs/a"


def test_export_refuses_user_files_and_a_file_in_the_way(tmp_path):
    model = build_network("impala", 3, (20, 10, 4))
    meta = dict(game="Catch", net="impala", num_actions=3, run_dir="/runs/a")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(DrarlError, match="already exists and is not a drarl_tf SavedModel"):
        export_saved_model(model, mine, (20, 10, 4), meta)
    assert (mine / "notes.txt").read_text() == "keep me"
    (tmp_path / "file").write_text("x")
    with pytest.raises(DrarlError, match="it is a file"):
        export_saved_model(model, tmp_path / "file", (20, 10, 4), meta)
    with pytest.raises(DrarlError, match="cannot write a SavedModel to .*file is a file"):
        export_saved_model(model, tmp_path / "file" / "m", (20, 10, 4), meta)


def test_a_read_only_destination_is_one_line(tmp_path, monkeypatch):
    """Root writes through permission bits, so a read-only filesystem is simulated: the
    probe write fails with EROFS, as it does on a read-only mount."""
    import errno
    import tempfile

    def read_only(*args, dir=None, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(dir))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    model = build_network("impala", 3, (20, 10, 4))
    with pytest.raises(DrarlError, match=r"cannot write a SavedModel to .*/ro/m: Read-only "
                                         r"file system \(.*/ro\)"):
        export_saved_model(model, tmp_path / "ro" / "m", (20, 10, 4), dict(game="Catch"))


def _saved_model_cli(args: list[str]) -> subprocess.Popen:
    """`saved_model_cli` as installed with TensorFlow (its module when the script is not
    on PATH next to this Python)."""
    script = Path(sys.executable).with_name("saved_model_cli")
    command = ([str(script)] if script.exists()
               else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"])
    return subprocess.Popen(command + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_saved_model_cli_runs_every_signature_with_the_keras_outputs(tmp_path):
    """TensorFlow's session-based loader (saved_model_cli, TF Serving, the C++ API) on a
    fresh export and on the shipped demo model, against Keras and tf-keras-vis."""
    import tensorflow as tf

    from drarl_tf.viz.gradcam import grad_cam
    from drarl_tf.viz.gradients import policy_from_pixels

    obs_shape = (20, 10, 4)
    model = build_network("drarl", 3, obs_shape)
    path = export_saved_model(model, tmp_path / "m", obs_shape,
                              dict(game="Catch", net="drarl", num_actions=3))
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 256, (4,) + obs_shape, dtype=np.uint8)
    actions = rng.integers(0, 3, 4).astype(np.int32)
    np.save(tmp_path / "obs.npy", obs)
    np.save(tmp_path / "actions.npy", actions)
    inputs = f"observation={tmp_path / 'obs.npy'};action={tmp_path / 'actions.npy'}"
    runs = {}
    for name, directory, signature in [("serve", path, "serving_default"),
                                       ("cam", path, "grad_cam"),
                                       ("grad", path, "input_gradient"),
                                       ("shipped", SHIPPED, "serving_default")]:
        feed = f"observation={tmp_path / 'obs.npy'}" if signature == "serving_default" else inputs
        runs[name] = _saved_model_cli(
            ["run", "--dir", str(directory), "--tag_set", "serve", "--signature_def", signature,
             "--inputs", feed, "--outdir", str(tmp_path / name)])
    for name, proc in runs.items():
        output = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, (name, output[-3000:])

    def served(name, key):
        return np.load(tmp_path / name / f"{key}.npy")

    expected = {k: v.numpy() for k, v in model(obs).items()}
    assert len(expected) == 5  # logits, value, three masks
    for key, value in expected.items():
        np.testing.assert_allclose(served("serve", key), value, atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(served("serve", "greedy_action"),
                                  expected["policy_logits"].argmax(-1))
    np.testing.assert_allclose(served("cam", "grad_cam"),
                               grad_cam(model, obs, actions, upsample=False),
                               atol=1e-5, rtol=1e-5)
    pixels = tf.constant(obs, tf.float32) / 255.0
    with tf.GradientTape() as tape:
        tape.watch(pixels)
        logits = policy_from_pixels(model)(pixels)
        chosen = tf.reduce_sum(tf.gather(logits, actions, batch_dims=1))
    np.testing.assert_allclose(served("grad", "input_gradient"),
                               tape.gradient(chosen, pixels).numpy(), atol=1e-5, rtol=1e-5)
    shipped = LoadedPolicy(SHIPPED)(obs)
    for key, value in shipped.items():
        np.testing.assert_allclose(served("shipped", key), value, atol=1e-5, rtol=1e-5)


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
    assert result["protocol"].startswith("Catch: one falling ball per game")
    assert "Atari" not in result["protocol"].split("(")[0]
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
    run_dir = tmp_path / "runs" / "impala-drarl-Catch-s0"
    assert final.metadata["run_dir"] == str(run_dir.resolve())
    again = export_checkpoint(run_dir, output=tmp_path / "again")
    assert export_checkpoint(run_dir, output=tmp_path / "again") == again  # same run: replaced
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "data.csv").write_text("1,2\n")
    with pytest.raises(DrarlError, match="already exists and is not a drarl_tf SavedModel"):
        export_checkpoint(run_dir, output=tmp_path / "user")
    assert (tmp_path / "user" / "data.csv").exists()
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


@pytest.mark.slow
def test_a_run_never_overwrites_another_runs_export(tmp_path):
    """Two logdirs, one --export_dir: the second run is refused before it trains, and by
    default each run exports into its own directory."""
    from drarl_tf import a2c

    base = dict(net="impala", game="Catch", num_envs=2, total_frames=20, image_every_frames=0,
                milestone_fractions=(), log_interval_seconds=1e9)
    first = a2c.train(a2c.A2CConfig(**base, logdir=str(tmp_path / "a"),
                                    export_dir=str(tmp_path / "shared")))
    exported = tmp_path / "shared" / "a2c-impala-Catch-s0"
    assert LoadedPolicy(exported).metadata["run_dir"] == first.run_dir
    with pytest.raises(DrarlError, match="holds the export of another run"):
        a2c.train(a2c.A2CConfig(**base, logdir=str(tmp_path / "b"),
                                export_dir=str(tmp_path / "shared")))
    assert not (tmp_path / "b" / "a2c-impala-Catch-s0" / "checkpoints").exists()
    assert LoadedPolicy(exported).metadata["run_dir"] == first.run_dir
    second = a2c.train(a2c.A2CConfig(**base, logdir=str(tmp_path / "b")))
    own = LoadedPolicy(f"{second.run_dir}/saved_model")
    assert own.metadata["run_dir"] == second.run_dir != first.run_dir
