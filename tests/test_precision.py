"""--precision=mixed_bfloat16 and --xla: what stays float32, and the same update."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from drarl_tf import a2c, ppo
from drarl_tf.errors import DrarlError
from drarl_tf.impala import ImpalaConfig
from drarl_tf.impala.learner import Learner
from drarl_tf.networks import build_network
from tests.test_impala_learner import SMALL, random_batch


def test_bfloat16_net_computes_in_bfloat16_and_keeps_float32_outputs_and_variables():
    model = build_network("drarl", 6, (20, 10, 4), precision="mixed_bfloat16")
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left alone
    assert all(v.dtype == "float32" for v in model.weights)
    compute = {layer.name: layer.dtype_policy.compute_dtype for layer in model.layers}
    assert compute["section0_conv"] == "bfloat16"
    assert compute["policy_logits"] == compute["value_layer"] == "float32"
    twin = build_network("drarl", 6, (20, 10, 4))
    twin.set_weights(model.get_weights())
    obs = np.random.default_rng(0).integers(0, 256, (8, 20, 10, 4), dtype=np.uint8)
    low, full = model(obs), twin(obs)
    for key in ("policy_logits", "value", "mask_section0"):
        assert low[key].dtype == tf.float32
        # bfloat16 keeps 8 bits of mantissa: the outputs agree to a few percent.
        np.testing.assert_allclose(low[key], full[key], atol=0.05 + 0.05 * np.abs(full[key]).max())


def test_unknown_precision_is_one_line():
    with pytest.raises(DrarlError, match="unknown precision 'float16'"):
        ImpalaConfig(precision="float16")


@pytest.mark.parametrize("net", ["impala", "drarl"])
def test_xla_gives_the_same_impala_update(net):
    results = []
    for xla in (False, True):
        tf.keras.utils.set_random_seed(0)
        config = ImpalaConfig(net=net, xla=xla, **SMALL)
        learner = Learner(config, (20, 10, 4), 3, frames_per_update=20)
        metrics = [learner.update(random_batch(config, (20, 10, 4), 3, seed)) for seed in (0, 1)]
        results.append((learner.weights(), metrics))
    (w0, m0), (w1, m1) = results
    for a, b in zip(w0, w1, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for k in m0[-1]:
        np.testing.assert_allclose(m0[-1][k], m1[-1][k], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("module, config_cls", [
    pytest.param(a2c, a2c.A2CConfig, marks=pytest.mark.slow), (ppo, ppo.PPOConfig)])
def test_a2c_and_ppo_run_with_bfloat16_and_xla(tmp_path, module, config_cls):
    config = config_cls(net="drarl", game="Catch", total_frames=800, num_envs=4,
                        unroll_length=5, precision="mixed_bfloat16", xla=True,
                        logdir=str(tmp_path), image_every_updates=0,
                        **({"num_minibatches": 2} if config_cls is ppo.PPOConfig else {}))
    result = module.train(config)
    assert result.frames == 800
    assert all(np.isfinite(v) for v in result.metrics.values())


@pytest.mark.slow
@pytest.mark.parametrize("net", ["drarl", "impala"])
def test_impala_learns_catch_in_bfloat16_as_in_float32(tmp_path, net):
    # The float32 twin of this test (tests/test_impala_runtime.py) asks the same.
    from drarl_tf.impala import train

    config = ImpalaConfig(net=net, game="Catch", total_frames=100_000, seed=1,
                          precision="mixed_bfloat16", xla=True, logdir=str(tmp_path),
                          log_interval_seconds=1000.0)
    result = train(config)
    assert result.mean_return >= 0.7, result
