"""Grad-CAM against a direct GradientTape computation of eq. 13-14; overlays; image summaries."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from drarl_tf.errors import DrarlError
from drarl_tf.networks import NET_NAMES, build_network
from drarl_tf.viz.gradcam import grad_cam
from drarl_tf.viz.overlay import afterimage, upsample_bilinear


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


def test_upsample_afterimage_and_the_colour_scale():
    maps = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    big = upsample_bilinear(maps, 4, 4)
    assert big.shape == (4, 4) and big[0, 0] == 0.0 and big[0, 3] == 1.0
    np.testing.assert_allclose(big, tf.image.resize(maps[None, ..., None], (4, 4))[0, ..., 0],
                               atol=1e-6)
    from drarl_tf.viz.scale import colour_bar, from_rgb, resize_nearest, to_rgb

    values = np.linspace(-0.5, 1.5, 2001)
    back = from_rgb(to_rgb(values, 0.0, 1.0), 0.0, 1.0)
    np.testing.assert_allclose(back, np.clip(values, 0, 1), atol=0.5 / 255 + 1e-9)
    np.testing.assert_allclose(from_rgb(to_rgb(values, -2, 6), -2, 6), values, atol=4 / 255)
    lightness = to_rgb(np.linspace(0, 1, 11), 0, 1).astype(float) @ [0.299, 0.587, 0.114]
    assert (np.diff(lightness) > 0).all()  # brighter means higher, also in grey
    bar = colour_bar(50)
    np.testing.assert_allclose(from_rgb(bar[:, 0], 0, 1), np.linspace(1, 0, 50),
                               atol=0.5 / 255 + 1e-9)
    np.testing.assert_array_equal(resize_nearest(maps, 4, 6)[:, :3], [[0, 0, 0], [0, 0, 0],
                                                                       [1, 1, 1], [1, 1, 1]])
    stack = np.zeros((4, 4, 4), np.uint8)
    stack[0, 0, 3], stack[1, 1, 0] = 200, 200
    frame = afterimage(stack)
    assert frame[0, 0] == 200 and 0 < frame[1, 1] < 200  # the oldest frame is fainter


def _images_in_events(tb_dir) -> dict:
    """{tag: [(step, RGB image)]} of the image summaries in a run's TensorBoard events."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tb_dir), size_guidance={"tensors": 0})
    acc.Reload()
    images = {}
    for tag in acc.Tags()["tensors"]:
        if tag.startswith(("attention", "gradcam/")) and not tag.startswith("attention_range"):
            found = []
            for event in acc.Tensors(tag):
                _, _, *pngs = tf.make_ndarray(event.tensor_proto)
                assert len(pngs) == 1
                found.append((event.step, tf.io.decode_png(pngs[0]).numpy()))
            images[tag] = found
    return images


def test_training_writes_images_on_the_absolute_mask_scale(tmp_path):
    """A2C on Catch: images at the first update, every image_every_frames and at the end,
    on a fixed batch of distinct states; the mask tiles' colours map back, through the
    colour scale, to the masks of the exported model on those states."""
    from drarl_tf import a2c
    from drarl_tf.bookkeeping.export import LoadedPolicy
    from drarl_tf.viz.panels import batch_grid
    from drarl_tf.viz.scale import MASK_RANGE, from_rgb, resize_nearest

    config = a2c.A2CConfig(net="drarl", game="Catch", num_envs=4, total_frames=60,
                           image_every_frames=40, logdir=str(tmp_path), log_interval_seconds=1e9)
    run = tmp_path / "a2c-drarl-Catch-s0"
    a2c.train(config)  # 3 updates of 20 frames
    images = _images_in_events(run / "tb")
    names = [f"mask_section{i}" for i in range(3)]
    assert set(images) == ({"gradcam/policy"} | {f"attention/{n}" for n in names}
                           | {f"attention_channels/{n}" for n in names})
    assert all([step for step, _ in v] == [20, 40, 60] for v in images.values())
    states = np.load(run / "image_states.npy")
    assert states.shape == (4, 20, 10, 4)
    assert len({s.tobytes() for s in states}) == 4  # no two states alike
    masks = LoadedPolicy(run / "saved_model")(states)  # the final weights, as the last images
    scale = 9  # Catch's 20-pixel frames drawn at least 168 pixels high
    for name in names:
        image = images[f"attention/{name}"][-1][1]
        means = masks[name].mean(-1)
        expected, boxes = batch_grid(states[..., -1], means, *MASK_RANGE, name, True, scale)
        assert image.shape == expected.shape
        for n, row in enumerate(boxes):
            y, x = row[1]  # the absolute-scale column
            tile = image[y:y + 20 * scale, x:x + 10 * scale]
            recovered = from_rgb(tile, *MASK_RANGE)
            truth = resize_nearest(means[n], 20 * scale, 10 * scale)
            np.testing.assert_allclose(recovered, truth, atol=0.5 / 255 + 1e-6)
    # The fixed batch survives a resume: the same states, images again from the restart.
    config = a2c.A2CConfig(**{**config.__dict__, "total_frames": 100})
    a2c.train(config)
    np.testing.assert_array_equal(np.load(run / "image_states.npy"), states)
    steps = [step for step, _ in _images_in_events(run / "tb")["gradcam/policy"]]
    assert steps == [20, 40, 60, 80, 100]  # the resumed run's first update, then its end


