"""SavedModel export and loading: a serving signature that needs TensorFlow only.

Signature `serving_default`: uint8 observations `[B, H, W, C]` ("observation") ->
`policy_logits` [B, A], `greedy_action` [B] int32, `value` [B], and one
`mask_section{i}` per attention module (none for nets without attention).
Signature `grad_cam`: observations and int32 actions `[B]` ("action") -> `grad_cam`
`[B, h, w]`, the paper's eq. 13-14 on the last convolutional features.
Signature `input_gradient`: the same inputs -> `input_gradient` `[B, H, W, C]`, the
gradient of the actions' logits with respect to the pixels scaled to [0, 1].
The run's metadata (game, net, action meanings, observation spec) is a JSON
string in the variable `metadata` and the asset `drarl_metadata.json`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from drarl_tf.errors import DrarlError

METADATA_FILE = "drarl_metadata.json"


def run_metadata(env, algo: str, net: str, seed: int, frames: int, run: str) -> dict:
    """What a SavedModel records about its run: game, actions, algorithm, net, frames."""
    import drarl_tf

    return dict(game=env.name, num_actions=int(env.num_actions),
                action_meanings=list(env.action_meanings), algo=algo, net=net, seed=seed,
                frames=int(frames), run=run, drarl_tf_version=drarl_tf.__version__)


class _Serving(tf.Module):
    def __init__(self, model, obs_shape, metadata: dict, asset_path: str):
        super().__init__()
        self.model = model
        self.metadata = tf.Variable(json.dumps(metadata, sort_keys=True), trainable=False)
        self.metadata_file = tf.saved_model.Asset(asset_path)
        spec = tf.TensorSpec((None,) + tuple(obs_shape), tf.uint8, name="observation")
        self.serve = tf.function(self._serve, input_signature=[spec])
        from drarl_tf.networks import LAST_CONV_FEATURES, POLICY_LOGITS, SCALE_LAYER

        self._features = keras.Model(
            model.input, [model.get_layer(LAST_CONV_FEATURES).output, model.output[POLICY_LOGITS]])
        self._from_pixels = keras.Model(model.get_layer(SCALE_LAYER).output,
                                        model.output[POLICY_LOGITS])
        action = tf.TensorSpec((None,), tf.int32, name="action")
        self.grad_cam = tf.function(self._grad_cam, input_signature=[spec, action])
        self.input_gradient = tf.function(self._input_gradient, input_signature=[spec, action])

    def _input_gradient(self, observation, action):
        # d logit_a / d pixel with pixels scaled to [0, 1] (the paper's Fig. 8).
        pixels = tf.cast(observation, tf.float32) / 255.0
        with tf.GradientTape() as tape:
            tape.watch(pixels)
            logits = self._from_pixels(pixels, training=False)
            chosen = tf.reduce_sum(tf.gather(logits, action, batch_dims=1))
        return {"input_gradient": tape.gradient(chosen, pixels)}

    def _grad_cam(self, observation, action):
        # Eq. 13-14 of the paper on the last convolutional features; the conv variables
        # are watched, so every activation downstream of them is on the tape.
        with tf.GradientTape() as tape:
            features, logits = self._features(observation, training=False)
            tape.watch(features)
            chosen = tf.reduce_sum(tf.gather(logits, action, batch_dims=1))
        grads = tape.gradient(chosen, features)
        alpha = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        return {"grad_cam": tf.nn.relu(tf.reduce_sum(alpha * features, axis=-1))}

    def _serve(self, observation):
        out = self.model(observation, training=False)
        result = {k: tf.cast(v, tf.float32) for k, v in out.items()}
        result["greedy_action"] = tf.argmax(out["policy_logits"], axis=-1, output_type=tf.int32)
        return result


def export_saved_model(model, path, obs_shape, metadata: dict) -> str:
    """Writes `model` as a SavedModel at `path` (replacing an older export atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {**metadata, "obs_shape": list(obs_shape), "obs_dtype": "uint8",
                "outputs": sorted(list(model.output) + ["greedy_action"])}
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        asset = tmp / METADATA_FILE
        asset.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
        module = _Serving(model, obs_shape, metadata, str(asset))
        target = tmp / "model"
        signatures = {"serving_default": module.serve, "grad_cam": module.grad_cam,
                      "input_gradient": module.input_gradient}
        tf.saved_model.save(module, str(target), signatures=signatures)
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(target, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as e:
        raise DrarlError(f"could not write SavedModel to {path}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(path)


class LoadedPolicy:
    """A SavedModel exported by drarl_tf, loaded with plain `tf.saved_model.load`."""

    def __init__(self, path):
        path = Path(path)
        if not (path / "saved_model.pb").exists():
            raise DrarlError(f"no SavedModel at {path} (expected {path / 'saved_model.pb'}); "
                             "pass the directory that export wrote, e.g. saved_models/<run>")
        try:
            from drarl_tf.networks import quiet_grappler

            quiet_grappler()
            self.module = tf.saved_model.load(str(path))
            self.metadata = json.loads(self.module.metadata.numpy().decode())
            self.serve = self.module.signatures["serving_default"]
        except (OSError, ValueError, KeyError, AttributeError, tf.errors.OpError) as e:
            raise DrarlError(f"{path} is not a drarl_tf SavedModel ({type(e).__name__})") from None
        self.path = path
        self.obs_shape = tuple(self.metadata["obs_shape"])
        self.mask_names = sorted(k for k in self.metadata["outputs"] if k.startswith("mask_"))

    def __call__(self, obs) -> dict:
        return {k: v.numpy() for k, v in self.serve(observation=tf.constant(obs)).items()}

    def _explain(self, signature: str, obs, actions) -> np.ndarray:
        if signature not in self.module.signatures:
            raise DrarlError(f"{self.path} was exported without {signature}; export it again")
        out = self.module.signatures[signature](observation=tf.constant(obs),
                                                action=tf.constant(actions, tf.int32))
        return out[signature].numpy()

    def grad_cam(self, obs, actions) -> np.ndarray:
        """Grad-CAM maps `[B, h, w]` of the given actions' logits (eq. 13-14)."""
        return self._explain("grad_cam", obs, actions)

    def input_gradient(self, obs, actions) -> np.ndarray:
        """d logit_a / d pixel `[B, H, W, C]`, pixels scaled to [0, 1]."""
        return self._explain("input_gradient", obs, actions)

    def check_env(self, env) -> None:
        """Refuses an env whose observations or actions do not match the model's."""
        if tuple(env.obs_shape) != self.obs_shape:
            raise DrarlError(f"the model at {self.path} takes observations {self.obs_shape}, "
                             f"but {env.name} gives {tuple(env.obs_shape)}")
        if env.num_actions != self.metadata["num_actions"]:
            raise DrarlError(f"the model at {self.path} has {self.metadata['num_actions']} "
                             f"actions, but {env.name} has {env.num_actions}")


def export_checkpoint(checkpoint, output=None, export_dir: str = "saved_models") -> str:
    """Exports a training checkpoint as a SavedModel.

    Args:
      checkpoint: a run directory (`runs/<run>`, its latest checkpoint) or a
        checkpoint prefix (`runs/<run>/checkpoints/ckpt-N`).
      output: the SavedModel directory; default `<export_dir>/<run>` (`-<frames>` added
        when an older checkpoint than the latest is exported).
    """
    from drarl_tf.envs import make_vector_env
    from drarl_tf.networks import build_network

    checkpoint = Path(checkpoint)
    run_root = checkpoint if checkpoint.is_dir() else checkpoint.parent.parent
    config_path = run_root / "config.json"
    if not config_path.exists():
        raise DrarlError(f"{checkpoint} is not a run directory or checkpoint of one "
                         f"(no {config_path})")
    config = json.loads(config_path.read_text())
    latest = tf.train.latest_checkpoint(str(run_root / "checkpoints"))
    prefix = latest if checkpoint.is_dir() else str(checkpoint)
    if prefix is None or not Path(prefix + ".index").exists():
        raise DrarlError(f"no checkpoint found at {checkpoint}")
    env = make_vector_env(config["game"], 1)
    env.close()
    model = build_network(config["net"], env.num_actions, env.obs_shape)
    frames = tf.Variable(0, dtype=tf.int64)
    try:
        tf.train.Checkpoint(model=model, frames=frames).restore(prefix).expect_partial()
    except (tf.errors.OpError, ValueError, AssertionError) as e:
        raise DrarlError(f"cannot read checkpoint {prefix} ({type(e).__name__})") from None
    name = run_root.name
    if output is None:
        suffix = "" if prefix == latest else f"-{int(frames.numpy())}"
        output = Path(export_dir) / f"{name}{suffix}"
    metadata = run_metadata(env, name.split("-")[0], config["net"], config["seed"],
                            int(frames.numpy()), name)
    return export_saved_model(model, output, env.obs_shape, metadata)
