"""Grad-CAM against a direct GradientTape computation of eq. 13-14; overlays; image summaries."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from drarl_tf.errors import DrarlError
from drarl_tf.networks import NET_NAMES, build_network
from drarl_tf.viz.gradcam import grad_cam
from drarl_tf.viz.overlay import afterimage, overlay, upsample_bilinear


def _reference_grad_cam(model, obs, actions):
    """Eq. 13: alpha_k = mean_ij dy^a/dA^k_ij; eq. 14: ReLU(sum_k alpha_k A^k)."""
    features_model = keras.Model(model.input, [model.get_layer("torso_features").output,
                                               model.output["policy_logits"]])
    with tf.GradientTape() as tape:  # watches the variables, so the uint8 input is no obstacle
        features, logits = features_model(obs)
        tape.watch(features)
        chosen = tf.reduce_sum(tf.gather(logits, actions, batch_dims=1))
    grads = tape.gradient(chosen, features)
    alpha = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    return tf.nn.relu(tf.reduce_sum(alpha * features, axis=-1)).numpy()


@pytest.mark.parametrize("net", NET_NAMES)
def test_grad_cam_equals_eq_13_14(net):
    model = build_network(net, 4, (24, 16, 4))
    obs = np.random.default_rng(0).integers(0, 256, (3, 24, 16, 4), dtype=np.uint8)
    actions = np.array([0, 3, 1])
    cam = grad_cam(model, obs, actions, upsample=False)
    np.testing.assert_allclose(cam, _reference_grad_cam(model, obs, actions), atol=1e-5)
    assert grad_cam(model, obs, actions).shape == (3, 24, 16)


def test_unknown_layer_lists_the_valid_ones():
    model = build_network("impala", 4, (24, 16, 4))
    with pytest.raises(DrarlError, match="no layer 'conv9'.*torso_features"):
        grad_cam(model, np.zeros((1, 24, 16, 4), np.uint8), layer="conv9")


def test_upsample_and_overlay():
    maps = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    big = upsample_bilinear(maps, 4, 4)
    assert big.shape == (4, 4) and big[0, 0] == 0.0 and big[0, 3] == 1.0
    np.testing.assert_allclose(big, tf.image.resize(maps[None, ..., None], (4, 4))[0, ..., 0],
                               atol=1e-6)
    grey = np.full((4, 4), 100, np.uint8)
    rgb = overlay(grey, maps)
    assert rgb.shape == (4, 4, 3) and rgb.dtype == np.uint8
    assert rgb[0, 3, 0] > rgb[0, 0, 0]  # red where the map is high
    stack = np.zeros((4, 4, 4), np.uint8)
    stack[0, 0, 3], stack[1, 1, 0] = 200, 200
    frame = afterimage(stack)
    assert frame[0, 0] == 200 and 0 < frame[1, 1] < 200  # the oldest frame is fainter


def _images_in_events(tb_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tb_dir), size_guidance={"tensors": 0})
    acc.Reload()
    images = {}
    for tag in acc.Tags()["tensors"]:
        if tag.startswith(("attention/", "gradcam/")):
            events = acc.Tensors(tag)
            width, height, *pngs = tf.make_ndarray(events[-1].tensor_proto)
            images[tag] = (len(events), int(height), int(width), len(pngs))
    return images


@pytest.mark.parametrize("net", ["drarl", "impala"])
def test_training_writes_mask_and_grad_cam_images_to_tensorboard(tmp_path, net):
    from drarl_tf import a2c

    config = a2c.A2CConfig(net=net, game="Catch", num_envs=4, total_frames=60,
                           image_every_updates=2, logdir=str(tmp_path), log_interval_seconds=1e9)
    a2c.train(config)
    images = _images_in_events(tmp_path / f"a2c-{net}-Catch-s0" / "tb")
    # 3 updates -> images after the 1st and 3rd; Catch's 20x10 frames enlarged 9x.
    expected = {"gradcam/policy": (2, 180, 90, 4)}
    if net == "drarl":
        expected.update({f"attention/mask_section{i}": (2, 180, 90, 4) for i in range(3)})
    assert images == expected


def test_impala_writes_images_too(tmp_path):
    from drarl_tf.impala import ImpalaConfig, train

    config = ImpalaConfig(net="drarl", game="Catch", total_frames=40, unroll_length=5,
                          batch_size=4, envs_per_actor=2, image_every_updates=1,
                          logdir=str(tmp_path), log_interval_seconds=1e9)
    train(config)
    images = _images_in_events(tmp_path / "impala-drarl-Catch-s0" / "tb")
    assert set(images) == {"gradcam/policy"} | {f"attention/mask_section{i}" for i in range(3)}
    assert all(v[0] == 2 and v[3] == 2 for v in images.values())  # 2 updates, 2 envs' frames


def test_saved_model_signatures_equal_the_keras_computations(tmp_path):
    from drarl_tf.runtime.export import LoadedPolicy, export_saved_model

    model = build_network("drarl", 3, (20, 10, 4))
    path = export_saved_model(model, tmp_path / "m", (20, 10, 4),
                              dict(game="Catch", net="drarl", num_actions=3))
    obs = np.random.default_rng(1).integers(0, 256, (2, 20, 10, 4), dtype=np.uint8)
    actions = np.array([2, 0])
    loaded = LoadedPolicy(path)
    np.testing.assert_allclose(loaded.grad_cam(obs, actions),
                               grad_cam(model, obs, actions, upsample=False), atol=1e-5)
    from drarl_tf.viz.statistics import input_gradient_histogram

    expected = input_gradient_histogram(model, obs, actions)["abs_gradients"]
    np.testing.assert_allclose(np.abs(loaded.input_gradient(obs, actions)).ravel(), expected,
                               atol=1e-6)


def test_visualize_script_writes_panels_from_the_shipped_model(tmp_path):
    import subprocess
    import sys

    from PIL import Image

    from tests.conftest import REPO, SCRIPTS

    out = subprocess.run(
        [sys.executable, str(SCRIPTS / "visualize.py"),
         f"--saved_model={REPO / 'saved_models' / 'demo-impala-drarl-Catch'}", "--steps=0,3",
         f"--output_dir={tmp_path}"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    for step in (0, 3):
        with Image.open(tmp_path / f"step{step}.png") as png:
            pixels = np.asarray(png.convert("RGB"))
        # 5 tiles (frames, 3 masks, Grad-CAM) of 10 columns, 2-pixel gaps, enlarged 9x.
        assert pixels.shape == (180, (5 * 10 + 4 * 2) * 9, 3) and pixels.std() > 0
    assert (tmp_path / "gradient_histogram.png").stat().st_size > 1000


def test_gradient_histogram_fractions_match_a_numpy_count():
    from drarl_tf.viz.statistics import GRADIENT_EDGES, input_gradient_histogram

    model = build_network("drarl", 3, (20, 10, 4))
    obs = np.random.default_rng(0).integers(0, 256, (4, 20, 10, 4), dtype=np.uint8)
    hist = input_gradient_histogram(model, obs)
    grads = hist["abs_gradients"]
    assert grads.size == obs.size
    for i, fraction in enumerate(hist["fractions"]):
        lo, hi = GRADIENT_EDGES[i], GRADIENT_EDGES[i + 1]
        inside = (grads >= lo) & ((grads < hi) if i < len(hist["fractions"]) - 1 else True)
        assert fraction == pytest.approx(inside.mean())


def test_learning_curves_over_seeds(tmp_path):
    import subprocess
    import sys

    from drarl_tf import a2c
    from tests.conftest import SCRIPTS

    runs = []
    for seed in (0, 1):
        config = a2c.A2CConfig(net="impala", game="Catch", num_envs=4, total_frames=400,
                               seed=seed, image_every_updates=0, logdir=str(tmp_path),
                               log_interval_seconds=1e9)
        runs.append(a2c.train(config).run_dir)
    out = subprocess.run([sys.executable, str(SCRIPTS / "plot_curves.py"), f"--runs={','.join(runs)}",
                          f"--output={tmp_path / 'c.png'}", f"--output_csv={tmp_path / 'c.csv'}"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "a2c-impala-Catch: 2 runs" in out.stdout
    assert (tmp_path / "c.png").stat().st_size > 1000
    from drarl_tf.viz.statistics import read_returns

    lines = (tmp_path / "c.csv").read_text().splitlines()
    assert lines[0] == "run,frames,episode_return"
    for run in runs:  # every logged point of each run, in order
        frames, returns = read_returns(f"{run}/tb")
        rows = [line.split(",") for line in lines[1:] if line.startswith(run.rsplit("/", 1)[1])]
        np.testing.assert_allclose([float(r[1]) for r in rows], frames)
        np.testing.assert_allclose([float(r[2]) for r in rows], returns, rtol=1e-5)