def test_diverse_states_are_distinct_and_spread():
    rng = np.random.default_rng(0)
    # Every stacked frame holds a dot: one-valued frames are blank (a reset's) and would be
    # chosen last (tests/test_viz_readable.py).
    dark = np.zeros((5, 8, 8, 4), np.uint8)  # five identical dark states
    dark[:, 3, 4] = 60
    light = np.full((3, 8, 8, 4), 250, np.uint8)  # three identical light ones
    light[:, 3, 4] = 190
    noisy = rng.integers(100, 140, (4, 8, 8, 4)).astype(np.uint8)
    obs = np.concatenate([dark, noisy, light])[None]  # [T, B, H, W, C] like an unroll
    from drarl_tf.viz.summaries import select_diverse_states

    chosen = select_diverse_states(obs, 4, seed=3)
    assert len({c.tobytes() for c in chosen}) == 4
    kinds = {int(c.mean() // 100) for c in chosen}
    assert {0, 2} <= kinds  # both extremes, not four mid-grey neighbours
    np.testing.assert_array_equal(chosen, select_diverse_states(obs, 4, seed=3))
    assert len(select_diverse_states(dark, 4)) == 1  # only one distinct state exists


@pytest.mark.slow
def test_impala_writes_images_too(tmp_path):
    from drarl_tf.impala import ImpalaConfig, train

    config = ImpalaConfig(net="drarl", game="Catch", total_frames=40, unroll_length=5,
                          batch_size=4, envs_per_actor=2, image_every_frames=1,
                          logdir=str(tmp_path), log_interval_seconds=1e9)
    train(config)
    images = _images_in_events(tmp_path / "impala-drarl-Catch-s0" / "tb")
    assert {"gradcam/policy", "attention/mask_section0"} <= set(images)
    assert all([step for step, _ in v] == [20, 40] for v in images.values())  # 2 updates
    states = np.load(tmp_path / "impala-drarl-Catch-s0" / "image_states.npy")
    assert len({s.tobytes() for s in states}) == len(states) >= 2


def test_saved_model_signatures_equal_the_keras_computations(tmp_path):
    from drarl_tf.bookkeeping.export import LoadedPolicy, export_saved_model

    model = build_network("drarl", 3, (20, 10, 4))
    path = export_saved_model(model, tmp_path / "m", (20, 10, 4),
                              dict(game="Catch", net="drarl", num_actions=3))
    obs = np.random.default_rng(1).integers(0, 256, (2, 20, 10, 4), dtype=np.uint8)
    actions = np.array([2, 0])
    loaded = LoadedPolicy(path)
    np.testing.assert_allclose(loaded.grad_cam(obs, actions),
                               grad_cam(model, obs, actions, upsample=False), atol=1e-5)
    from drarl_tf.viz.gradients import input_gradient_histogram

    expected = input_gradient_histogram(model, obs, actions)["abs_gradients"]
    np.testing.assert_allclose(np.abs(loaded.input_gradient(obs, actions)).ravel(), expected,
                               atol=1e-6)


def test_visualize_compares_two_models_on_the_same_states(tmp_path):
    """Fig. 6: two SavedModels explained on the same states; each row's tiles read back to
    that model's own masks and Grad-CAM through the colour scales."""
    import subprocess
    import sys

    from PIL import Image

    from drarl_tf.bookkeeping.export import LoadedPolicy, export_saved_model
    from drarl_tf.envs import make_vector_env
    from drarl_tf.viz.panels import explanation_rows
    from drarl_tf.viz.scale import MASK_RANGE, from_rgb, resize_nearest
    from tests.conftest import REPO, SCRIPTS

    shipped = REPO / "saved_models" / "demo-impala-drarl-Catch"
    other = export_saved_model(build_network("impala", 3, (20, 10, 4)), tmp_path / "impala",
                               (20, 10, 4), dict(game="Catch", net="impala", num_actions=3,
                                                 frames=0))
    out = subprocess.run(
        [sys.executable, str(SCRIPTS / "visualize.py"), f"--saved_model={shipped},{other}",
         "--steps=0,3", "--greedy", f"--output_dir={tmp_path / 'viz'}"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    with Image.open(tmp_path / "viz" / "step0.png") as png:
        pixels = np.asarray(png.convert("RGB"))
    models = [LoadedPolicy(shipped), LoadedPolicy(other)]
    obs = make_vector_env("Catch", 1, training=False).reset(seed=0)
    rows = []
    labels = ["demo-impala-drarl-Catch (drarl, 150,400 frames)", "impala (impala, 0 frames)"]
    assert f"(rows: {', '.join(labels)})" in out.stdout  # the run's name (or directory) first
    for label, policy in zip(labels, models, strict=True):
        served = policy(obs)
        greedy = served["policy_logits"].argmax(-1).astype(np.int32)
        rows.append((label, {n: served[n][0] for n in policy.mask_names},
                     policy.grad_cam(obs, greedy)[0]))
    expected, boxes, titles = explanation_rows(rows, obs[0], 9)
    assert pixels.shape == expected.shape and titles[-1] == "Grad-CAM"
    cam_max = max(float(r[2].max()) for r in rows)
    for (_, masks, cam), row_boxes in zip(rows, boxes, strict=True):
        y, x = row_boxes[-1]
        np.testing.assert_allclose(from_rgb(pixels[y:y + 180, x:x + 90], 0, cam_max),
                                   resize_nearest(cam, 180, 90), atol=0.5 / 255 * cam_max + 1e-6)
        for (y, x), name in zip(row_boxes[1:4], sorted(masks), strict=False):
            np.testing.assert_allclose(from_rgb(pixels[y:y + 180, x:x + 90], *MASK_RANGE),
                                       resize_nearest(masks[name].mean(-1), 180, 90),
                                       atol=0.5 / 255 + 1e-6)
    assert (tmp_path / "viz" / "step3_mask_section2_channels.png").exists()
    assert (tmp_path / "viz" / "gradient_histogram.png").stat().st_size > 1000


def test_gradient_histogram_fractions_match_a_numpy_count():
    from drarl_tf.viz.gradients import GRADIENT_EDGES, input_gradient_histogram

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
                               seed=seed, image_every_frames=0, logdir=str(tmp_path),
                               log_interval_seconds=1e9)
        runs.append(a2c.train(config).run_dir)
    out = subprocess.run([sys.executable, str(SCRIPTS / "plot_curves.py"), f"--runs={','.join(runs)}",
                          f"--output={tmp_path / 'c.png'}", f"--output_csv={tmp_path / 'c.csv'}"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "a2c-impala-Catch: 2 runs" in out.stdout
    assert (tmp_path / "c.png").stat().st_size > 1000
    from drarl_tf.viz.curves import read_returns

    lines = (tmp_path / "c.csv").read_text().splitlines()
    assert lines[0] == "run,frames,episode_return"
    for run in runs:  # every logged point of each run, in order
        frames, returns = read_returns(f"{run}/tb")
        rows = [line.split(",") for line in lines[1:] if line.startswith(run.rsplit("/", 1)[1])]
        np.testing.assert_allclose([float(r[1]) for r in rows], frames)
        np.testing.assert_allclose([float(r[2]) for r in rows], returns, rtol=1e-5)


@pytest.mark.slow
def test_milestones_are_kept_and_visualize_renders_the_series(tmp_path):
    """Fig. 7: checkpoints at 0/36/72/100 % of the run survive rotation; --series draws one
    row per milestone, and the 100 % row is the final policy."""
    import subprocess
    import sys

    from drarl_tf import a2c
    from drarl_tf.bookkeeping.checkpoints import read_milestones
    from drarl_tf.bookkeeping.export import LoadedPolicy, export_checkpoint
    from tests.conftest import SCRIPTS

    config = a2c.A2CConfig(net="drarl", game="Catch", num_envs=4, total_frames=100,
                           image_every_frames=0, logdir=str(tmp_path), log_interval_seconds=1e9)
    run = tmp_path / "a2c-drarl-Catch-s0"
    a2c.train(config)  # 5 updates of 20 frames
    milestones = read_milestones(run / "milestones")
    assert {k: v["frames"] for k, v in milestones.items()} == {
        "0": 0, "0.36": 40, "0.72": 80, "1": 100}
    obs = np.random.default_rng(0).integers(0, 256, (3, 20, 10, 4), dtype=np.uint8)
    first = LoadedPolicy(export_checkpoint(run / "milestones" / "ckpt-0", tmp_path / "m0"))
    last = LoadedPolicy(export_checkpoint(run / "milestones" / "ckpt-100", tmp_path / "m1"))
    final = LoadedPolicy(run / "saved_model")(obs)
    np.testing.assert_allclose(last(obs)["policy_logits"], final["policy_logits"], atol=1e-6)
    assert np.abs(first(obs)["policy_logits"] - final["policy_logits"]).max() > 1e-4
    assert first.metadata["frames"] == 0
    out = subprocess.run(
        [sys.executable, str(SCRIPTS / "visualize.py"), f"--series={run}", "--steps=1",
         f"--output_dir={tmp_path / 'viz'}"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "rows: 0% (0 frames), 36% (40 frames), 72% (80 frames), 100% (100 frames)" in out.stdout
    assert (tmp_path / "viz" / "step1.png").stat().st_size > 1000
