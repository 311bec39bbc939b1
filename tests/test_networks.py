"""Network shapes, parameter counts against the paper, names and the table the nets are
built from (the attention module's maths: tests/test_attention_reference.py)."""

import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from drarl_tf.errors import DrarlError
from drarl_tf.networks import (
    NET_NAMES,
    AttentionModule,
    build_network,
    check_net_name,
    mask_output_names,
    net_name_of,
    torso_parameter_count,
)

# Paper section 4.1 and docs/design.md, Networks.
PAPER_TORSO_PARAMS = {
    "impala": 1_089_232,
    "drarl": 1_135_632,
    "simple_drarl": 1_135_632,
    "large_impala": 1_130_864,
}
ATTENTION_NETS = ("drarl", "simple_drarl")


@pytest.mark.parametrize("net", NET_NAMES)
@pytest.mark.parametrize("num_actions", [4, 18])
def test_parameter_counts_match_paper(net, num_actions):
    model = build_network(net, num_actions)
    assert torso_parameter_count(model) == PAPER_TORSO_PARAMS[net]
    assert model.count_params() == PAPER_TORSO_PARAMS[net] + 257 * num_actions + 257


@pytest.mark.parametrize("net", NET_NAMES)
@pytest.mark.parametrize(
    "obs_shape, section_sizes",
    [((84, 84, 4), [(42, 42), (21, 21), (11, 11)]), ((64, 48, 3), [(32, 24), (16, 12), (8, 6)])],
)
def test_output_shapes_and_masks(net, obs_shape, section_sizes):
    model = build_network(net, 6, obs_shape)
    obs = np.random.default_rng(0).integers(0, 256, (3,) + obs_shape, dtype=np.uint8)
    out = model(obs)
    assert out["policy_logits"].shape == (3, 6)
    assert out["value"].shape == (3,)
    names = mask_output_names(model)
    if net not in ATTENTION_NETS:
        assert names == []
        return
    assert names == ["mask_section0", "mask_section1", "mask_section2"]
    for name, (h, w), c in zip(names, section_sizes, (16, 32, 32), strict=True):
        mask = out[name].numpy()
        assert mask.shape == (3, h, w, c)
        assert mask.min() >= 0.0 and mask.max() <= 1.0
        # The mask is reachable by name from the model for visualisation and export.
        assert model.get_layer(name).output.shape[1:] == (h, w, c)


def test_uint8_input_is_scaled_inside():
    model = build_network("impala", 3, (16, 16, 1))
    obs = np.full((1, 16, 16, 1), 255, np.uint8)
    scaled = keras.Model(model.input, model.get_layer("scale").output)(obs)
    np.testing.assert_allclose(scaled.numpy(), 1.0)


def _random_module(downsample=True, spatial=11, channels=8):
    module = AttentionModule(channels, downsample=downsample)
    x = tf.random.stateless_normal((2, spatial, spatial, channels), seed=(1, 2))
    module(x)
    # Non-trivial random weights for every sublayer, biases included.
    rng = np.random.default_rng(0)
    module.set_weights([rng.normal(0, 0.2, w.shape).astype(np.float32) for w in module.get_weights()])
    return module, x


@pytest.mark.parametrize("spatial, pooled", [(42, 21), (21, 11), (11, 6)])
def test_mask_branch_resizes_to_the_exact_trunk_size(spatial, pooled):
    module, x = _random_module(spatial=spatial)
    assert module.mask_pool(x).shape[1:3] == (pooled, pooled)
    assert module.mask_branch(x).shape[1:3] == (spatial, spatial)


def test_simple_drarl_mask_has_no_pool():
    module, _ = _random_module(downsample=False)
    assert module.mask_pool is None


def test_unknown_net_is_one_line():
    with pytest.raises(DrarlError, match="unknown net 'drarll'.*Did you mean drarl") as e:
        build_network("drarll", 4)
    assert "\n" not in str(e.value)


