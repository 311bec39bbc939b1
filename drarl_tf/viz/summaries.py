"""TensorBoard image summaries during training: attention masks and Grad-CAM overlays."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from drarl_tf.networks import mask_output_names
from drarl_tf.viz.gradcam import float_twin, grad_cam
from drarl_tf.viz.overlay import enlarge, overlay
from drarl_tf.viz.statistics import input_gradient_histogram


class ImageSummaries:
    """Overlays on a fixed batch of observations, written as `attention/mask_section{i}`
    (channel-mean mask over the newest frame; nets with attention only),
    `gradcam/policy` (Grad-CAM of the greedy action; every net) and the histogram
    `gradients/log10_abs_input_gradient` (the paper's Fig. 8)."""

    def __init__(self, model, obs: np.ndarray, max_images: int = 4):
        self.model = model
        self.obs = np.array(obs[:max_images], np.uint8)
        self.masks = mask_output_names(model)
        self.scale = max(1, int(np.ceil(84 / min(self.obs.shape[1:3]))))
        self._twin = float_twin(model)

    def _images(self, maps: np.ndarray) -> np.ndarray:
        frames = self.obs[..., -1]
        images = [enlarge(overlay(f, m), self.scale) for f, m in zip(frames, maps, strict=True)]
        return np.stack(images).astype(np.float32) / 255.0

    def write(self, writer, step: int) -> None:
        out = self.model(self.obs)
        with writer.as_default(step=step):
            for name in self.masks:
                tf.summary.image(f"attention/{name}", self._images(out[name].numpy().mean(-1)),
                                 max_outputs=len(self.obs))
            cam = grad_cam(self.model, self.obs, upsample=False, twin=self._twin)
            tf.summary.image("gradcam/policy", self._images(cam), max_outputs=len(self.obs))
            grads = input_gradient_histogram(self.model, self.obs)["abs_gradients"]
            # Fig. 8 of the paper as a TensorBoard histogram of log10 |d logit_a / d pixel|.
            tf.summary.histogram("gradients/log10_abs_input_gradient",
                                 np.log10(np.maximum(grads, 1e-12)))
        writer.flush()
