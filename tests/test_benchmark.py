"""scripts/benchmark.py's end-to-end measurement: the compute bound of docs/design.md
(Performance model) and the precision it ran in (speed itself is measured by the script,
not asserted here)."""

import math

import pytest

from drarl_tf import ppo
from drarl_tf.experiments import benchmark


def test_the_compute_bound_adds_the_time_each_part_takes_per_sample():
    # 100 env steps/s (10 ms), 200 forward passes/s (5 ms), 400 train samples/s (2.5 ms)
    # taken twice: 10 + 5 + 5 = 20 ms per sample, 50 samples/s.
    assert math.isclose(benchmark.compute_bound(100.0, 200.0, 400.0, passes=2), 50.0)
    assert math.isclose(benchmark.compute_bound(100.0, 100.0, 100.0), 100.0 / 3)


def test_ppo_end_to_end_row_runs_in_the_resolved_precision_with_its_passes():
    config = ppo.PPOConfig(net="impala", game="Catch", num_envs=4, unroll_length=8,
                           num_minibatches=2, num_epochs=2, precision="auto")
    row = benchmark.on_policy_end_to_end("ppo", config, seconds=0.3)
    assert row["precision"] in ("float32", "mixed_bfloat16") and row["passes_k"] == 2
    parts = (row["env_steps_per_s"], row["inference_samples_per_s"],
             row["train_samples_per_s_per_pass"])
    assert row["compute_bound_samples_per_s"] == benchmark.compute_bound(*parts, passes=2)
    assert row["end_to_end_samples_per_s"] > 0


def test_transport_rows_compare_the_pickled_pipe_and_the_slot_and_batches_are_the_slots():
    import multiprocessing as mp

    import numpy as np

    from drarl_tf.experiments.transport import handover_rates, receive_batch
    from drarl_tf.impala.channel import UnrollSlots

    rows = handover_rates(length=2, num_envs=2, obs_shape=(8, 8, 1), num_actions=3,
                          seconds=0.5)
    assert [r["way"] for r in rows] == ["pickled pipe", "shared-memory slot"]
    assert rows[0]["speedup"] == 1.0 and all(r["unrolls_per_s"] > 0 for r in rows)
    assert rows[1]["speedup"] == rows[1]["unrolls_per_s"] / rows[0]["unrolls_per_s"]

    ctx = mp.get_context("spawn")
    slots = UnrollSlots(ctx, 2, 2, 2, (8, 8, 1), 3)
    for k in range(2):
        np.copyto(slots.view(k).obs, k + 1)
    mine, theirs = ctx.Pipe(duplex=True)
    theirs.send((1, None))
    theirs.send((0, None))
    batch = receive_batch(mine, slots, per_batch=2)
    assert batch.obs.shape == (3, 4, 8, 8, 1)
    assert np.all(batch.obs[:, :2] == 2) and np.all(batch.obs[:, 2:] == 1)
    assert theirs.recv() == ("free", 1) and theirs.recv() == ("free", 0)


def test_the_gpu_check_says_in_one_line_when_tensorflow_sees_no_gpu(tmp_path):
    import json
    import os
    import subprocess
    import sys

    import pytest
    import tensorflow as tf

    from tests.conftest import REPO

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU: the check would run in full")
    out = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), str(tmp_path)],
                         env={**os.environ, "DRARL_GPU_PYTHON": sys.executable},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    errors = [line for line in out.stdout.splitlines() + out.stderr.splitlines()
              if line.startswith("error:")]
    assert errors == ["error: TensorFlow sees no GPU (see the lines above; is the driver "
                      "loaded, and was the `gpu` extra installed?)"]
    devices = json.loads((tmp_path / "devices.json").read_text())
    assert devices["gpus"] == [] and devices["cpu_cores"] == os.cpu_count()


@pytest.mark.slow
def test_stable_baselines3_runs_in_its_own_process_without_tensorflow():
    """benchmark.py --mode=torch_ppo: TensorFlow and torch in one process crashed SB3."""
    for module in ("torch", "stable_baselines3", "cv2"):
        pytest.importorskip(module)
    from drarl_tf.experiments import torch_reference

    row = torch_reference.sb3_ppo_rate_in_process("Pong", timed_rollouts=1)
    assert row["tensorflow_modules"] == []
    assert row["torso_params"] == 1_089_232 and row["frames_per_s"] > 0
