"""Faithfulness of the explanations: deletion and insertion curves.

For a state and an explanation map over its pixels, rank the pixels by the map (ties
in random order) and (deletion) replace the top k % of them, in every stacked frame,
by the state's background value, or (insertion) start from a state filled with the
background and put back the top k %; after each step record the probability of the
action the policy prefers on the intact state. A map that points at what the policy
uses makes the deletion curve fall fast (small area under it) and the insertion
curve rise fast (large area). The background value is the state's most common pixel
value (the screen's background: 0 on Catch), so removed pixels look like empty
screen rather than a black hole. Deletion is the pixel-flipping metric (Bach et al.;
Quantus's `PixelFlipping`, which a test checks this implementation against); Quantus
has no insertion metric, and both are run here on drarl_tf's own policies.

Explanations compared: each attention mask (channel mean, bilinearly upsampled to
the frame), Grad-CAM of the preferred action (upsampled), the input gradient
(|d logit / d pixel| summed over the stacked frames), and a random map, the floor.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

MODES = ("deletion", "insertion")


def pixel_order(saliency: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flat pixel indices of `saliency` `[H, W]`, most salient first; ties in random order."""
    flat = np.asarray(saliency, np.float64).ravel()
    return np.lexsort((rng.random(flat.size), -flat))


def background_value(obs: np.ndarray) -> int:
    """The most common pixel value of a state (its background)."""
    return int(np.argmax(np.bincount(np.asarray(obs, np.uint8).ravel(), minlength=256)))


def perturbed_states(obs: np.ndarray, order: np.ndarray, fractions: np.ndarray, mode: str,
                     baseline: int) -> np.ndarray:
    """`[len(fractions), H, W, C]`: `obs` `[H, W, C]` with the first `fraction` of `order`'s
    pixels removed (deletion) or the only ones shown (insertion), in every channel."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode}")
    H, W, C = obs.shape
    out = np.empty((len(fractions), H * W, C), obs.dtype)
    flat = obs.reshape(H * W, C)
    for i, fraction in enumerate(fractions):
        chosen = order[: int(round(fraction * H * W))]
        if mode == "deletion":
            out[i] = flat
            out[i, chosen] = baseline
        else:
            out[i] = baseline
            out[i, chosen] = flat[chosen]
    return out.reshape((len(fractions), H, W, C))


def curve(probability, obs: np.ndarray, saliency: np.ndarray, action: int, mode: str,
          steps: int, rng: np.random.Generator, baseline: int | None = None) -> np.ndarray:
    """The probability of `action` (`probability(states [B, H, W, C]) -> [B, A]`) at
    fractions 0, 1/steps, ..., 1 of the pixels removed or inserted in `saliency`'s order."""
    fractions = np.linspace(0.0, 1.0, steps + 1)
    baseline = background_value(obs) if baseline is None else baseline
    states = perturbed_states(obs, pixel_order(saliency, rng), fractions, mode, baseline)
    return np.asarray(probability(states), np.float64)[:, action]


def area_under(values: np.ndarray) -> float:
    """Area under a curve sampled evenly on [0, 1] (trapezoids)."""
    values = np.asarray(values, np.float64)
    return float((values[:-1] + values[1:]).sum() / 2 / (len(values) - 1))


def mean_interval(values, reps: int = 10_000, seed: int = 0, confidence: float = 0.95):
    """Mean of `values` and its percentile bootstrap interval over them, by SciPy (None,
    None for a single value)."""
    from scipy import stats

    values = np.asarray(values, np.float64)
    if values.size < 2:
        return float(values.mean()), None, None
    if np.all(values == values[0]):  # every resample has the same mean
        return float(values[0]), float(values[0]), float(values[0])
    interval = stats.bootstrap((values,), np.mean, n_resamples=reps, method="percentile",
                               confidence_level=confidence, random_state=seed,
                               vectorized=True).confidence_interval
    return float(values.mean()), float(interval.low), float(interval.high)


def explanation_maps(policy, obs: np.ndarray, action: int, rng: np.random.Generator) -> dict:
    """`{name: [H, W]}` for one state `[H, W, C]` of a `LoadedPolicy`: its attention masks,
    Grad-CAM and input gradient for `action`, and a random map."""
    from drarl_tf.viz.overlay import upsample_bilinear

    H, W, _ = obs.shape
    batch, actions = obs[None], np.array([action], np.int32)
    out = policy(batch)
    maps = {name: upsample_bilinear(out[name][0].mean(-1), H, W) for name in policy.mask_names}
    maps["grad_cam"] = upsample_bilinear(policy.grad_cam(batch, actions)[0], H, W)
    maps["input_gradient"] = np.abs(policy.input_gradient(batch, actions)[0]).sum(-1)
    maps["random"] = rng.random((H, W))
    return maps


def probabilities(policy):
    """`states -> softmax(policy logits)` of a `LoadedPolicy`, in batches of 64."""
    def run(states):
        parts = []
        for i in range(0, len(states), 64):
            logits = policy(states[i:i + 64])["policy_logits"].astype(np.float64)
            logits -= logits.max(-1, keepdims=True)
            p = np.exp(logits)
            parts.append(p / p.sum(-1, keepdims=True))
        return np.concatenate(parts)

    return run


