"""The attention module against an independent numpy computation of paper eq. (1),
`H = (1 + M(x)) * T(x)` (docs/design.md, Networks), with every weight set by hand.

The reference below uses none of the module's layers: 3x3 and 1x1 convolutions, the
3x3/2 'same' max-pool and the half-pixel bilinear resize to a size are written out here.
"""

import numpy as np
import pytest
import tensorflow as tf

from drarl_tf.networks.attention import AttentionModule

CHANNELS = 4
CONVS = ("trunk_block0/conv0", "trunk_block0/conv1", "trunk_block1/conv0", "trunk_block1/conv1",
         "mask_block/conv0", "mask_block/conv1", "mask_conv0", "mask_conv1")
# Odd, non-square sizes: 11 -> 6 -> 11 and 9x6 -> 5x3 -> 9x6 catch a resize by a factor 2
# and a swap of the height and width axes.
SIZES = [(11, 11), (9, 6)]


def relu(x):
    return np.maximum(x, 0.0)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def conv_same(x, kernel, bias):
    """Stride-1 'same' cross-correlation of NHWC `x` with an HWIO kernel, plus bias."""
    kh, kw = kernel.shape[:2]
    h, w = x.shape[1:3]
    top, left = (kh - 1) // 2, (kw - 1) // 2
    padded = np.pad(x, ((0, 0), (top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))
    out = np.zeros(x.shape[:3] + (kernel.shape[3],))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("bhwc,cd->bhwd", padded[:, i : i + h, j : j + w], kernel[i, j])
    return out + bias


def max_pool_3x3_stride2_same(x):
    """TF 'same' pooling: ceil(n / 2) outputs, the padding split with the extra one after."""
    b, h, w, c = x.shape
    out_h, out_w = -(-h // 2), -(-w // 2)
    pad_h, pad_w = max((out_h - 1) * 2 + 3 - h, 0), max((out_w - 1) * 2 + 3 - w, 0)
    padded = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2),
                        (pad_w // 2, pad_w - pad_w // 2), (0, 0)), constant_values=-np.inf)
    out = np.empty((b, out_h, out_w, c))
    for i in range(out_h):
        for j in range(out_w):
            out[:, i, j] = padded[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].max(axis=(1, 2))
    return out


def _bilinear_taps(in_size, out_size):
    """Half-pixel centres, no corner alignment: source `(i + 0.5) * in / out - 0.5`, clamped."""
    src = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
    src = np.clip(src, 0.0, in_size - 1)
    lower = np.floor(src).astype(int)
    upper = np.minimum(lower + 1, in_size - 1)
    return lower, upper, src - lower


def resize_bilinear(x, size):
    """`tf.image.resize(x, size, 'bilinear')` (half_pixel_centers=True), in numpy."""
    top, bottom, dy = _bilinear_taps(x.shape[1], size[0])
    left, right, dx = _bilinear_taps(x.shape[2], size[1])
    dy, dx = dy[None, :, None, None], dx[None, None, :, None]
    rows = x[:, top] * (1 - dy) + x[:, bottom] * dy
    return rows[:, :, left] * (1 - dx) + rows[:, :, right] * dx


def residual_block(x, weights, prefix):
    y = conv_same(relu(x), *weights[f"{prefix}/conv0"])
    return x + conv_same(relu(y), *weights[f"{prefix}/conv1"])


def reference_trunk(x, weights):
    return residual_block(residual_block(x, weights, "trunk_block0"), weights, "trunk_block1")


def reference_module(x, weights, downsample):
    """Returns (H, M) of eq. (1) computed in float64."""
    m = max_pool_3x3_stride2_same(x) if downsample else x
    m = residual_block(m, weights, "mask_block")
    if downsample:
        m = resize_bilinear(m, x.shape[1:3])
    m = sigmoid(conv_same(relu(conv_same(m, *weights["mask_conv0"])), *weights["mask_conv1"]))
    return (1.0 + m) * reference_trunk(x, weights), m


def hand_weights(seed):
    """Distinct small kernels and nonzero biases for every convolution."""
    rng = np.random.default_rng(seed)
    weights = {}
    for name in CONVS:
        size = 1 if name.startswith("mask_conv") else 3
        kernel = rng.normal(0.0, 0.35 / size, (size, size, CHANNELS, CHANNELS))
        weights[name] = (kernel, rng.uniform(-0.3, 0.3, CHANNELS))
    return weights


def build_with(module, shape, weights):
    """Builds `module` and assigns every one of its variables from `weights`, by path."""
    module(tf.zeros(shape))
    assigned = set()
    for variable in module.weights:
        conv, kind = variable.path.split("/", 1)[1].rsplit("/", 1)
        value = weights[conv][{"kernel": 0, "bias": 1}[kind]]
        assert tuple(variable.shape) == value.shape, variable.path
        variable.assign(value.astype(np.float32))
        assigned.add((conv, kind))
    assert assigned == {(conv, kind) for conv in CONVS for kind in ("kernel", "bias")}
    assert len(module.weights) == 2 * len(CONVS)


def inputs(size, seed=1):
    return np.random.default_rng(seed).normal(0.0, 1.0, (2, *size, CHANNELS)).astype(np.float32)


@pytest.mark.parametrize("size", [(6, 11), (3, 6), (5, 3), (11, 11)])
def test_numpy_resize_matches_tf_image_resize(size):
    """Sanity check of the reference's resize against the TF op it stands for."""
    x = np.random.default_rng(2).normal(size=(2, 6, 5, 3)).astype(np.float32)
    got = tf.image.resize(x, size, method="bilinear").numpy()
    np.testing.assert_allclose(resize_bilinear(x.astype(np.float64), size), got, atol=1e-6)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("downsample", [True, False], ids=["drarl", "simple_drarl"])
def test_module_matches_numpy_eq1(downsample, size):
    """H and M of the module equal eq. (1) computed from the same weights in numpy."""
    x = inputs(size)
    weights = hand_weights(seed=10 + downsample)
    module = AttentionModule(CHANNELS, downsample=downsample, name="att")
    build_with(module, x.shape, weights)
    h, m = module(tf.constant(x))
    want_h, want_m = reference_module(x.astype(np.float64), weights, downsample)
    assert want_m.min() > 0.05 and want_m.max() < 0.95, "mask saturated: weights too large"
    assert h.shape == m.shape == x.shape
    np.testing.assert_allclose(m.numpy(), want_m, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h.numpy(), want_h, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("downsample", [True, False], ids=["drarl", "simple_drarl"])
def test_constant_mask_scales_the_trunk_by_one_plus_the_mask(downsample):
    """With the last mask conv zeroed and bias b, M = sigmoid(b) everywhere and
    H = (1 + sigmoid(b)) * T, T from the numpy residual blocks."""
    x = inputs((11, 9), seed=3)
    weights = hand_weights(seed=20)
    bias = np.array([-1.5, -0.2, 0.4, 2.0])
    weights["mask_conv1"] = (np.zeros((1, 1, CHANNELS, CHANNELS)), bias)
    module = AttentionModule(CHANNELS, downsample=downsample, name="att")
    build_with(module, x.shape, weights)
    h, m = module(tf.constant(x))
    np.testing.assert_allclose(m.numpy(), np.broadcast_to(sigmoid(bias), x.shape), atol=1e-6)
    trunk = reference_trunk(x.astype(np.float64), weights)
    np.testing.assert_allclose(h.numpy(), (1.0 + sigmoid(bias)) * trunk, rtol=1e-5, atol=1e-5)
