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
import types
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from drarl_tf.bookkeeping.checkpoints import checkpoint_prefixes, nonfinite_variables
from drarl_tf.bookkeeping.paths import check_saved_model_dir, probe_writable
from drarl_tf.bookkeeping.results import METADATA_FILE, read_metadata
from drarl_tf.errors import DrarlError
from drarl_tf.tf_settings import configure_tensorflow


def run_metadata(env_spec, algo: str, net: str, seed: int, frames: int, run_dir) -> dict:
    """What a SavedModel records about its run: game, actions, algorithm, net, frames, and
    the run directory (absolute) it came from. `env_spec` is the game's `EnvSpec`."""
    import drarl_tf

    run_dir = Path(run_dir).resolve()
    return dict(game=env_spec.name, num_actions=int(env_spec.num_actions),
                action_meanings=list(env_spec.action_meanings), algo=algo, net=net, seed=seed,
                frames=int(frames), run=run_dir.name, run_dir=str(run_dir),
                protocol=env_spec.protocol, drarl_tf_version=drarl_tf.__version__)


class _Serving(tf.Module):
    """The exported object: three signatures, the metadata and the variables they read.

    The Keras model itself is not an attribute: TensorFlow's session-based loader (the
    one `saved_model_cli run`, TF Serving and the C++ API use) restores only variables
    that the object graph names as plain `tf.Variable`s, and Keras 3 puts its own
    variable wrappers there. The signatures' captured variables are listed instead.
    """

    def __init__(self, model, obs_shape, metadata: dict, asset_path: str):
        super().__init__()
        from drarl_tf.networks import LAST_CONV_FEATURES, POLICY_LOGITS, SCALE_LAYER

        self.metadata = tf.Variable(json.dumps(metadata, sort_keys=True), trainable=False)
        self.metadata_file = tf.saved_model.Asset(asset_path)
        # In a plain namespace, which the object graph does not follow (see the docstring).
        self._keras = types.SimpleNamespace(
            model=model,
            features=keras.Model(model.input, [model.get_layer(LAST_CONV_FEATURES).output,
                                               model.output[POLICY_LOGITS]]),
            from_pixels=keras.Model(model.get_layer(SCALE_LAYER).output,
                                    model.output[POLICY_LOGITS]))
        spec = tf.TensorSpec((None,) + tuple(obs_shape), tf.uint8, name="observation")
        action = tf.TensorSpec((None,), tf.int32, name="action")
        self.serve = tf.function(self._serve, input_signature=[spec], autograph=False)
        self.grad_cam = tf.function(self._grad_cam, input_signature=[spec, action],
                                    autograph=False)
        self.input_gradient = tf.function(self._input_gradient,
                                          input_signature=[spec, action], autograph=False)
        captured: dict[int, tf.Variable] = {}
        for fn in (self.serve, self.grad_cam, self.input_gradient):
            for variable in fn.get_concrete_function().variables:
                captured.setdefault(id(variable), variable)
        self.model_variables = list(captured.values())

    def _input_gradient(self, observation, action):
        # d logit_a / d pixel with pixels scaled to [0, 1] (the paper's Fig. 8).
        pixels = tf.cast(observation, tf.float32) / 255.0
        with tf.GradientTape() as tape:
            tape.watch(pixels)
            logits = self._keras.from_pixels(pixels, training=False)
            chosen = tf.reduce_sum(tf.gather(logits, action, batch_dims=1))
        return {"input_gradient": tape.gradient(chosen, pixels)}

    def _grad_cam(self, observation, action):
        # Eq. 13-14 of the paper on the last convolutional features; the conv variables
        # are watched, so every activation downstream of them is on the tape.
        with tf.GradientTape() as tape:
            features, logits = self._keras.features(observation, training=False)
            tape.watch(features)
            chosen = tf.reduce_sum(tf.gather(logits, action, batch_dims=1))
        grads = tape.gradient(chosen, features)
        alpha = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        return {"grad_cam": tf.nn.relu(tf.reduce_sum(alpha * features, axis=-1))}

    def _serve(self, observation):
        out = self._keras.model(observation, training=False)
        result = {k: tf.cast(v, tf.float32) for k, v in out.items()}
        result["greedy_action"] = tf.argmax(out["policy_logits"], axis=-1, output_type=tf.int32)
        return result


