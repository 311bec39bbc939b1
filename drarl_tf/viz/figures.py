"""The explanation figures of `scripts/visualize.py`: one or more models (the paper's Fig. 6)
or a run's milestone checkpoints (Fig. 7) explained on the same states of one game."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from drarl_tf.bookkeeping.checkpoints import read_milestones
from drarl_tf.bookkeeping.export import LoadedPolicy, export_checkpoint
from drarl_tf.bookkeeping.paths import probe_writable
from drarl_tf.envs import make_vector_env
from drarl_tf.envs.minatar import object_channels
from drarl_tf.errors import DrarlError
from drarl_tf.training.rollout import sample_actions
from drarl_tf.viz.gradients import histogram_of, plot_gradient_histogram
from drarl_tf.viz.panels import channel_grid, explanation_rows


def _frames(frames) -> str:
    """`150,400 frames` (`? frames` when unknown)."""
    return "? frames" if frames is None else f"{int(frames):,} frames"


def _label(policy: LoadedPolicy) -> str:
    """A Fig. 6 row's label: `<model> (<net>, <frames> frames)`, the model named by its
    directory (its run's for `runs/<run>/saved_model`): the same for every copy of a run's
    export, and never the name of another run (the shipped demo was trained as
    `impala-drarl-Catch-s0`, the quick start's run name, but is `demo-impala-drarl-Catch`)."""
    meta, path = policy.metadata, Path(policy.path).absolute()
    name = path.parent.name if path.name == "saved_model" else path.name
    return f"{name} ({meta.get('net', '?')}, {_frames(meta.get('frames'))})"


def _series_label(fraction, frames) -> str:
    """A Fig. 7 row's label: `36% (40 frames)` for the milestone at `fraction` of training."""
    return f"{100 * float(fraction):.0f}% ({_frames(frames)})"


def load_models(saved_models, checkpoint, series, tmp: Path) -> list[tuple[str, LoadedPolicy]]:
    """`(row label, policy)` per row: SavedModels as given, a checkpoint exported to `tmp`,
    or every milestone checkpoint of the run `series` (in order of training)."""
    if series:
        run = Path(series)
        milestones = read_milestones(run / "milestones")
        if not milestones:
            raise DrarlError(f"no milestone checkpoints in {run / 'milestones'}; runs keep "
                             "them at --milestone_fractions (default 0,0.36,0.72,1) of training")
        models = []
        for fraction, entry in sorted(milestones.items(), key=lambda kv: float(kv[0])):
            path = export_checkpoint(run / "milestones" / entry["path"], tmp / f"m{fraction}")
            models.append((_series_label(fraction, entry["frames"]), LoadedPolicy(path)))
        return models
    if checkpoint:
        return [(Path(checkpoint).name, LoadedPolicy(export_checkpoint(checkpoint, tmp / "m")))]
    models = [LoadedPolicy(path) for path in saved_models]
    labels = [_label(m) for m in models]
    if len(set(labels)) < len(labels):
        labels = [f"{i + 1}: {label}" for i, label in enumerate(labels)]
    return list(zip(labels, models, strict=True))


def _check_steps(steps) -> list[int]:
    try:
        steps = sorted({int(s) for s in steps})
    except ValueError:
        raise DrarlError(f"--steps must be integers, got {steps}") from None
    if not steps or steps[0] < 0:
        raise DrarlError("--steps must be >= 0")
    return steps


def _output_dir(path) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise DrarlError(f"--output_dir {out} is a file")
    return probe_writable(out, f"--output_dir {out}")


def explain_game(models: list[tuple[str, LoadedPolicy]], steps, output_dir, greedy: bool = False,
                 seed: int = 0, scale: int = 0, player: int = 0) -> list[str]:
    """Plays one game with `models[player]` (a milestone series: the last, most trained),
    and at each of `steps` writes `step<N>.png` (every model's masks and Grad-CAM of its
    own most likely action on that state) and the first model's per-channel masks; then
    the player's input-gradient histogram. Returns the paths written."""
    steps = _check_steps(steps)
    if scale < 0:
        raise DrarlError(f"--scale must be >= 0 (0: automatic), got {scale}")
    out_dir = _output_dir(output_dir)
    player = models[player][1]
    game = player.metadata["game"]
    env = make_vector_env(game, 1, training=False)
    for label, policy in models:
        if policy.metadata["game"] != game:
            raise DrarlError(f"{label} was trained on {policy.metadata['game']}, the first "
                             f"model on {game}: compare models of one game")
        policy.check_env(env)
    scale = scale or max(1, int(np.ceil(168 / env.obs_shape[0])))
    rng = np.random.default_rng(seed)
    obs, written, gradients = env.reset(seed=seed), [], []
    ended = None
    for t in range(steps[-1] + 1):
        out = player(obs)
        logits = out["policy_logits"]
        actions = (np.argmax(logits, -1).astype(np.int32) if greedy
                   else sample_actions(logits, rng))
        gradients.append(np.abs(player.input_gradient(obs, actions)))
        if t in steps:
            written += _draw_state(models, obs, out_dir / f"step{t}", scale,
                                   object_channels(game))
        step = env.step(actions)
        obs = step.obs
        if (step.terminated[0] or step.truncated[0]) and t < steps[-1]:
            ended = t + 1  # the game is over: later steps would be another game
            break
    env.close()
    hist = histogram_of(np.concatenate([g.ravel() for g in gradients]))
    written.append(plot_gradient_histogram(
        hist, out_dir / "gradient_histogram.png",
        f"{player.metadata['net']} on {game}, {len(gradients)} states"))
    if ended is not None:
        beyond = [s for s in steps if s >= ended]
        raise DrarlError(f"the game ended after {ended} steps, so --steps "
                         f"{','.join(map(str, beyond))} cannot be drawn; wrote "
                         f"{', '.join(written)}")
    return written


def _draw_state(models, obs, stem: Path, scale: int, objects=()) -> list[str]:
    from PIL import Image

    rows = []
    for label, policy in models:
        out = policy(obs)
        greedy = np.argmax(out["policy_logits"], -1).astype(np.int32)
        masks = {name: out[name][0] for name in policy.mask_names}
        rows.append((label, masks, policy.grad_cam(obs, greedy)[0]))
    image, _, _ = explanation_rows(rows, obs[0], scale, objects)
    paths = [f"{stem}.png"]
    Image.fromarray(image).save(paths[0])
    for name, mask in rows[0][1].items():
        paths.append(f"{stem}_{name}_channels.png")
        Image.fromarray(channel_grid(name, mask, scale)).save(paths[-1])
    return paths
