"""Play one episode with a SavedModel and write it as a GIF, optionally with the mask overlaid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from drarl_tf.envs.minatar import object_channels
from drarl_tf.errors import DrarlError
from drarl_tf.training.rollout import sample_actions
from drarl_tf.viz.overlay import enlarge, picture
from drarl_tf.viz.panels import mask_frame


def play_episode(policy, env, max_steps: int = 4500, greedy: bool = False, seed: int = 0,
                 mask: str | None = None) -> tuple[list[np.ndarray], float]:
    """Plays env 0 of `env` for one full game; returns RGB frames and the game's score.

    With `mask` (e.g. `mask_section0`) each frame shows, beside the newest frame, that
    attention mask averaged over channels on the absolute scale [0, 1], with its
    colour bar and the frame's range of values.
    """
    if mask is not None and mask not in policy.mask_names:
        valid = ", ".join(policy.mask_names) or "none: this net has no attention"
        raise DrarlError(f"no mask '{mask}' in this model; masks: {valid}")
    rng = np.random.default_rng(seed)
    objects = object_channels(env.name)  # object channels drawn in colour
    obs = env.reset(seed=seed)
    frames, score = [], 0.0
    for _ in range(max_steps):
        out = policy(obs)
        shown = picture(obs[0], objects, newest=True)
        frame = (mask_frame(shown, out[mask][0].mean(-1), mask) if mask is not None
                 else shown)
        frames.append(frame)
        logits = out["policy_logits"]
        actions = np.argmax(logits, -1).astype(np.int32) if greedy else sample_actions(logits, rng)
        step = env.step(actions)
        score += float(step.reward[0])
        if step.terminated[0] or step.truncated[0]:
            break
        obs = step.obs
    return frames, score


def write_gif(frames: list[np.ndarray], path, fps: int = 15, scale: int = 0,
              comment: str = "") -> str:
    """Writes RGB uint8 frames as an animated GIF (Pillow), enlarged `scale` times
    (0: to at least 168 pixels high), with `comment` in the GIF's comment extension."""
    from PIL import Image

    if not frames:
        raise DrarlError("no frames to write")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scale = scale or max(1, -(-168 // frames[0].shape[0]))
    images = [Image.fromarray(enlarge(f, scale)) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps),
                   loop=0, comment=comment.encode())
    return str(path)