def check_export_target(path, run_dir: str | None = None, own: bool = False) -> Path:
    """Refuses, with one line, a SavedModel destination that cannot be written or that
    holds anything but an earlier export of the same run; creates its parent.

    Args:
      path: the SavedModel directory to be written.
      run_dir: the absolute run directory recorded in the export's metadata; an
        existing export there is replaced only if it records the same one.
      own: `path` is the run's own `saved_model/` directory: always the run's to replace.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DrarlError(f"cannot write a SavedModel to {path}: it is a file")
    if path.is_dir() and any(path.iterdir()) and not own:
        previous = read_metadata(path)
        if not previous:
            raise DrarlError(f"{path} already exists and is not a drarl_tf SavedModel; "
                             "refusing to replace it: choose another output directory")
        if run_dir is None or previous.get("run_dir") != run_dir:
            raise DrarlError(f"{path} holds the export of another run "
                             f"({previous.get('run_dir') or previous.get('run', 'unknown')}); "
                             "refusing to replace it: choose another output directory "
                             "or delete that one")
    probe_writable(path.parent, f"a SavedModel to {path}")
    return path


def export_saved_model(model, path, obs_shape, metadata: dict, own: bool = False) -> str:
    """Writes `model` as a SavedModel at `path`, replacing an older export of the same run
    (`metadata["run_dir"]`) atomically; anything else at `path` is refused
    (`check_export_target`). `own`: `path` is the run's own `saved_model/`."""
    bad = nonfinite_variables(model.variables)
    if bad:
        raise DrarlError(f"refusing to export to {path}: {len(bad)} weights are not finite "
                         f"(first: {bad[0]})")
    path = check_export_target(path, metadata.get("run_dir"), own)
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
        path = check_saved_model_dir(path)
        try:
            configure_tensorflow()
            self.module = tf.saved_model.load(str(path))
            self.metadata = json.loads(self.module.metadata.numpy().decode())
            self.serve = self.module.signatures["serving_default"]
        except (OSError, ValueError, KeyError, AttributeError, IndexError,
                tf.errors.OpError) as e:  # IndexError: truncated variables
            raise DrarlError(f"{path} is not a readable drarl_tf SavedModel "
                             f"({type(e).__name__}: {str(e).strip()[:120]})") from None
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


def export_checkpoint(checkpoint, output=None, export_dir: str = "") -> str:
    """Exports a training checkpoint as a SavedModel.

    Args:
      checkpoint: a run directory (`runs/<run>`, its latest checkpoint) or a
        checkpoint prefix (`runs/<run>/checkpoints/ckpt-N`, `runs/<run>/milestones/ckpt-N`).
      output: the SavedModel directory; refused if it holds anything but an earlier
        export of the same run. Default: where the run itself exports
        (`<run>/saved_model`, or `<export_dir>/<run>`), with `-<frames>` added when
        an older checkpoint than the latest is exported.
    """
    from drarl_tf.bookkeeping.run_dir import export_path
    from drarl_tf.envs import describe
    from drarl_tf.networks import build_network, net_name_of

    checkpoint = Path(checkpoint)
    run_root = checkpoint if checkpoint.is_dir() else checkpoint.parent.parent
    config_path = run_root / "config.json"
    if not config_path.exists():
        raise DrarlError(f"{checkpoint} is not a run directory or checkpoint of one "
                         f"(no {config_path})")
    try:
        config = json.loads(config_path.read_text())
        game, net, seed = config["game"], config["net"], config["seed"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DrarlError(f"{config_path} is unreadable or damaged ({type(e).__name__}); "
                         "the run's settings are needed to rebuild its network") from None
    latest = tf.train.latest_checkpoint(str(run_root / "checkpoints"))
    if latest is None:  # a lost index: the newest checkpoint file
        latest = next(iter(checkpoint_prefixes(run_root / "checkpoints")), None)
    prefix = latest if checkpoint.is_dir() else str(checkpoint)
    if prefix is None or not Path(prefix + ".index").exists():
        raise DrarlError(f"no checkpoint found at {checkpoint}")
    run_dir = str(run_root.resolve())
    if output is not None:  # refused before the checkpoint is read
        check_export_target(output, run_dir)
    spec = describe(game)
    model = build_network(net, spec.num_actions, spec.obs_shape)
    frames = tf.Variable(0, dtype=tf.int64)
    try:
        tf.train.Checkpoint(model=model, frames=frames).restore(prefix).expect_partial()
    except (tf.errors.OpError, ValueError, AssertionError, IndexError) as e:
        raise DrarlError(f"cannot read checkpoint {prefix} ({type(e).__name__}: "
                         f"{str(e).strip()[:120]}); export an earlier one "
                         "(runs/<run>/checkpoints/ckpt-N)") from None
    own = False
    if output is None:
        output = export_path(run_root, export_dir)
        own = not export_dir and prefix == latest
        if prefix != latest:
            output = output.with_name(f"{output.name}-{int(frames.numpy())}")
    metadata = run_metadata(spec, run_root.name.split("-")[0], net_name_of(model), seed,
                            int(frames.numpy()), run_dir)
    return export_saved_model(model, output, spec.obs_shape, metadata, own=own)
