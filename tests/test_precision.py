"""--precision=mixed_bfloat16 / mixed_float16 (loss scaling) and --xla: what stays float32,
and the same update."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from drarl_tf import a2c, ppo
from drarl_tf.errors import DrarlError
from drarl_tf.impala import ImpalaConfig
from drarl_tf.impala.learner import Learner
from drarl_tf.networks import build_network
from drarl_tf.training import hardware
from drarl_tf.training.optim import LossScale
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


def test_loss_scale_against_a_step_by_step_reference():
    scale = LossScale("mixed_float16", initial=8.0, growth_interval=3)
    ref_scale, ref_good = 8.0, 0
    steps = [True, True, True, False, True, False, False, False, False, False, True]
    for finite in steps:
        error = float(scale.update(tf.constant(finite)))
        if finite:
            ref_good += 1
            if ref_good >= 3:
                ref_scale, ref_good = ref_scale * 2, 0
        else:
            ref_scale, ref_good = max(ref_scale / 2, 1.0), 0
        assert float(scale.scale) == ref_scale and int(scale.good_steps) == ref_good
        # Overflow is expected with float16; only at scale 1 is it an error.
        assert error == (0.0 if finite or ref_scale > 1.0 else 1.0)
    off = LossScale("float32")
    assert not off.enabled and off.scale_loss(3.0) == 3.0 and off.metrics() == {}
    assert float(off.update(tf.constant(False))) == 1.0  # without scaling, always an error


def test_float16_impala_update_is_close_to_float32_and_an_overflow_only_lowers_the_scale():
    config = ImpalaConfig(net="drarl", **SMALL)
    batch = random_batch(config, (20, 10, 4), 3, 0)
    tf.keras.utils.set_random_seed(0)
    full = Learner(config, (20, 10, 4), 3, frames_per_update=20)
    half = Learner(ImpalaConfig(net="drarl", precision="mixed_float16", **SMALL), (20, 10, 4),
                   3, frames_per_update=20)
    assert half.model.get_layer("section0_conv").dtype_policy.compute_dtype == "float16"
    half.model.set_weights(full.weights())
    assert float(half.loss_scale.scale) == 2.0**15  # the start; this sum loss needs less
    half.loss_scale.scale.assign(2.0**8)
    start = full.weights()
    m_full, m_half = full.update(batch), half.update(batch)
    assert m_half["loss_scale"] == 2.0**8 and m_half["nonfinite"] == 0.0
    np.testing.assert_allclose(m_half["loss/total"], m_full["loss/total"], rtol=0.02)
    steps = [np.abs(b - a).max() for a, b in zip(start, half.weights(), strict=True)]
    assert max(steps) > 0  # the step was taken
    for a, b, c in zip(start, full.weights(), half.weights(), strict=True):
        # float16 keeps 11 bits of mantissa: each tensor's step agrees to within 10 % (RMSProp
        # divides by the gradient's own scale, so small gradients weigh as much as large).
        assert np.linalg.norm((c - a) - (b - a)) <= 0.1 * np.linalg.norm(b - a) + 1e-7
    # A scale so large that the scaled loss overflows: the step is skipped, no error.
    half.loss_scale.scale.assign(3e38)
    before = half.weights()
    m = half.update(batch)
    assert m["nonfinite"] == 0.0 and m["loss_scale"] == pytest.approx(1.5e38)
    for a, b in zip(before, half.weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_unknown_precision_is_one_line():
    with pytest.raises(DrarlError, match="unknown precision 'float16'; choose one of auto, "):
        ImpalaConfig(precision="float16")


CPUINFO = """processor\t: 0
model name\t: Some Xeon
flags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile
processor\t: 1
model name\t: Some Xeon
flags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile
"""


def test_cpuinfo_gives_model_and_bf16_instruction_sets():
    model, flags = hardware.parse_cpuinfo(CPUINFO)
    assert model == "Some Xeon" and "avx2" in flags
    assert hardware.bf16_cpu_flags(flags) == ("amx_bf16", "avx512_bf16")
    assert hardware.bf16_cpu_flags(frozenset({"avx2", "fma"})) == ()
    assert hardware.parse_cpuinfo("") == ("", frozenset())


@pytest.mark.parametrize("bf16, gpu, expected", [
    (True, False, "mixed_bfloat16"), (False, False, "float32"), (True, True, "float32"),
    (False, True, "float32")])
def test_auto_precision_takes_bf16_only_on_a_cpu_that_has_it(bf16, gpu, expected):
    assert hardware.auto_precision(bf16, gpu) == expected


@pytest.mark.parametrize("flags, expected", [
    ("avx2 avx512_bf16", "mixed_bfloat16"), ("avx2 fma", "float32")])
def test_auto_is_resolved_for_the_machine_when_the_run_starts(tmp_path, monkeypatch, flags, expected):
    monkeypatch.setattr(hardware, "cpu_info", lambda: ("cpu", frozenset(flags.split())))
    monkeypatch.setattr(hardware, "has_gpu", lambda: False)
    config = ppo.PPOConfig(game="Catch", precision="auto", logdir=str(tmp_path))
    assert config.precision == "auto"  # a config never asks TensorFlow about GPUs
    assert hardware.resolved(config).precision == expected  # what the learner gets
    hint = hardware.precision_hint("float32")
    assert (hint is not None) == (expected == "mixed_bfloat16")
    assert hardware.precision_hint("mixed_bfloat16") is None


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
                        logdir=str(tmp_path), image_every_frames=0,
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


@pytest.mark.slow
def test_impala_learns_catch_in_float16_with_loss_scaling(tmp_path):
    from drarl_tf.impala import train

    config = ImpalaConfig(net="drarl", game="Catch", total_frames=100_000, seed=1,
                          precision="mixed_float16", logdir=str(tmp_path),
                          log_interval_seconds=1000.0)
    result = train(config)
    assert result.mean_return >= 0.7, result
