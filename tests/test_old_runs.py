"""A run directory written by an older version of the package resumes.

`tests/data/runs_7205cfd/` holds two runs written by commit 7205cfd (before the
package's second redesign): PPO with `drarl` and IMPALA with `impala`, both on Catch,
seed 1, kept to their config, newest checkpoint and image states (no TensorBoard
logs, milestones or SavedModel, to stay small). The same command with the same
settings must find them finished and export exactly their weights; a larger budget
must continue their frames, updates and learning-rate schedule."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from drarl_tf import ppo
from drarl_tf.impala import ImpalaConfig, train

SIGNATURES = {"serving_default", "grad_cam", "input_gradient"}
OLD = Path(__file__).parent / "data" / "runs_7205cfd"

RUNS = {
    "ppo-drarl-Catch-s1": (ppo.PPOConfig, ppo.train, dict(
        net="drarl", num_envs=4, unroll_length=16, num_minibatches=2, num_epochs=2,
        log_interval_seconds=1e9), 128, 8),
    "impala-impala-Catch-s1": (ImpalaConfig, train, dict(
        net="impala", unroll_length=5, batch_size=4, envs_per_actor=2, num_actors=2,
        log_interval_seconds=1000.0), 100, 5),
}


def _copy(name, tmp_path) -> Path:
    shutil.copytree(OLD / name, tmp_path / name)
    return tmp_path / name


def _model_tensors(checkpoint_dir) -> list[np.ndarray]:
    reader = tf.train.load_checkpoint(str(checkpoint_dir))
    return [reader.get_tensor(n) for n in sorted(reader.get_variable_to_shape_map())
            if n.startswith("optimizer/_trainable_variables/")]  # the model's weights


@pytest.mark.parametrize("name", list(RUNS))
def test_an_old_finished_run_exports_its_own_weights(tmp_path, name, capsys):
    cls, trainer, settings, frames, updates = RUNS[name]
    run = _copy(name, tmp_path)
    old = _model_tensors(run / "checkpoints")
    result = trainer(cls(game="Catch", seed=1, total_frames=frames, logdir=str(tmp_path),
                         **settings))
    out = capsys.readouterr().out
    assert "resumed from" in out and f"at {frames} frames" in out
    assert (result.frames, result.updates) == (frames, updates)
    # Nothing was trained: the SavedModel written now holds exactly the old weights.
    exported = tf.saved_model.load(str(run / "saved_model"))
    assert set(exported.signatures) == SIGNATURES
    reader = tf.train.load_checkpoint(str(run / "saved_model" / "variables" / "variables"))
    values = [reader.get_tensor(n) for n, dtype in reader.get_variable_to_dtype_map().items()
              if dtype.is_floating]
    assert len(old) >= 36 and len(values) >= len(old)
    for tensor in old:
        assert any(v.shape == tensor.shape and np.array_equal(v, tensor) for v in values)


@pytest.mark.parametrize("name", list(RUNS))
def test_an_old_run_goes_on_with_a_larger_budget(tmp_path, name, capsys):
    cls, trainer, settings, frames, updates = RUNS[name]
    _copy(name, tmp_path)
    result = trainer(cls(game="Catch", seed=1, total_frames=2 * frames, logdir=str(tmp_path),
                         **settings))
    out = capsys.readouterr().out
    assert f"at {frames} frames" in out and "the learning rate goes on from" in out
    assert (result.frames, result.updates) == (2 * frames, 2 * updates)