def test_the_table_imports_no_tensorflow():
    code = ("import sys, drarl_tf.networks.table, drarl_tf.networks; "
            "assert not any(m.startswith('tensorflow') for m in sys.modules), 'tensorflow'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("name, canonical", [
    ("drarl", "drarl"), ("DRARL", "drarl"), ("simple-drarl", "simple_drarl"),
    ("Simple-DRARL", "simple_drarl"), ("LARGE_IMPALA", "large_impala"),
    (" impala ", "impala"), ("large-impala", "large_impala"), ("SimpleDrarl", "simple_drarl"),
    ("large impala", "large_impala")])
def test_net_names_are_case_and_dash_insensitive(name, canonical):
    assert check_net_name(name) == canonical


@pytest.mark.parametrize("name, hint", [
    ("drarll", "Did you mean drarl"), ("Simple-Drarll", "Did you mean simple_drarl"),
    ("large_impla", "Did you mean large_impala")])
def test_an_unknown_net_lists_the_names_and_suggests_one(name, hint):
    with pytest.raises(DrarlError) as e:
        check_net_name(name)
    message = str(e.value)
    assert f"unknown net '{name}'" in message and hint in message
    assert "choose one of impala, drarl, simple_drarl, large_impala." in message
    assert "\n" not in message


def test_an_unknown_net_far_from_any_name_has_no_suggestion():
    with pytest.raises(DrarlError, match="choose one of") as e:
        check_net_name("resnet50")
    assert "Did you mean" not in str(e.value)


def test_the_net_name_is_kept_on_the_model():
    model = build_network("Simple-DRARL", 3, (16, 16, 1))
    assert model.name == "simple_drarl" and model.drarl_net == "simple_drarl"
    assert net_name_of(model) == "simple_drarl"
    # The name survives a model renamed by its user ...
    wrapped = keras.Model(model.input, model.output, name="my_agent")
    wrapped.drarl_net = model.drarl_net
    assert net_name_of(wrapped) == "simple_drarl"
    # ... and a model without the attribute (saved before it) falls back to its name.
    del model.drarl_net
    assert net_name_of(model) == "simple_drarl"


@pytest.mark.parametrize("shape", [(84, 84), (84, 84, 4, 1), (0, 84, 4)])
def test_non_image_observation_shape_is_refused(shape):
    with pytest.raises(DrarlError, match="images"):
        build_network("drarl", 4, shape)


@pytest.mark.parametrize("net", NET_NAMES)
def test_a_model_only_checkpoint_restores_every_weight(tmp_path, net):
    source = build_network(net, 4, (20, 10, 4))
    rng = np.random.default_rng(0)
    source.set_weights([rng.normal(0, 1, w.shape).astype(np.float32) for w in source.weights])
    path = tf.train.Checkpoint(model=source).save(str(tmp_path / "ckpt"))
    target = build_network(net, 4, (20, 10, 4))
    tf.train.Checkpoint(model=target).restore(path).assert_consumed()
    for a, b in zip(source.weights, target.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_the_pytorch_reference_net_has_the_papers_parameter_count():
    """benchmark.py --mode=torch_ppo compares PPO speed on this net (optional extra)."""
    import importlib.util

    from drarl_tf.experiments import torch_reference

    if any(importlib.util.find_spec(m) is None for m in ("torch", "stable_baselines3", "cv2")):
        with pytest.raises(DrarlError, match=r"needs torch, stable-baselines3 and opencv .* "
                           r"pip install -e '\.\[compare\]'"):
            torch_reference.require()
        return
    from gymnasium.spaces import Box

    extractor = torch_reference.impala_extractor_class()(Box(0, 255, (4, 84, 84), np.uint8))
    assert sum(p.numel() for p in extractor.parameters()) == 1_089_232  # docs/design.md, Networks


def test_a_keras_file_keeps_the_outputs_and_the_net_name(tmp_path):
    """A `.keras` file keeps no `drarl_net` attribute: `net_name_of` falls back to the name."""
    model = build_network("drarl", 3, (20, 12, 4))
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert not hasattr(loaded, "drarl_net") and net_name_of(loaded) == "drarl"
    obs = np.random.default_rng(0).integers(0, 256, (2, 20, 12, 4), dtype=np.uint8)
    expected, out = model(obs), loaded(obs)
    for name in expected:
        np.testing.assert_array_equal(out[name].numpy(), expected[name].numpy(), err_msg=name)
