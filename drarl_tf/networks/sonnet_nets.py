"""The four networks as Sonnet 2 modules, built from the same table as the Keras models.

Sonnet (`dm-sonnet` 2) is the library of the original IMPALA code (scalable_agent) and
of acme's TensorFlow agents. These modules compute exactly what `build_network` builds
(same layers, same maths, same parameter count) and take its weights:

    net = sonnet_from_keras(keras_model)       # same net, same weights
    out = net(observations)                    # uint8 [B, H, W, C] -> the Keras dict
    copy_sonnet_to_keras(net, keras_model)     # and back, after training in Sonnet

Modules (attribute names are the Keras layer names, which is how weights are copied):
  ResidualBlock(channels)              x + conv1(relu(conv0(relu(x))))
  AttentionModule(channels, downsample) (H, M) with H = (1 + M) * T (paper eq. 1)
  Torso(net)                           uint8 obs -> /255 -> 3 sections -> relu ->
                                       flatten -> linear 256 -> relu: `[B, 256]`
  Network(net, num_actions)            torso + heads -> {"policy_logits" [B, A],
                                       "value" [B], "mask_section{i}" (attention nets)}

A Sonnet or acme-style agent uses the torso as its observation encoder: it maps uint8
frames to a `[B, 256]` embedding and knows nothing of the heads, e.g. in an acme-style
IMPALA core (acme.tf.networks):

    torso = Torso("drarl")
    core = snt.DeepRNN([torso, snt.LSTM(256), networks.PolicyValueHead(num_actions)])

and `torso.with_masks(obs)` gives `(embedding, {"mask_section{i}": M_i})` for the
attention visualisations. Variables are made on the first call (Sonnet's way), so
an input shape is needed first: `build_sonnet_network(net, A, obs_shape)` calls the
module once on zeros. Float32 only (the Keras models' mixed precisions are not mirrored).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import sonnet as snt
import tensorflow as tf

from drarl_tf.errors import DrarlError
from drarl_tf.networks.table import NetSpec, net_spec

_MASK_PREFIX = "mask_section"  # builder.MASK_PREFIX; not imported: builder loads Keras


def _conv(channels: int, kernel: int, name: str) -> snt.Conv2D:
    return snt.Conv2D(channels, kernel, stride=1, padding="SAME", name=name)


def _max_pool(x: tf.Tensor) -> tf.Tensor:
    return tf.nn.max_pool2d(x, ksize=3, strides=2, padding="SAME")


class ResidualBlock(snt.Module):
    """IMPALA pre-activation residual block: `x + conv1(relu(conv0(relu(x))))`."""

    def __init__(self, channels: int, name: str | None = None):
        super().__init__(name=name)
        self.conv0 = _conv(channels, 3, "conv0")
        self.conv1 = _conv(channels, 3, "conv1")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        y = self.conv0(tf.nn.relu(x))
        y = self.conv1(tf.nn.relu(y))
        return x + y


class AttentionModule(snt.Module):
    """Residual attention module, paper eq. (1): `H = (1 + M(x)) * T(x)`.

    Trunk T: two residual blocks. Mask M: [max-pool 3x3/2 'SAME'] -> residual block ->
    [bilinear resize to the trunk's exact spatial size] -> 1x1 conv -> relu -> 1x1 conv
    -> sigmoid; the bracketed steps only with `downsample` (DRARL; Simple DRARL has none).
    Returns `(H, M)`, both `[B, h, w, C]`.
    """

    def __init__(self, channels: int, downsample: bool = True, name: str | None = None):
        super().__init__(name=name)
        self.downsample = downsample
        self.trunk_block0 = ResidualBlock(channels, name="trunk_block0")
        self.trunk_block1 = ResidualBlock(channels, name="trunk_block1")
        self.mask_block = ResidualBlock(channels, name="mask_block")
        self.mask_conv0 = _conv(channels, 1, "mask_conv0")
        self.mask_conv1 = _conv(channels, 1, "mask_conv1")

    def trunk_branch(self, x: tf.Tensor) -> tf.Tensor:
        return self.trunk_block1(self.trunk_block0(x))

    def mask_branch(self, x: tf.Tensor) -> tf.Tensor:
        m = _max_pool(x) if self.downsample else x
        m = self.mask_block(m)
        if self.downsample:  # to the trunk's size, not by a factor 2: 11 -> 6 -> 11
            m = tf.image.resize(m, tf.shape(x)[1:3], method="bilinear")
        m = tf.nn.relu(self.mask_conv0(m))
        return tf.sigmoid(self.mask_conv1(m))

    def __call__(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        t = self.trunk_branch(x)
        m = self.mask_branch(x)
        return (1.0 + m) * t, m


class Torso(snt.Module):
    """The IMPALA ResNet torso of a net of the table: uint8 `[B, H, W, C]` -> `[B, 256]`.

    Submodules are attributes named as the Keras layers: `section{i}_conv`,
    `section{i}_block{j}` or `section{i}_attention`, `torso_dense`.
    """

    def __init__(self, net: str | NetSpec, name: str | None = None):
        spec = net if isinstance(net, NetSpec) else net_spec(net)
        super().__init__(name=name or f"{spec.name}_torso")
        self.spec = spec
        self._bodies: list[tuple[str, list[str], str | None]] = []
        for i, channels in enumerate(spec.channels):
            p = f"section{i}"
            setattr(self, f"{p}_conv", _conv(channels, 3, f"{p}_conv"))
            blocks = [f"{p}_block{j}" for j in range(spec.residual_blocks)]
            for block in blocks:
                setattr(self, block, ResidualBlock(channels, name=block))
            attention = f"{p}_attention" if spec.attention else None
            if attention:
                setattr(self, attention, AttentionModule(
                    channels, downsample=spec.downsample_mask, name=attention))
            self._bodies.append((f"{p}_conv", blocks, attention))
        self.torso_dense = snt.Linear(spec.hidden_units, name="torso_dense")

    def features(self, obs: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """The last conv features (Keras' `torso_features`, before the relu) and the masks."""
        x = tf.cast(obs, tf.float32) * (1.0 / 255.0)
        masks = {}
        for i, (conv, blocks, attention) in enumerate(self._bodies):
            x = _max_pool(getattr(self, conv)(x))
            for block in blocks:
                x = getattr(self, block)(x)
            if attention:
                x, masks[f"{_MASK_PREFIX}{i}"] = getattr(self, attention)(x)
        return x, masks

    def with_masks(self, obs: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """`(embedding [B, 256], {"mask_section{i}": [B, h_i, w_i, C_i]})`."""
        x, masks = self.features(obs)
        x = snt.flatten(tf.nn.relu(x))
        return tf.nn.relu(self.torso_dense(x)), masks

    def __call__(self, obs: tf.Tensor) -> tf.Tensor:
        return self.with_masks(obs)[0]


class Network(snt.Module):
    """Torso + policy-logits and value heads: the Sonnet twin of `build_network`'s model.

    Returns the Keras model's dict: `policy_logits` `[B, A]`, `value` `[B]` and, for the
    attention nets, `mask_section{0,1,2}`.
    """

    def __init__(self, net: str | NetSpec, num_actions: int, name: str | None = None):
        spec = net if isinstance(net, NetSpec) else net_spec(net)
        if int(num_actions) < 1:
            raise DrarlError(f"num_actions must be >= 1, got {num_actions}")
        super().__init__(name=name or spec.name)
        self.spec = spec
        self.num_actions = int(num_actions)
        self.torso = Torso(spec, name="torso")
        self.policy_logits = snt.Linear(self.num_actions, name="policy_logits")
        self.value_layer = snt.Linear(1, name="value_layer")

    def __call__(self, obs: tf.Tensor) -> dict[str, tf.Tensor]:
        x, masks = self.torso.with_masks(obs)
        value = tf.squeeze(self.value_layer(x), axis=-1)
        return {"policy_logits": self.policy_logits(x), "value": value, **masks}


def build_sonnet_network(net: str, num_actions: int,
                         obs_shape: Sequence[int] | None = (84, 84, 4)) -> Network:
    """A `Network` with its variables made for `obs_shape` (`None`: on the first call)."""
    module = Network(net, num_actions)
    if obs_shape is not None:
        module(tf.zeros((1, *(int(d) for d in obs_shape)), tf.uint8))
    return module


def _leaves(module: snt.Module, path: tuple[str, ...] = ()) -> Iterator[tuple]:
    """`(attribute path, conv or linear)` for every parametrised layer below `module`."""
    for attribute, child in sorted(vars(module).items()):
        if isinstance(child, snt.Conv2D | snt.Linear):
            yield path + (attribute,), child
        elif isinstance(child, snt.Module):
            yield from _leaves(child, path + (attribute,))


def _pairs(model, module: Network) -> list[tuple[tf.Variable, tf.Variable, str]]:
    """(Keras variable, Sonnet variable, path) for every weight, matched by layer name.

    The Sonnet attribute path (`torso/section0_attention/mask_block/conv0`) names the
    Keras layer (`section0_attention`, its attribute `mask_block`, its `conv0`): the
    Keras model is flat, so the `torso/` step is dropped. Refuses a mismatch in names,
    shapes or coverage (a weight on either side that no pair uses).
    """
    from drarl_tf.networks.builder import net_name_of

    if net_name_of(model) != module.spec.name:
        raise DrarlError(f"cannot copy weights between a {net_name_of(model)} Keras model "
                         f"and a {module.spec.name} Sonnet module")
    if not module.variables:  # Sonnet makes its variables on the first call
        module(tf.zeros((1, *model.input.shape[1:]), tf.uint8))
    pairs = []
    for path, leaf in _leaves(module):
        keras_path = path[1:] if path[0] == "torso" else path
        try:
            layer = model.get_layer(keras_path[0])
            for attribute in keras_path[1:]:
                layer = getattr(layer, attribute)
        except (ValueError, AttributeError):
            raise DrarlError(f"the Keras model has no layer {'/'.join(keras_path)}") from None
        for keras_variable, sonnet_variable in ((layer.kernel, leaf.w), (layer.bias, leaf.b)):
            name = f"{'/'.join(path)}/{sonnet_variable.name.split('/')[-1].split(':')[0]}"
            if tuple(keras_variable.shape) != tuple(sonnet_variable.shape):
                raise DrarlError(f"{name}: Keras shape {tuple(keras_variable.shape)} != "
                                 f"Sonnet shape {tuple(sonnet_variable.shape)}")
            pairs.append((keras_variable, sonnet_variable, name))
    keras_left = {id(v) for v in model.weights} - {id(k) for k, _, _ in pairs}
    sonnet_left = {id(v) for v in module.variables} - {id(s) for _, s, _ in pairs}
    if keras_left or sonnet_left or len(pairs) != len(model.weights):
        raise DrarlError(f"weights without a counterpart: {len(keras_left)} Keras, "
                         f"{len(sonnet_left)} Sonnet")
    return pairs


def copy_keras_to_sonnet(model, module: Network) -> Network:
    """Copies a `build_network` model's weights into `module` (same net and actions)."""
    for keras_variable, sonnet_variable, _ in _pairs(model, module):
        sonnet_variable.assign(np.asarray(keras_variable.numpy(), np.float32))
    return module


def copy_sonnet_to_keras(module: Network, model) -> None:
    """Copies `module`'s weights into a `build_network` model (same net and actions)."""
    for keras_variable, sonnet_variable, _ in _pairs(model, module):
        keras_variable.assign(sonnet_variable.numpy())


def sonnet_from_keras(model) -> Network:
    """The Sonnet twin of a `build_network` model, with its weights."""
    from drarl_tf.networks.builder import POLICY_LOGITS, net_name_of

    num_actions = int(model.output[POLICY_LOGITS].shape[-1])
    module = build_sonnet_network(net_name_of(model), num_actions, model.input.shape[1:])
    return copy_keras_to_sonnet(model, module)


def parameter_count(module: snt.Module) -> int:
    """Number of parameters of a (called) Sonnet module."""
    return int(sum(v.shape.num_elements() for v in module.variables))
