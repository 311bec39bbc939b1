"""The IMPALA learner: traced once, linear LR decay, and the same update under 2 devices."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from drarl_tf.errors import DrarlError
from drarl_tf.impala import ImpalaConfig
from drarl_tf.impala.learner import Learner
from drarl_tf.training.optim import LinearDecay
from drarl_tf.training.unroll import Unroll
from tests.conftest import REPO, start_local_workers


def random_batch(config, obs_shape, num_actions, seed=0):
    rng = np.random.default_rng(seed)
    T, B = config.unroll_length, config.batch_size
    mask = (rng.random((T, B)) > 0.1).astype(np.float32)
    return Unroll(
        obs=rng.integers(0, 256, (T + 1, B) + obs_shape, dtype=np.uint8),
        values=rng.normal(0, 1, (T + 1, B)).astype(np.float32),
        actions=rng.integers(0, num_actions, (T, B)).astype(np.int32),
        behaviour_logits=rng.normal(0, 1, (T, B, num_actions)).astype(np.float32),
        rewards=rng.choice([-1.0, 0.0, 1.0], (T, B)).astype(np.float32),
        discounts=np.where(rng.random((T, B)) < 0.1, 0.0, 0.99).astype(np.float32),
        mask=mask,
    )


SMALL = dict(game="Catch", unroll_length=5, batch_size=4, envs_per_actor=2, total_frames=10_000)


def test_update_is_traced_once_and_changes_the_weights():
    config = ImpalaConfig(net="drarl", **SMALL)
    learner = Learner(config, (20, 10, 4), 3, frames_per_update=20)
    before = [w.copy() for w in learner.weights()]
    for seed in range(4):
        metrics = learner.update(random_batch(config, (20, 10, 4), 3, seed))
    assert learner.trace_count == 1
    assert learner.updates == 4
    assert all(np.isfinite(v) for v in metrics.values())
    assert any(not np.allclose(a, b) for a, b in zip(before, learner.weights(), strict=True))


def test_learning_rate_decays_linearly_to_zero():
    schedule = LinearDecay(6e-4, total_steps=100)
    np.testing.assert_allclose(
        [float(schedule(s)) for s in (0, 50, 100, 150)], [6e-4, 3e-4, 0.0, 0.0], atol=1e-10
    )


def _first_step_size(max_grad_norm):
    # lr 1 so that the step is far above float32 rounding of the weights.
    config = ImpalaConfig(net="impala", max_grad_norm=max_grad_norm, learning_rate=1.0, **SMALL)
    learner = Learner(config, (20, 10, 4), 3, frames_per_update=20)
    before = learner.weights()
    metrics = learner.update(random_batch(config, (20, 10, 4), 3))
    diffs = [a.astype(np.float64) - b for a, b in zip(learner.weights(), before, strict=True)]
    return np.sqrt(sum((d**2).sum() for d in diffs)), metrics["grad_norm"], config


def test_gradient_norm_is_clipped():
    step, grad_norm, config = _first_step_size(1e-3)
    assert grad_norm > 1e-3  # the norm before clipping is reported
    # RMSProp's first step is lr g / sqrt((1 - rho) g^2 + eps) <= lr |g| / sqrt(eps) per weight.
    bound = 1.0 * 1e-3 / np.sqrt(config.rmsprop_epsilon)
    assert step <= bound * 1.001
    unclipped_step, _, _ = _first_step_size(1e6)
    assert unclipped_step > 10 * bound


_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from drarl_tf.impala import ImpalaConfig
    from drarl_tf.impala.learner import Learner
    from tests.test_impala_learner import SMALL, random_batch
    config = ImpalaConfig(net="drarl", **SMALL)
    one = Learner(config, (20, 10, 4), 3, 20, strategy=tf.distribute.OneDeviceStrategy("/cpu:0"))
    two = Learner(config, (20, 10, 4), 3, 20,
                  strategy=tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    assert two.strategy.num_replicas_in_sync == 2
    two.model.set_weights(one.weights())
    for seed in range(2):
        batch = random_batch(config, (20, 10, 4), 3, seed)
        m1, m2 = one.update(batch), two.update(batch)
        np.testing.assert_allclose(m1["loss/total"], m2["loss/total"], rtol=1e-4)
        np.testing.assert_allclose(m1["grad_norm"], m2["grad_norm"], rtol=1e-4)
    for a, b in zip(one.weights(), two.weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)  # oneDNN: sums in another order
    print("MIRRORED_OK", two.trace_count)
    """
)


