"""scripts/benchmark.py's end-to-end measurement: the compute bound of docs/design.md
(Performance model) and the precision it ran in (speed itself is measured by the script,
not asserted here)."""

import math

from drarl_tf import ppo
from drarl_tf.experiments import benchmark


def test_ppo_end_to_end_row_has_the_bound_of_its_parts_and_its_precision():
    config = ppo.PPOConfig(net="impala", game="Catch", num_envs=4, unroll_length=8,
                           num_minibatches=2, num_epochs=2, precision="mixed_bfloat16")
    row = benchmark.on_policy_end_to_end("ppo", config, seconds=0.3)
    assert row["precision"] == "mixed_bfloat16" and row["passes_k"] == 2
    e, i, lr = (row[k] for k in ("env_steps_per_s", "inference_samples_per_s",
                                 "train_samples_per_s_per_pass"))
    expected = 1.0 / (1.0 / e + 1.0 / i + 2.0 / lr)
    assert math.isclose(row["compute_bound_samples_per_s"], expected, rel_tol=1e-12)
    assert row["compute_bound_samples_per_s"] < min(e, i, lr / 2)
    assert row["end_to_end_samples_per_s"] > 0
    assert math.isclose(row["ratio_to_bound"], row["end_to_end_samples_per_s"] / expected,
                        rel_tol=1e-12)
    shares = row["env_share"] + row["inference_share"] + row["update_share"]
    assert math.isclose(shares, 1.0, rel_tol=1e-6)