def play_states(policy, count: int, seed: int, max_steps: int = 2000) -> np.ndarray:
    """`count` diverse states `[count, H, W, C]` among `max_steps` agent steps played by
    `policy` (sampling its actions; a game that ends is followed by the next)."""
    from drarl_tf.envs import make_vector_env
    from drarl_tf.training.rollout import sample_actions
    from drarl_tf.viz.summaries import select_diverse_states

    env = make_vector_env(policy.metadata["game"], 1, training=False)
    policy.check_env(env)
    rng = np.random.default_rng(seed)
    obs, seen = env.reset(seed=seed), []
    for _ in range(max_steps):
        seen.append(obs[0])
        obs = env.step(sample_actions(policy(obs)["policy_logits"], rng)).obs
    env.close()
    return select_diverse_states(np.stack(seen), count, seed)


def evaluate(policy, states: np.ndarray, steps: int = 20, seed: int = 0) -> dict:
    """Deletion and insertion curves and areas of every explanation on every state:
    `{name: {"deletion": [N, steps + 1], "insertion": ..., "deletion_auc": [N], ...}}`."""
    rng = np.random.default_rng(seed)
    probability = probabilities(policy)
    results: dict = {}
    for obs in states:
        action = int(np.argmax(policy(obs[None])["policy_logits"][0]))
        baseline = background_value(obs)
        for name, saliency in explanation_maps(policy, obs, action, rng).items():
            entry = results.setdefault(name, {m: [] for m in MODES})
            for mode in MODES:
                entry[mode].append(curve(probability, obs, saliency, action, mode, steps, rng,
                                         baseline))
    for entry in results.values():
        for mode in MODES:
            entry[mode] = np.stack(entry[mode])
            entry[f"{mode}_auc"] = np.array([area_under(c) for c in entry[mode]])
    return results


def _cell(point, low, high) -> str:
    return f"{point:.3f}" + ("" if low is None else f" [{low:.3f}, {high:.3f}]")


def report(results_by_model: dict, output_dir, steps: int, seed: int = 0) -> list[str]:
    """`faithfulness.md` (table), `faithfulness.json` (areas and mean curves) and
    `faithfulness.png` (mean curves) under `output_dir`; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["| model | explanation | deletion AUC (lower: more faithful) | minus random's "
             "(paired) | insertion AUC (higher: more faithful) | minus random's (paired) | "
             "states |", "|---|---|---|---|---|---|---|"]
    data = {}
    fig, axes = plt.subplots(len(results_by_model), 2, figsize=(11, 3.6 * len(results_by_model)),
                             squeeze=False)
    fractions = np.linspace(0, 1, steps + 1)
    for row, (label, results) in enumerate(results_by_model.items()):
        data[label] = {}
        floor = results.get("random")
        for name, entry in results.items():
            cells = {m: mean_interval(entry[f"{m}_auc"], seed=seed) for m in MODES}
            # The same states with the random map: a paired difference is much tighter.
            paired = {m: (mean_interval(entry[f"{m}_auc"] - floor[f"{m}_auc"], seed=seed)
                          if floor is not None and name != "random" else None) for m in MODES}
            n = len(entry["deletion_auc"])
            lines.append(" | ".join([f"| {label}", name] + [
                text for m in MODES for text in (
                    _cell(*cells[m]), _cell(*paired[m]) if paired[m] else "-")] + [f"{n} |"]))
            data[label][name] = {
                **{f"{m}_auc": dict(zip(("mean", "low", "high"), cells[m], strict=True))
                   for m in MODES},
                **{f"{m}_auc_minus_random": dict(zip(("mean", "low", "high"), paired[m],
                                                     strict=True))
                   for m in MODES if paired[m]},
                **{f"{m}_auc_per_state": entry[f"{m}_auc"].tolist() for m in MODES},
                **{f"{m}_mean_curve": entry[m].mean(0).tolist() for m in MODES}, "states": n}
            for col, mode in enumerate(MODES):
                axes[row, col].plot(fractions, entry[mode].mean(0), label=name,
                                    linestyle=":" if name == "random" else "-")
        for col, mode in enumerate(MODES):
            ax = axes[row, col]
            ax.set_title(f"{label}: {mode}")
            ax.set_xlabel(f"fraction of pixels {'removed' if mode == 'deletion' else 'shown'}")
            ax.set_ylabel("P(preferred action)")
            ax.legend(fontsize="x-small")
    fig.tight_layout()
    png = out / "faithfulness.png"
    fig.savefig(png, dpi=100)
    plt.close(fig)
    md = out / "faithfulness.md"
    md.write_text("\n".join(lines) + "\n\n[low, high]: 95 % bootstrap interval of the mean over "
                  "states. Paired: the same states' area with the random map subtracted; a "
                  "faithful map has a deletion difference below 0 and an insertion difference "
                  "above 0, with intervals that exclude 0. Removed pixels take each state's "
                  "most common value (its background).\n\n"
                  "![deletion and insertion curves](faithfulness.png)\n")
    js = out / "faithfulness.json"
    js.write_text(json.dumps({"steps": steps, "baseline": "each state's most common pixel "
                              "value", "models": data}, indent=2))
    return [str(md), str(js), str(png)]
