"""The MinAtar study's own parts (`scripts/reproduce.py --experiment=minatar`).

MinAtar has no human reference scores, so each game's scores are min-max normalised
between the random policy's mean score (measured here, kept in
`<logdir>/minatar-random.json`) and the best score any run of the study reached.
Each net is then explained on each game with its seed-0 model: the deletion and
insertion areas of every explanation (`scripts/faithfulness.py`, both nets on their
own plays of the game) gathered into one table, and one figure of the attention
masks and Grad-CAM (`scripts/visualize.py`) per game.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from drarl_tf.errors import DrarlError

RANDOM_EPISODES = 100
RANDOM_FILE = "minatar-random.json"
EXPLAIN_DIR = "minatar-explain"
FIGURE_STEP = 10  # the agent step of the game drawn in each game's figure


def random_policy_score(game: str, episodes: int = RANDOM_EPISODES, seed: int = 0,
                        num_envs: int = 20) -> float:
    """Mean score of uniformly random actions over `episodes` whole games (each of
    `num_envs` envs plays its share in turn, so short games are not favoured)."""
    from drarl_tf.envs import make_vector_env

    num_envs = min(num_envs, episodes)
    quota = -(-episodes // num_envs)
    env = make_vector_env(game, num_envs, training=False)
    try:
        rng = np.random.default_rng(seed)
        env.reset(seed=seed)
        played = np.zeros(num_envs, np.int64)
        returns: list[float] = []
        while (played < quota).any():
            step = env.step(rng.integers(0, env.num_actions, num_envs))
            for i, score in zip(np.flatnonzero(step.reset_step), step.episode_returns,
                                strict=True):
                if played[i] < quota:
                    returns.append(float(score))
                played[i] += 1
        return float(np.mean(returns[:episodes]))
    finally:
        env.close()


def random_scores(games, logdir, episodes: int = RANDOM_EPISODES, seed: int = 0) -> dict:
    """`{game: mean score of the random policy}`, measured once per game and kept in
    `<logdir>/minatar-random.json` (with the episodes and seed it was measured with)."""
    path = Path(logdir) / RANDOM_FILE
    known = json.loads(path.read_text()) if path.exists() else {}
    for game in games:
        entry = known.get(game)
        if not entry or entry.get("episodes") != episodes or entry.get("seed") != seed:
            known[game] = {"mean": random_policy_score(game, episodes, seed),
                           "episodes": episodes, "seed": seed}
    path.write_text(json.dumps(known, indent=2))
    return {game: known[game]["mean"] for game in games}


def minmax_ranges(scores: dict, random: dict) -> tuple[dict, list[str]]:
    """`{game: (random score, best score of any run)}` from `scores[game][net]` (per-seed
    scores), and notes on games left out (no run above the random policy)."""
    ranges, notes = {}, []
    for game, by_net in scores.items():
        runs = [s for values in by_net.values() for s in values]
        if game not in random or not runs:
            continue
        best = max(runs)
        if best <= random[game]:
            notes.append(f"{game} left out of the aggregate: no run scored above the random "
                         f"policy ({random[game]:.2f})")
            continue
        ranges[game] = (random[game], best)
    return ranges, notes


def ranges_markdown(ranges: dict, random_episodes: int = RANDOM_EPISODES) -> str:
    lines = ["## Normalisation", "",
             f"Min-max per game: 0 is the random policy's mean score ({random_episodes} "
             "whole games, uniform actions, the same protocol), 1 the best evaluation mean "
             "any run of the study reached.", "",
             "| game | random policy | best run |", "|---|---|---|"]
    lines += [f"| {g} | {low:.2f} | {high:.2f} |" for g, (low, high) in ranges.items()]
    return "\n".join(lines) + "\n"


def _models_by_game(cells, logdir: str, export_dir: str) -> dict:
    """`{game: [(net, SavedModel path)]}`: each net's lowest-seed model that exists."""
    chosen: dict = {}
    for cell in sorted(cells, key=lambda c: c.seed):
        path = cell.saved_model(logdir, export_dir)
        nets = chosen.setdefault(cell.game, {})
        if cell.net not in nets and (path / "saved_model.pb").exists():
            nets[cell.net] = path
    return {g: list(nets.items()) for g, nets in chosen.items()}


