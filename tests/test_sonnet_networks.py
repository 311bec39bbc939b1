"""The Sonnet 2 modules against the Keras models: same parameters, same outputs after
copying the weights (and back), for every net of the table."""

import numpy as np
import pytest
import tensorflow as tf

snt = pytest.importorskip("sonnet")

from drarl_tf.errors import DrarlError  # noqa: E402
from drarl_tf.networks import (  # noqa: E402
    NET_NAMES,
    SonnetAttentionModule,
    SonnetTorso,
    build_network,
    build_sonnet_network,
    copy_keras_to_sonnet,
    copy_sonnet_to_keras,
    mask_output_names,
    sonnet_from_keras,
    torso_parameter_count,
)
from drarl_tf.networks.sonnet_nets import parameter_count  # noqa: E402

ATOL = 1e-5
NUM_ACTIONS = 5


def _randomise(variables, seed):
    """Weights that no initialiser gives: fan-in scaled normal kernels, normal biases."""
    rng = np.random.default_rng(seed)
    for v in variables:
        shape = tuple(v.shape)
        std = 0.1 if len(shape) == 1 else 1.5 / np.sqrt(np.prod(shape[:-1]))
        v.assign(rng.normal(0.0, std, shape).astype(np.float32))


def _obs(shape, batch=2, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (batch, *shape), dtype=np.uint8)


def _max_diff(a, b):
    assert sorted(a) == sorted(b)
    return {k: float(np.max(np.abs(np.asarray(a[k]) - np.asarray(b[k])))) for k in a}


@pytest.mark.parametrize("obs_shape", [(84, 84, 4), (72, 96, 3)])
@pytest.mark.parametrize("net", NET_NAMES)
def test_sonnet_matches_keras_after_copying_the_weights(net, obs_shape):
    model = build_network(net, NUM_ACTIONS, obs_shape)
    _randomise(model.weights, seed=1)
    module = build_sonnet_network(net, NUM_ACTIONS, obs_shape)
    assert parameter_count(module) == model.count_params()
    assert parameter_count(module.torso) == torso_parameter_count(model)

    obs = _obs(obs_shape)
    expected = {k: v.numpy() for k, v in model(obs).items()}
    assert sorted(expected) == sorted(["policy_logits", "value", *mask_output_names(model)])
    # Before the copy the outputs differ: the comparison below can fail.
    assert max(_max_diff(expected, module(obs)).values()) > 1e-2

    copy_keras_to_sonnet(model, module)
    out = module(obs)
    assert out["policy_logits"].shape == (2, NUM_ACTIONS) and out["value"].shape == (2,)
    diff = _max_diff(expected, out)
    assert max(diff.values()) <= ATOL, diff
    # The randomised weights drive the outputs well away from zero and from 1/2.
    assert np.std(expected["policy_logits"]) > 0.1
    for name in mask_output_names(model):
        assert np.std(expected[name]) > 0.05 and expected[name].shape == out[name].shape


@pytest.mark.parametrize("net", NET_NAMES)
def test_weights_go_back_from_sonnet_to_keras(net):
    obs_shape = (20, 28, 2)
    module = build_sonnet_network(net, 3, obs_shape)
    _randomise(module.variables, seed=2)
    model = build_network(net, 3, obs_shape)
    obs = _obs(obs_shape, seed=3)
    assert max(_max_diff(model(obs), module(obs)).values()) > 1e-2
    copy_sonnet_to_keras(module, model)
    assert max(_max_diff(model(obs), module(obs)).values()) <= ATOL
    # And a twin made from the Keras model holds the same weights again.
    twin = sonnet_from_keras(model)
    for a, b in zip(module.variables, twin.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_copy_between_different_nets_is_refused():
    model = build_network("drarl", 3, (16, 16, 1))
    with pytest.raises(DrarlError, match="drarl Keras model and a simple_drarl Sonnet"):
        copy_keras_to_sonnet(model, build_sonnet_network("simple_drarl", 3, (16, 16, 1)))
    with pytest.raises(DrarlError, match="policy_logits/w"):
        copy_keras_to_sonnet(model, build_sonnet_network("drarl", 4, (16, 16, 1)))


def test_the_torso_is_a_sonnet_encoder_that_runs_in_a_tf_function():
    torso = SonnetTorso("impala")  # the smallest graph to trace
    head = snt.Linear(2)
    encoder = tf.function(lambda obs: head(torso(obs)))
    assert encoder(_obs((24, 24, 3), batch=3)).shape == (3, 2)
    assert {v.name.split("/")[0] for v in torso.trainable_variables} == {"impala_torso"}


def test_the_attention_torso_gives_its_masks():
    torso = SonnetTorso("DRARL")
    embedding, masks = torso.with_masks(_obs((24, 24, 3), batch=3))
    assert embedding.shape == (3, 256) and float(tf.reduce_min(embedding)) >= 0.0
    assert sorted(masks) == ["mask_section0", "mask_section1", "mask_section2"]
    assert masks["mask_section2"].shape == (3, 3, 3, 32)


def test_the_attention_module_is_one_plus_mask_times_trunk():
    module = SonnetAttentionModule(8, downsample=True)
    x = tf.random.stateless_normal((2, 11, 11, 8), seed=(1, 2))
    module(x)
    _randomise(module.variables, seed=4)
    h, m = module(x)
    t = module.trunk_branch(x)
    np.testing.assert_allclose(h.numpy(), ((1.0 + m) * t).numpy(), rtol=1e-6, atol=1e-6)
    assert m.shape == t.shape == x.shape
    assert float(tf.reduce_min(m)) >= 0.0 and float(tf.reduce_max(m)) <= 1.0