def test_mirrored_two_devices_give_the_single_device_update():
    # Logical devices must be set before TensorFlow starts: use a fresh process.
    out = subprocess.run([sys.executable, "-c", _MIRRORED_SCRIPT], capture_output=True,
                         text=True, timeout=300, cwd=REPO)
    assert "MIRRORED_OK 1" in out.stdout, out.stderr[-3000:]


_WORKER_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np, tensorflow as tf
    from drarl_tf.impala import ImpalaConfig
    from drarl_tf.impala.learner import Learner
    from drarl_tf.training.unroll import slice_envs
    from tests.test_impala_learner import SMALL, random_batch
    config = ImpalaConfig(net="drarl", strategy="multi_worker", **SMALL)
    index = config.worker.index
    tf.keras.utils.set_random_seed(index)  # different initial weights on each worker
    learner = Learner(config, (20, 10, 4), 3, 20)
    assert config.local_batch_size == 2 and learner.strategy.num_replicas_in_sync == 2
    learner.broadcast_from_chief()  # now the chief's weights everywhere
    before = learner.weights()
    for seed in range(2):
        batch = random_batch(ImpalaConfig(net="drarl", **SMALL), (20, 10, 4), 3, seed)
        half = slice_envs(batch, 2 * index, 2 * index + 2)
        metrics = learner.update(half)
    stop = learner.any_worker(index == 1)  # only worker 1 asks to stop: both must see it
    np.savez(os.path.join(sys.argv[1], f"w{index}.npz"), *before, *learner.weights(), stop=stop, loss=metrics["loss/total"])
    """
)


def test_two_workers_give_the_single_device_update(tmp_path):
    """MultiWorkerMirroredStrategy over two local processes, each fed half of each batch,
    matches one device fed the whole batch (and the chief's weights reach worker 1)."""
    procs = start_local_workers([sys.executable, "-c", _WORKER_SCRIPT, str(tmp_path)], cwd=REPO)
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    results = [np.load(tmp_path / f"w{i}.npz") for i in range(2)]
    n = (len(results[0].files) - 2) // 2
    chief_before = [results[0][f"arr_{i}"] for i in range(n)]
    config = ImpalaConfig(net="drarl", **SMALL)
    one = Learner(config, (20, 10, 4), 3, 20)
    one.model.set_weights(chief_before)
    for seed in range(2):
        metrics = one.update(random_batch(config, (20, 10, 4), 3, seed))
    for r in results:
        for i in range(n):  # both workers started from the chief's weights
            np.testing.assert_array_equal(r[f"arr_{i}"], chief_before[i])
        for a, b in zip(one.weights(), [r[f"arr_{n + i}"] for i in range(n)], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)  # oneDNN: sums in another order
        assert bool(r["stop"])
    # Each worker reports the global loss (a sum over the batch, summed over workers).
    np.testing.assert_allclose(float(results[0]["loss"]), metrics["loss/total"], rtol=1e-4)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(total_frames=-1), "total_frames must be >= 1"),
        (dict(num_actors=0), "num_actors must be >= 1"),
        (dict(unroll_length=0), "unroll_length must be >= 1"),
        (dict(strategy="tpu"), "unknown strategy 'tpu'"),
        (dict(net="resnet"), "unknown net 'resnet'"),
        (dict(game="Pongo"), "unknown game 'Pongo'"),
        (dict(batch_size=6, envs_per_actor=4), "multiple of envs_per_actor"),
        (dict(batch_size=32, envs_per_actor=4, queue_size=2), "queue_size"),
        (dict(learning_rate=0.0), "learning_rate must be > 0"),
    ],
)
def test_bad_config_values_fail_with_one_line(overrides, message):
    with pytest.raises(DrarlError, match=message) as e:
        ImpalaConfig(**{**dict(game="Catch"), **overrides})
    assert "\n" not in str(e.value)