def explain(cells, logdir: str, export_dir: str, nets, log=print) -> list[str]:
    """Faithfulness of every net and one mask + Grad-CAM figure (the drarl net, else the
    first attention net) per game, under `<logdir>/minatar-explain/<game>/`, each made
    once (a rerun keeps what exists); then the faithfulness table. Returns paths written."""
    from drarl_tf.experiments.grid import _last_error, _run_logged
    from drarl_tf.runtime.cli import script_command

    root = Path(logdir) / EXPLAIN_DIR
    written, failed = [], []
    for game, models in _models_by_game(cells, logdir, export_dir).items():
        models = sorted(models, key=lambda m: list(nets).index(m[0]) if m[0] in nets else 99)
        out = root / game
        out.mkdir(parents=True, exist_ok=True)
        steps = []
        if not (out / "faithfulness" / "faithfulness.json").exists():
            steps.append(("faithfulness", [
                *script_command("faithfulness"),
                f"--saved_model={','.join(str(p) for _, p in models)}",
                f"--output_dir={out / 'faithfulness'}", "--seed=0"]))
        attention = [p for n, p in models if n == "drarl"] or [
            p for n, p in models if "drarl" in n]
        if attention and not (out / "viz" / f"step{FIGURE_STEP}.png").exists():
            steps.append(("visualize", [
                *script_command("visualize"), f"--saved_model={attention[0]}",
                f"--output_dir={out / 'viz'}", f"--steps={FIGURE_STEP}", "--seed=0"]))
        for what, command in steps:
            log_path = out / f"{what}.log"
            if _run_logged(command, log_path) != 0:
                failed.append(f"{game} {what}: {_last_error(log_path)}")
        log(f"explained {game}: {', '.join(n for n, _ in models)}")
    table = faithfulness_markdown(root)
    path = Path(logdir) / "minatar-faithfulness.md"
    path.write_text(table)
    written.append(str(path))
    if failed:
        raise DrarlError(f"{len(failed)} explanation step(s) failed (the table holds the "
                         f"others); first: {failed[0]}")
    return written


def _cell(entry: dict) -> str:
    return f"{entry['mean']:.3f} [{entry['low']:.3f}, {entry['high']:.3f}]"


def faithfulness_markdown(root) -> str:
    """One table over every game's `faithfulness/faithfulness.json` under `root`: per game,
    net and explanation the deletion and insertion areas, and their paired differences
    from the random map's (95 % bootstrap intervals over the states)."""
    lines = ["## Faithfulness of the explanations", "",
             "Area under the deletion curve (lower: the map found what the policy uses) and "
             "the insertion curve (higher: the same), each the mean over 32 states of the "
             "model's own play [95 % bootstrap interval]; minus random: the paired "
             "difference from the random map on the same states (an interval that holds 0 "
             "shows no difference from chance).", "",
             "| game | model | explanation | deletion AUC | minus random | insertion AUC | "
             "minus random |", "|---|---|---|---|---|---|---|"]
    for path in sorted(Path(root).glob("*/faithfulness/faithfulness.json")):
        game = path.parent.parent.name
        data = json.loads(path.read_text())
        for model, by_map in data["models"].items():
            for name, entry in by_map.items():
                if name == "random":
                    lines.append(f"| {game} | {model.split()[0]} | random | "
                                 f"{_cell(entry['deletion_auc'])} | - | "
                                 f"{_cell(entry['insertion_auc'])} | - |")
                    continue
                lines.append(f"| {game} | {model.split()[0]} | {name} | "
                             f"{_cell(entry['deletion_auc'])} | "
                             f"{_cell(entry['deletion_auc_minus_random'])} | "
                             f"{_cell(entry['insertion_auc'])} | "
                             f"{_cell(entry['insertion_auc_minus_random'])} |")
    return "\n".join(lines) + "\n"
