"""TensorBoard image summaries during training: attention masks and Grad-CAM on a fixed,
diverse batch of states, on stated scales."""

from __future__ import annotations

import contextlib

import numpy as np
import tensorflow as tf

from drarl_tf.networks import mask_output_names
from drarl_tf.viz.gradcam import float_twin, grad_cam
from drarl_tf.viz.gradients import input_gradient_histogram
from drarl_tf.viz.overlay import legend, picture
from drarl_tf.viz.panels import batch_grid, channel_grid
from drarl_tf.viz.scale import MASK_RANGE

NUM_STATES = 4


def blank_frames(obs: np.ndarray) -> np.ndarray:
    """bool `[N, C]`: which stacked frames (channels) of `obs` `[N, H, W, C]` are blank,
    one value everywhere (e.g. the zero frames a stack starts with after a reset)."""
    obs = np.asarray(obs)
    return (obs == obs[:, :1, :1, :]).all(axis=(1, 2))


def select_diverse_states(obs: np.ndarray, count: int = NUM_STATES, seed: int = 0) -> np.ndarray:
    """`count` distinct observations of `obs` `[..., H, W, C]` (C stacked frames, newest
    last), each as far (in pixels) from the ones chosen before it as possible: the first at
    random (seeded), then greedy farthest-point selection.

    Only states whose stacked frames are all from the game in play (no blank frame, see
    `blank_frames`) are candidates while any is left: the states just after a reset, their
    older frames black, are far from everything and would otherwise win, and look alike.
    The others fill up only when too few full ones exist. Fewer than `count` are returned
    only if `obs` holds fewer distinct ones. Deterministic given `seed`."""
    obs = np.asarray(obs, np.uint8).reshape((-1,) + np.shape(obs)[-3:])
    _, first = np.unique(obs.reshape(len(obs), -1), axis=0, return_index=True)
    unique = obs[np.sort(first)]
    full = ~blank_frames(unique).any(-1)
    unique = np.concatenate([unique[full], unique[~full]])  # full ones first, order kept
    num_full = int(full.sum())
    count = min(count, len(unique))
    flat = unique.reshape(len(unique), -1).astype(np.float32)
    chosen = [int(np.random.default_rng(seed).integers(num_full or len(unique)))]
    distance = ((flat - flat[chosen[0]]) ** 2).sum(1)
    while len(chosen) < count:
        # Chosen states are at distance 0 and the others, distinct, farther: the argmax is
        # a new state, a full one while any full one is left.
        pool = distance[:num_full] if len(chosen) < num_full else distance
        nxt = int(np.argmax(pool))
        chosen.append(nxt)
        distance = np.minimum(distance, ((flat - flat[nxt]) ** 2).sum(1))
    return unique[chosen]


def mask_description(name: str) -> str:
    """The TensorBoard description of `attention/<name>`. TensorBoard shows the first
    description written for a tag at every step, so it holds no step's numbers: those
    are in the image and the `attention_range/` scalars."""
    return (f"{name}, averaged over channels. Per state (row): the newest frame; the mask on "
            "the absolute scale 0-1 (viridis, colour bar at the right of the grid); the same "
            "mask stretched to the state's own min-max, with its own colour bar labelled "
            "with that min and max. The step's values are in the image's footer and in the "
            f"scalars attention_range/{name}_min and attention_range/{name}_max.")


def channels_description(name: str) -> str:
    """The TensorBoard description of `attention_channels/<name>` (no step's numbers)."""
    return (f"every channel of {name} for state 0, on the absolute scale 0-1; the step's "
            "values are in the image's footer")


GRADCAM_DESCRIPTION = (
    "Grad-CAM of the greedy action's logit per state (row), on a colour scale from 0 to "
    "the batch's largest value at this step: the number at the top of the colour bar, also "
    "the scalar gradcam_range/max")


