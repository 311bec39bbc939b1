"""Deletion / insertion faithfulness (drarl_tf/viz/faithfulness.py) against references:
a hand-built policy that looks at one known region, exact areas, Quantus's
pixel flipping, and the command on the shipped demo model."""

import json
import subprocess
import sys

import numpy as np
import pytest

from drarl_tf.viz import faithfulness as fa
from tests.conftest import REPO, SCRIPTS

H, W, C = 10, 10, 2
REGION = (slice(0, 3), slice(0, 3))  # 9 of the 100 pixels


def _region_policy(states):
    """P(action 0) = the share of the region's pixels still lit; action 1 the rest."""
    p = states[:, REGION[0], REGION[1], :].astype(np.float64).mean((1, 2, 3)) / 255.0
    return np.stack([p, 1 - p], axis=1)


def _state(rng):
    obs = np.zeros((H, W, C), np.uint8)
    obs[REGION] = 255
    obs[rng.random((H, W)) < 0.1] = 255  # some lit pixels the policy ignores
    return obs


def test_the_map_of_the_region_the_policy_uses_is_the_most_faithful_and_random_is_chance():
    rng = np.random.default_rng(0)
    region_map = np.zeros((H, W))
    region_map[REGION] = 1.0
    areas = {"region": {m: [] for m in fa.MODES}, "random": {m: [] for m in fa.MODES}}
    for _ in range(30):
        obs = _state(rng)
        assert fa.background_value(obs) == 0
        for name, saliency in (("region", region_map), ("random", rng.random((H, W)))):
            for mode in fa.MODES:
                values = fa.curve(_region_policy, obs, saliency, 0, mode, 100, rng)
                assert values[0] == (1.0 if mode == "deletion" else 0.0)
                areas[name][mode].append(fa.area_under(values))
    # The region goes first: P falls to 0 (rises to 1) after 9 % of the pixels.
    assert np.mean(areas["region"]["deletion"]) == pytest.approx(0.045, abs=1e-9)
    assert np.mean(areas["region"]["insertion"]) == pytest.approx(0.955, abs=1e-9)
    # A random order removes the region's pixels evenly: about half the area.
    assert np.mean(areas["random"]["deletion"]) == pytest.approx(0.5, abs=0.06)
    assert np.mean(areas["random"]["insertion"]) == pytest.approx(0.5, abs=0.06)


def test_areas_of_known_curves_are_exact():
    assert fa.area_under(np.full(21, 0.3)) == pytest.approx(0.3, abs=1e-15)
    assert fa.area_under(np.linspace(1, 0, 11)) == pytest.approx(0.5, abs=1e-15)
    assert fa.area_under([0.0, 1.0]) == 0.5
    assert fa.mean_interval([0.25, 0.25, 0.25]) == (0.25, 0.25, 0.25)
    assert fa.mean_interval([0.4]) == (0.4, None, None)


def test_perturbed_states_remove_or_show_the_ranked_pixels_in_every_channel():
    rng = np.random.default_rng(1)
    obs = rng.integers(1, 255, (H, W, C), dtype=np.uint8)
    order = fa.pixel_order(np.arange(H * W)[::-1].reshape(H, W), rng)
    assert order[0] == 0 and sorted(order) == list(range(H * W))
    deleted = fa.perturbed_states(obs, order, np.array([0.0, 0.05, 1.0]), "deletion", 7)
    np.testing.assert_array_equal(deleted[0], obs)
    assert np.all(deleted[1].reshape(-1, C)[:5] == 7)
    np.testing.assert_array_equal(deleted[1].reshape(-1, C)[5:], obs.reshape(-1, C)[5:])
    assert np.all(deleted[2] == 7)
    inserted = fa.perturbed_states(obs, order, np.array([0.0, 1.0]), "insertion", 7)
    assert np.all(inserted[0] == 7)
    np.testing.assert_array_equal(inserted[1], obs)
    ties = [tuple(fa.pixel_order(np.ones((H, W)), np.random.default_rng(s))[:5]) for s in (0, 1)]
    assert ties[0] != ties[1]  # equal saliency: no top-left-first bias


def test_deletion_matches_quantus_pixel_flipping():
    quantus = pytest.importorskip("quantus")
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(2)
    obs = np.stack([_state(rng) for _ in range(3)])
    saliency = rng.random((3, H, W))
    inputs = keras.Input((C, H, W))  # Quantus's TensorFlow models take channels first
    p = keras.layers.Lambda(
        lambda t: tf.reduce_mean(t[:, :, REGION[0], REGION[1]], axis=[1, 2, 3]) / 255.0)(inputs)
    probs = keras.layers.Lambda(lambda q: tf.stack([q, 1 - q], -1))(p)
    model = keras.Model(inputs, keras.layers.Activation("linear")(probs))  # Quantus reads it
    # Quantus flips single elements: 5 pixels are 5 x C of them.
    metric = quantus.PixelFlipping(features_in_step=5 * C, perturb_baseline=0.0, abs=False,
                                   normalise=False, disable_warnings=True,
                                   display_progressbar=False)
    theirs = np.asarray(metric(model=model, x_batch=obs.transpose(0, 3, 1, 2).astype(np.float32),
                               y_batch=np.zeros(3, np.int64), a_batch=saliency[:, None],
                               channel_first=True, softmax=False))
    ours = np.stack([fa.curve(_region_policy, o, s, 0, "deletion", H * W // 5, rng, baseline=0)
                     for o, s in zip(obs, saliency, strict=True)])
    np.testing.assert_allclose(ours[:, 1:], theirs, atol=1e-6)


def test_the_command_on_the_demo_model_writes_the_table_json_and_plot(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPTS / "faithfulness.py"),
                          f"--saved_model={REPO / 'saved_models' / 'demo-impala-drarl-Catch'}",
                          "--states=3", "--steps=4", f"--output_dir={tmp_path}"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads((tmp_path / "faithfulness.json").read_text())
    (model,) = data["models"].values()
    assert set(model) == {"mask_section0", "mask_section1", "mask_section2", "grad_cam",
                          "input_gradient", "random"}
    for entry in model.values():
        assert entry["states"] == 3 and len(entry["deletion_mean_curve"]) == 5
        for mode in fa.MODES:
            auc = entry[f"{mode}_auc"]
            assert 0.0 <= auc["low"] <= auc["mean"] <= auc["high"] <= 1.0
    table = (tmp_path / "faithfulness.md").read_text()
    assert table.count("| drarl Catch") == 6
    assert (tmp_path / "faithfulness.png").stat().st_size > 10_000


def test_a_missing_model_is_one_line():
    out = subprocess.run([sys.executable, str(SCRIPTS / "faithfulness.py"),
                          "--saved_model=/nonexistent/model"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2
    assert [line for line in out.stderr.splitlines() if line.startswith("error:")] == [
        "error: no SavedModel at /nonexistent/model: --saved_model does not exist"]
