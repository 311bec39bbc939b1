"""Figures a person can read: TensorBoard descriptions that hold at every step, stretched
maps with their own labelled colour bars, image states from the game in play, and row
labels that tell models and milestones apart."""

import io
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from drarl_tf.networks import build_network


def _find(image: np.ndarray, template: np.ndarray) -> list[tuple[int, int]]:
    """Every `(y, x)` where `template` `[h, w, 3]` equals `image` `[H, W, 3]` exactly."""
    h, w = template.shape[:2]
    if image.shape[0] < h or image.shape[1] < w:
        return []
    windows = np.lib.stride_tricks.sliding_window_view(image, (h, w, 3))[..., 0, :, :, :]
    return [tuple(int(i) for i in p) for p in np.argwhere((windows == template).all((-3, -2, -1)))]


def _glyphs(text: str) -> np.ndarray:
    """`text` as the figures draw it, cropped to its ink: a template for `_find`."""
    from drarl_tf.viz.scale import CHAR_WIDTH, text_image

    strip = text_image([text], CHAR_WIDTH * len(text) + 4)
    ink = (strip < 128).any(-1)
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    return strip[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def _events(logdir) -> dict:
    """{tag: {step: (description, scalar value or None)}} of every summary in `logdir`."""
    found = {}
    for path in sorted(Path(logdir).glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                scalar = None
                if value.metadata.plugin_data.plugin_name == "scalars":
                    scalar = float(tf.make_ndarray(value.tensor))
                found.setdefault(value.tag, {})[event.step] = (
                    value.metadata.summary_description, scalar)
    return found


def test_summary_descriptions_are_step_independent_and_the_numbers_are_scalars(tmp_path):
    """TensorBoard shows the first description written for a tag at every step: it must
    hold no step's numbers, which the `attention_range/*` and `gradcam_range/max` scalars
    (and the images) carry instead."""
    from drarl_tf.viz.gradcam import grad_cam
    from drarl_tf.viz.scale import fmt
    from drarl_tf.viz.summaries import ImageSummaries

    model = build_network("drarl", 3, (20, 10, 4))
    rng = np.random.default_rng(0)
    states = rng.integers(0, 256, (3, 20, 10, 4), dtype=np.uint8)
    summaries = ImageSummaries(model, states)
    writer = tf.summary.create_file_writer(str(tmp_path))
    truth = {}
    for step in (1, 2):
        if step == 2:  # other weights: other masks and Grad-CAM
            model.set_weights([w + rng.normal(0.0, 0.1, w.shape).astype(w.dtype)
                               for w in model.get_weights()])
        out, truth[step] = model(states), {}
        for name in summaries.masks:
            means = out[name].numpy().mean(-1)
            truth[step][f"attention_range/{name}_min"] = float(means.min())
            truth[step][f"attention_range/{name}_max"] = float(means.max())
        truth[step]["gradcam_range/max"] = float(grad_cam(model, states, upsample=False).max())
        summaries.write(writer, step)
    writer.close()
    events = _events(tmp_path)
    assert summaries.masks == [f"mask_section{i}" for i in range(3)]
    assert all(abs(truth[1][tag] - truth[2][tag]) > 1e-3 for tag in truth[1])  # steps differ
    step_numbers = {fmt(v) for values in truth.values() for v in values.values()}
    images = [tag for tag in events if tag.startswith(("attention/", "attention_channels/",
                                                       "gradcam/"))]
    assert len(images) == 7
    for tag in images:
        assert set(events[tag]) == {1, 2}
        description = events[tag][1][0]
        assert description and events[tag][2][0] == description, tag
        assert not any(number in description for number in step_numbers), description
        # The only numbers: the absolute scale 0-1 and the section in the mask's name.
        words = re.sub(r"mask_section\d", "", description)
        assert set(re.findall(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?", words)) <= {"0", "1"}, words
    for tag in truth[1]:
        for step in (1, 2):
            assert events[tag][step][1] == pytest.approx(truth[step][tag], rel=1e-4, abs=1e-7)
    assert "gradcam_range/max" in events["gradcam/policy"][1][0]
    assert "attention_range/mask_section1_min" in events["attention/mask_section1"][1][0]


def test_stretched_panel_colour_bar_labels_read_back_from_the_png():
    """Every state's stretched tile has its own colour bar, its min and max drawn as labels
    at the bar's ends; the absolute column keeps its 0-1 bar."""
    from PIL import Image

    from drarl_tf.viz.panels import batch_grid
    from drarl_tf.viz.scale import CHAR_WIDTH, MASK_RANGE, fmt, from_rgb

    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (3, 20, 10), dtype=np.uint8)
    maps = np.stack([rng.permutation(np.linspace(lo, hi, 15)).reshape(5, 3)
                     for lo, hi in [(0.512, 0.533), (0.2, 0.9), (0.45, 0.47)]]).astype(np.float32)
    image, boxes = batch_grid(frames, maps, *MASK_RANGE, "mask_section0", True, 9)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    with Image.open(io.BytesIO(buffer.getvalue())) as png:
        pixels = np.asarray(png.convert("RGB"))
    np.testing.assert_array_equal(pixels, image)
    tile_h, tile_w = 20 * 9, 10 * 9
    labels_end = 0
    for n, row in enumerate(boxes):
        y, x = row[2]  # the stretched tile
        beside = pixels[y:y + tile_h, x + tile_w:x + tile_w + 60]  # right of it
        lo, hi = fmt(maps[n].min()), fmt(maps[n].max())
        assert {lo, hi}.isdisjoint({"0", "1"})
        top = _find(beside, _glyphs(hi))
        bottom = _find(beside, _glyphs(lo))
        assert len(top) == 1 and top[0][0] < 12, (n, hi, top)  # the max on top of the bar
        assert len(bottom) == 1 and bottom[0][0] > tile_h - 12, (n, lo, bottom)  # the min
        ends = top[0][1] + CHAR_WIDTH * len(hi), bottom[0][1] + CHAR_WIDTH * len(lo)
        labels_end = max(labels_end, x + tile_w + max(ends))
        # Between the labels, the bar: the stretched scale from the max down to the min.
        by, bx = row[3]
        assert (by, bx) == (y, x + tile_w + 2)
        bar = from_rgb(pixels[by + 12:by + tile_h - 12, bx + 2], float(lo), float(hi))
        assert bar[0] == pytest.approx(float(hi), abs=0.01 * (float(hi) - float(lo)))
        assert bar[-1] == pytest.approx(float(lo), abs=0.01 * (float(hi) - float(lo)))
        assert (np.diff(bar) <= 0).all()
    # Right of those labels, the absolute column's bar still reads 1 (top) and 0 (bottom).
    grid_top, grid_bottom = boxes[0][0][0], boxes[-1][0][0] + tile_h
    right = pixels[grid_top:grid_bottom, labels_end:]
    ones, zeros = _find(right, _glyphs("1")), _find(right, _glyphs("0"))
    assert len(ones) == 1 and ones[0][0] < 12, ones
    assert len(zeros) == 1 and zeros[0][0] > grid_bottom - grid_top - 12, zeros


def _stack(newest: np.ndarray, older) -> np.ndarray:
    """An `[H, W, 4]` frame stack: `older` (three `[H, W]` frames) then `newest`."""
    return np.stack([*older, newest], -1).astype(np.uint8)


def test_diverse_states_prefer_stacks_without_blank_frames():
    """States just after a reset (older frames black, or any one-valued frame) are far
    from everything in pixels; they are chosen only when too few full stacks exist."""
    from drarl_tf.viz.summaries import blank_frames, select_diverse_states

    rng = np.random.default_rng(0)
    zero, grey = np.zeros((12, 8), np.uint8), np.full((12, 8), 37, np.uint8)
    resets = [_stack(rng.integers(200, 256, (12, 8)), [zero] * 3) for _ in range(3)]
    resets.append(_stack(rng.integers(200, 256, (12, 8)), [grey, *rng.integers(0, 256, (2, 12, 8))]))
    full = [_stack(rng.integers(90, 150, (12, 8)), rng.integers(90, 150, (3, 12, 8)))
            for _ in range(6)]
    obs = np.stack(resets + full)  # [10, H, W, C]
    np.testing.assert_array_equal(blank_frames(obs).any(-1), [True] * 4 + [False] * 6)
    np.testing.assert_array_equal(blank_frames(obs[:1]), [[True, True, True, False]])
    for seed in range(5):
        chosen = select_diverse_states(obs.reshape(2, 5, 12, 8, 4), 4, seed=seed)
        assert len({c.tobytes() for c in chosen}) == 4
        assert not blank_frames(chosen).any(), seed  # every frame from the game in play
        np.testing.assert_array_equal(chosen, select_diverse_states(obs, 4, seed=seed))
    # Too few full stacks: every full one first, then the most different of the rest.
    chosen = select_diverse_states(np.stack(resets + full[:2]), 4, seed=0)
    assert len({c.tobytes() for c in chosen}) == 4
    assert blank_frames(chosen).any(-1).tolist() == [False, False, True, True]
    # Only blank stacks: farthest-point among them as before.
    assert len(select_diverse_states(np.stack(resets), 4, seed=0)) == 4


def _policy(path: str, **metadata) -> SimpleNamespace:
    return SimpleNamespace(metadata=metadata, path=Path(path))


def test_fig6_row_labels_name_the_run_net_and_frames():
    from drarl_tf.viz.figures import _label

    a = _policy("runs/ppo-drarl-Pong-s0/saved_model", run="ppo-drarl-Pong-s0", net="drarl",
                frames=150400)
    b = _policy("runs/ppo-drarl-Pong-s1/saved_model", run="ppo-drarl-Pong-s1", net="drarl",
                frames=150400)
    assert _label(a) == "ppo-drarl-Pong-s0 (drarl, 150,400 frames)"
    assert _label(a) != _label(b)  # same net, same length: told apart by the run
    # Named by the model's directory (its run's, for .../<run>/saved_model), not by the
    # run its metadata records: the shipped demo is not the quick start's run.
    assert _label(_policy("/x/seed3/saved_model", net="impala", frames=0)) == (
        "seed3 (impala, 0 frames)")
    demo = _policy("saved_models/demo-impala-drarl-Catch", run="impala-drarl-Catch-s0",
                   net="drarl", frames=150400)
    assert _label(demo) == "demo-impala-drarl-Catch (drarl, 150,400 frames)"
    assert _label(_policy("/tmp/impala", net="impala", frames=0)) == "impala (impala, 0 frames)"
    assert _label(_policy("/tmp/m", net="drarl")) == "m (drarl, ? frames)"


def test_fig7_labels_and_footers_are_spelled_out():
    from drarl_tf.viz.figures import _series_label
    from drarl_tf.viz.panels import row_footer

    assert _series_label("0", 0) == "0% (0 frames)"
    assert _series_label("0.36", 1440000) == "36% (1,440,000 frames)"
    assert _series_label(1, 4000000) == "100% (4,000,000 frames)"
    masks = {"mask_section1": np.full((2, 2, 3), 0.5, np.float32),
             "mask_section0": np.array([[0.49, 0.51], [0.52, 0.53]], np.float32)[..., None]}
    cam = np.array([[0.0, 0.3]], np.float32)
    assert row_footer("0% (0 frames)", masks, cam) == (
        "0% (0 frames) - mask means: section0 0.49-0.53, section1 0.5-0.5; Grad-CAM max 0.3")
    assert row_footer("impala (impala, 0 frames)", {}, cam) == (
        "impala (impala, 0 frames) - no attention masks; Grad-CAM max 0.3")


def test_text_keeps_words_apart():
    """Every character `CHAR_WIDTH` pixels wide, spaces included: `0% (0 frames)` does
    not read as `0%(0frames)`, and the text fits the widths the layout gives it."""
    from drarl_tf.viz.scale import CHAR_WIDTH, text_image

    line = "0% (0 frames) - mask means: section0"
    ink = (text_image([line], CHAR_WIDTH * len(line) + 4) < 128).any(-1).any(0)
    assert not ink[CHAR_WIDTH * len(line) + 2:].any()  # nothing beyond the computed width
    columns = "".join("x" if i else " " for i in ink).strip()
    gaps = [len(run) for run in columns.split("x") if run]  # blank columns between glyphs
    # A space leaves at least 5 blank columns (Pillow's vector font: at most 4, as between
    # letters); the line has 6 spaces.
    assert sum(gap >= CHAR_WIDTH - 1 for gap in gaps) == line.count(" ")
