"""TensorBoard image summaries during training: attention masks and Grad-CAM on a fixed,
diverse batch of states, on stated scales."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from drarl_tf.networks import mask_output_names
from drarl_tf.viz.gradcam import float_twin, grad_cam
from drarl_tf.viz.panels import batch_grid, channel_grid
from drarl_tf.viz.scale import MASK_RANGE, fmt
from drarl_tf.viz.statistics import input_gradient_histogram

NUM_STATES = 4


def select_diverse_states(obs: np.ndarray, count: int = NUM_STATES, seed: int = 0) -> np.ndarray:
    """`count` distinct observations of `obs` `[N, H, W, C]`, each as far (in pixels) from
    the ones chosen before it as possible: the first at random (seeded), then greedy
    farthest-point selection. Fewer are returned only if `obs` holds fewer distinct ones."""
    obs = np.asarray(obs, np.uint8).reshape((-1,) + np.shape(obs)[-3:])
    _, first = np.unique(obs.reshape(len(obs), -1), axis=0, return_index=True)
    unique = obs[np.sort(first)]
    count = min(count, len(unique))
    flat = unique.reshape(len(unique), -1).astype(np.float32)
    chosen = [int(np.random.default_rng(seed).integers(len(unique)))]
    distance = ((flat - flat[chosen[0]]) ** 2).sum(1)
    while len(chosen) < count:
        nxt = int(np.argmax(distance))
        chosen.append(nxt)
        distance = np.minimum(distance, ((flat - flat[nxt]) ** 2).sum(1))
    return unique[chosen]


class ImageSummaries:
    """Writes, for a fixed batch of states:

    - `attention/mask_section{i}`: per state the newest frame, the channel-mean mask on
      the absolute scale [0, 1] and the same map min-max stretched, with the ranges in
      the image and the description (nets with attention);
    - `attention_channels/mask_section{i}`: every channel of the first state's mask on [0, 1];
    - `gradcam/policy`: Grad-CAM of the greedy action, from 0 to the batch's largest value;
    - the histogram `gradients/log10_abs_input_gradient` (the paper's Fig. 8).
    """

    def __init__(self, model, states: np.ndarray):
        self.model = model
        self.obs = np.array(states, np.uint8)
        self.masks = mask_output_names(model)
        self.scale = max(1, int(np.ceil(168 / self.obs.shape[1])))
        self._twin = float_twin(model)

    def write(self, writer, step: int) -> None:
        out = self.model(self.obs)
        frames = self.obs[..., -1]
        with writer.as_default(step=step):
            for name in self.masks:
                mask = out[name].numpy()
                means = mask.mean(-1)
                image, _ = batch_grid(frames, means, *MASK_RANGE, name, True, self.scale)
                tf.summary.image(
                    f"attention/{name}", image[None], max_outputs=1,
                    description=(f"{name}, channel mean, on the absolute scale 0-1 (viridis; "
                                 f"colour bar at the right); at this step its values span "
                                 f"{fmt(means.min())}-{fmt(means.max())}. The third column "
                                 "is stretched per state; its min and max are under the grid."))
                tf.summary.image(f"attention_channels/{name}",
                                 channel_grid(name, mask[0], self.scale)[None], max_outputs=1,
                                 description=f"every channel of {name} for state 0, on 0-1")
                tf.summary.scalar(f"attention_range/{name}_min", float(means.min()))
                tf.summary.scalar(f"attention_range/{name}_max", float(means.max()))
            cam = grad_cam(self.model, self.obs, upsample=False, twin=self._twin)
            top = max(float(cam.max()), 1e-12)
            image, _ = batch_grid(frames, cam, 0.0, top, "Grad-CAM", False, self.scale)
            tf.summary.image("gradcam/policy", image[None], max_outputs=1,
                             description=(f"Grad-CAM of the greedy action, colour scale 0 to "
                                          f"{fmt(top)} (this batch's largest value)"))
            grads = input_gradient_histogram(self.model, self.obs)["abs_gradients"]
            # Fig. 8 of the paper as a TensorBoard histogram of log10 |d logit_a / d pixel|.
            tf.summary.histogram("gradients/log10_abs_input_gradient",
                                 np.log10(np.maximum(grads, 1e-12)))
        writer.flush()