class ImageSummaries:
    """Writes, for a fixed batch of states:

    - `attention/mask_section{i}`: per state the newest frame, the channel-mean mask on
      the absolute scale [0, 1] and the same map min-max stretched, with its own colour
      bar labelled with the state's min and max (nets with attention);
    - `attention_channels/mask_section{i}`: every channel of the first state's mask on [0, 1];
    - `attention_range/mask_section{i}_min` and `_max`: the channel-mean masks' range;
    - `gradcam/policy`: Grad-CAM of the greedy action, from 0 to the batch's largest value,
      that value also the scalar `gradcam_range/max`;
    - the histogram `gradients/log10_abs_input_gradient` (the paper's Fig. 8).

    The descriptions are the same at every step (TensorBoard shows only the first one
    written for a tag); the step's numbers are in the images and the scalars.
    """

    def __init__(self, model, states: np.ndarray, objects=()):
        self.model = model
        self.obs = np.array(states, np.uint8)
        self.objects = tuple(objects)  # MinAtar's object channels, drawn in colour
        self.masks = mask_output_names(model)
        self.scale = max(1, int(np.ceil(168 / self.obs.shape[1])))
        self._twin = float_twin(model)

    def write(self, writer, step: int) -> None:
        out = self.model(self.obs)
        frames = np.stack([picture(o, self.objects, newest=True) for o in self.obs])
        with writer.as_default(step=step):
            for name in self.masks:
                mask = out[name].numpy()
                means = mask.mean(-1)
                image, _ = batch_grid(frames, means, *MASK_RANGE, name, True, self.scale,
                                      legend(self.objects))
                tf.summary.image(f"attention/{name}", image[None], max_outputs=1,
                                 description=mask_description(name))
                tf.summary.image(f"attention_channels/{name}",
                                 channel_grid(name, mask[0], self.scale)[None], max_outputs=1,
                                 description=channels_description(name))
                tf.summary.scalar(f"attention_range/{name}_min", float(means.min()))
                tf.summary.scalar(f"attention_range/{name}_max", float(means.max()))
            cam = grad_cam(self.model, self.obs, upsample=False, twin=self._twin)
            top = max(float(cam.max()), 1e-12)
            image, _ = batch_grid(frames, cam, 0.0, top, "Grad-CAM", False, self.scale,
                                  legend(self.objects))
            tf.summary.image("gradcam/policy", image[None], max_outputs=1,
                             description=GRADCAM_DESCRIPTION)
            tf.summary.scalar("gradcam_range/max", top)
            grads = input_gradient_histogram(self.model, self.obs)["abs_gradients"]
            # Fig. 8 of the paper as a TensorBoard histogram of log10 |d logit_a / d pixel|.
            tf.summary.histogram("gradients/log10_abs_input_gradient",
                                 np.log10(np.maximum(grads, 1e-12)))
        writer.flush()


class RunImages:
    """A training run's TensorBoard images (what `TrainingSession` calls to draw them):
    `ImageSummaries` of `model` on diverse states of the run's first update, kept in
    the run directory so that a resumed run shows the same states.

    Args:
      model: the learner's network.
      env_spec: the game's `EnvSpec` (its observation shape and name: MinAtar games
        are drawn one colour per object channel).
      seed: picks the states among the first update's observations.
    """

    def __init__(self, model, env_spec, seed: int):
        from drarl_tf.envs.minatar import object_channels

        self.model, self.seed = model, seed
        self.obs_shape = tuple(env_spec.obs_shape)
        self.objects = object_channels(env_spec.name)
        self._summaries = None

    @property
    def wants_states(self) -> bool:
        """True until the states are chosen: the run then hands its observations over."""
        return self._summaries is None

    def _states(self, obs, states_file) -> np.ndarray | None:
        states = None
        if states_file.exists():
            with contextlib.suppress(OSError, ValueError):
                states = np.load(states_file)
        if states is None or states.shape[1:] != self.obs_shape:
            if obs is None:
                return None
            states = select_diverse_states(obs, seed=self.seed)
            with contextlib.suppress(OSError):
                np.save(states_file, states)
        return states

    def write(self, writer, frames: int, obs, states_file) -> bool:
        """Draws the images at step `frames`; False (nothing drawn) while no states are
        known yet (none saved in `states_file` and no `obs` `[..., H, W, C]` given)."""
        if self._summaries is None:
            states = self._states(obs, states_file)
            if states is None:
                return False
            self._summaries = ImageSummaries(self.model, states, objects=self.objects)
        self._summaries.write(writer, frames)
        return True
