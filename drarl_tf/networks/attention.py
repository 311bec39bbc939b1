"""Keras layers of the IMPALA ResNet and the DRARL residual attention module."""

from __future__ import annotations

import keras
import tensorflow as tf


def _conv(channels: int, kernel: int, name: str) -> keras.layers.Conv2D:
    return keras.layers.Conv2D(channels, kernel, strides=1, padding="same", name=name)


def _max_pool(name: str) -> keras.layers.MaxPooling2D:
    return keras.layers.MaxPooling2D(pool_size=3, strides=2, padding="same", name=name)


@keras.saving.register_keras_serializable(package="drarl_tf")
class ResidualBlock(keras.layers.Layer):
    """IMPALA pre-activation residual block: `x + conv(relu(conv(relu(x))))`."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.conv0 = _conv(channels, 3, "conv0")
        self.conv1 = _conv(channels, 3, "conv1")

    def build(self, input_shape):
        self.conv0.build(input_shape)
        self.conv1.build(tuple(input_shape[:-1]) + (self.channels,))
        super().build(input_shape)

    def call(self, x):
        y = self.conv0(tf.nn.relu(x))
        y = self.conv1(tf.nn.relu(y))
        return x + y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="drarl_tf")
class AttentionModule(keras.layers.Layer):
    """Residual attention module, paper eq. (1): `H = (1 + M(x)) * T(x)`.

    Trunk T: two residual blocks. Mask M: max-pool 3x3/2 -> residual block ->
    bilinear resize to the trunk's exact spatial size -> 1x1 conv -> relu ->
    1x1 conv -> sigmoid. With `downsample=False` (the Simple DRARL ablation)
    the mask branch has no max-pool and no resize.

    Returns `(H, M)`; M has the trunk's shape `[B, h, w, C]`, values in [0, 1].
    """

    def __init__(self, channels: int, downsample: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.downsample = downsample
        # Named attributes, not a list: TF checkpoints do not follow Keras' list tracking.
        self.trunk_block0 = ResidualBlock(channels, name="trunk_block0")
        self.trunk_block1 = ResidualBlock(channels, name="trunk_block1")
        self.mask_pool = _max_pool("mask_pool") if downsample else None
        self.mask_block = ResidualBlock(channels, name="mask_block")
        self.mask_conv0 = _conv(channels, 1, "mask_conv0")
        self.mask_conv1 = _conv(channels, 1, "mask_conv1")

    def build(self, input_shape):
        self.trunk_block0.build(input_shape)
        self.trunk_block1.build(input_shape)
        pooled = input_shape
        if self.downsample:
            pooled = self.mask_pool.compute_output_shape(input_shape)
        self.mask_block.build(pooled)
        self.mask_conv0.build(input_shape)
        self.mask_conv1.build(input_shape)
        super().build(input_shape)

    def trunk_branch(self, x):
        return self.trunk_block1(self.trunk_block0(x))

    def mask_branch(self, x):
        m = x
        if self.downsample:
            m = self.mask_pool(m)
        m = self.mask_block(m)
        if self.downsample:
            # Resize to the trunk's size, not by a factor 2: 11 -> 6 -> 11.
            # Resized in float32 (what tf.image.resize computes in), with explicit casts
            # both ways so that the gradient keeps one dtype per op under bfloat16.
            m = tf.image.resize(tf.cast(m, tf.float32), tf.shape(x)[1:3], method="bilinear")
            m = tf.cast(m, x.dtype)
        m = tf.nn.relu(self.mask_conv0(m))
        return tf.sigmoid(self.mask_conv1(m))

    def call(self, x):
        t = self.trunk_branch(x)
        m = self.mask_branch(x)
        return (1.0 + m) * t, m

    def compute_output_shape(self, input_shape):
        return input_shape, input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "downsample": self.downsample,
        }
