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
FAITHFULNESS_FILE = "minatar-faithfulness.md"
FIGURE_STEP = 10  # the agent step of the game drawn in each game's figure


def random_policy_score(game: str, episodes: int = RANDOM_EPISODES, seed: int = 0,
                        num_envs: int = 20) -> float:
    """Mean score of uniformly random actions over `episodes` whole games, played as
    `evaluation.evaluate` plays a model (each env its share of the games)."""
    from drarl_tf.envs import make_vector_env
    from drarl_tf.training.evaluation import evaluate

    env = make_vector_env(game, min(num_envs, episodes), training=False)
    try:
        uniform = lambda obs: {"policy_logits": np.zeros((len(obs), env.num_actions))}  # noqa: E731
        return evaluate(uniform, env, episodes, seed=seed)["mean"]
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
             "any run of this report reached (of any net: adding nets or seeds can move it, "
             "and the optimality gap is the shortfall below that best run, not below "
             "perfect play).", "",
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


def _fresh_dir(out: Path, models) -> None:
    """Empties `out` unless it was made for exactly `models` (`[(net, path)]`, recorded
    with each model's fingerprint in `<out>/models.json`), then records them."""
    import shutil

    from drarl_tf.bookkeeping.results import model_record

    records = [{"net": net, **model_record(path)} for net, path in models]
    index = out / "models.json"
    if out.exists() and (not index.exists() or json.loads(index.read_text()) != records):
        shutil.rmtree(out)  # made for other models (other nets, seeds or frames)
    out.mkdir(parents=True, exist_ok=True)
    index.write_text(json.dumps(records, indent=2))


def figure_path(out: Path) -> Path | None:
    """The figure of a game's explanation directory: its latest drawn step."""
    drawn = sorted((out / "viz").glob("step*.png"), key=lambda p: p.name)
    drawn = [p for p in drawn if p.stem[4:].isdigit()]
    return max(drawn, key=lambda p: int(p.stem[4:])) if drawn else None


def explain(cells, logdir: str, export_dir: str, nets, log=print) -> list[str]:
    """Faithfulness of every net and one mask + Grad-CAM figure (the drarl net, else the
    first attention net) per game, under `<logdir>/minatar-explain/<game>/`, each made
    once for the same models (other models: made again); then the faithfulness table.
    Returns the paths written."""
    from drarl_tf.cli.flags import script_command
    from drarl_tf.experiments.grid import last_error, run_logged

    root = Path(logdir) / EXPLAIN_DIR
    failed = []
    for game, models in _models_by_game(cells, logdir, export_dir).items():
        models = sorted(models, key=lambda m: list(nets).index(m[0]) if m[0] in nets else 99)
        out = root / game
        _fresh_dir(out, models)
        steps = []
        if not (out / "faithfulness" / "faithfulness.json").exists():
            steps.append(("faithfulness", [
                *script_command("faithfulness"),
                f"--saved_model={','.join(str(p) for _, p in models)}",
                f"--output_dir={out / 'faithfulness'}", "--seed=0"]))
        attention = [p for n, p in models if n == "drarl"] or [
            p for n, p in models if "drarl" in n]
        if attention and figure_path(out) is None:
            # Step 0 always exists; FIGURE_STEP too unless the game ended before it.
            steps.append(("visualize", [
                *script_command("visualize"), f"--saved_model={attention[0]}",
                f"--output_dir={out / 'viz'}", f"--steps=0,{FIGURE_STEP}", "--seed=0"]))
        for what, command in steps:
            log_path = out / f"{what}.log"
            if run_logged(command, log_path) != 0 and not (
                    what == "visualize" and figure_path(out) is not None):
                failed.append(f"{game} {what}: {last_error(log_path)}")
        log(f"explained {game}: {', '.join(n for n, _ in models)}")
    path = Path(logdir) / FAITHFULNESS_FILE
    path.write_text(faithfulness_markdown(root))
    if failed:
        raise DrarlError(f"{len(failed)} explanation step(s) failed (the table holds the "
                         f"others); first: {failed[0]}")
    return [str(path)]


def report_parts(runs, nets, logdir, measure: bool = True) -> dict:
    """`write_report`'s MinAtar arguments for `runs` (evaluated runs, see `tables`) under
    `logdir`: the min-max ranges (random policy from `<logdir>/minatar-random.json`,
    measured there first if `measure`), their text, and the normalisation and
    faithfulness sections as extra Markdown."""
    from drarl_tf.experiments import tables

    games = list(dict.fromkeys(r.game for r in runs))
    path = Path(logdir) / RANDOM_FILE
    if measure:
        random = random_scores(games, logdir)
    else:
        known = json.loads(path.read_text()) if path.exists() else {}
        random = {g: known[g]["mean"] for g in games if g in known}
    scores = tables.scores_by_game([r for r in runs if r.net in nets], "ppo", games)
    ranges, notes = minmax_ranges(scores, random)
    notes += [f"{g}: the random policy's score is not measured ({path} has none; "
              "scripts/reproduce.py --experiment=minatar measures it)"
              for g in games if g not in random]
    extra = "\n" + ranges_markdown(ranges) + "".join(f"\n_{note}_\n" for note in notes)
    table = Path(logdir) / FAITHFULNESS_FILE
    if table.exists():
        extra += "\n" + table.read_text()
    return dict(ranges=ranges, extra_text=extra,
                ranges_text="MinAtar: min-max between the random policy's mean score and "
                            "the best score any run reached, per game")


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
             "shows no difference from chance). On 10x10 inputs the maps are coarse: the "
             "sections' masks are 5x5, 3x3 and 2x2 and Grad-CAM (last section) 2x2, each "
             "upsampled to 10x10, so many pixels share a rank and their order is a random "
             "tie-break.", "",
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
