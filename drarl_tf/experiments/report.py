"""Tables (Markdown, CSV) and the learning-curve figure of one experiment's runs."""

from __future__ import annotations

from pathlib import Path

from drarl_tf.errors import DrarlError
from drarl_tf.experiments import tables
from drarl_tf.experiments.grid import Experiment
from drarl_tf.experiments.paper_results import TABLE4_ABLATION, TABLES


def _games_in_order(experiment: Experiment, runs) -> list[str]:
    present = {r.game for r in runs}
    return [g for g in experiment.games if g in present] + sorted(present - set(experiment.games))


def write_report(experiment: Experiment, runs: list, output_dir, prefix: str = "",
                 bootstrap_reps: int = 10_000, nets=None, ranges=None,
                 ranges_text: str = "", extra_text: str = "") -> list[str]:
    """Writes `<prefix><experiment>.md`, `.csv`, `-seeds.png` (every run's final score,
    the paper's Fig. 3), the aggregate over games and seeds with confidence intervals
    (`-aggregate.json`, `-intervals.png`, `-profiles.png`; see `aggregate`) and
    `-curves.png` (runs with TensorBoard logs) under `output_dir` from the evaluated
    `runs` (see `tables.find_runs`) of the experiment's algorithm and of `nets` (default:
    the experiment's). `ranges` and `ranges_text` normalise the aggregate (see
    `aggregate.summarise`); `extra_text` is added to the Markdown (e.g. how)."""
    from drarl_tf.experiments import aggregate
    from drarl_tf.viz.curves import plot_curve_panels, read_returns

    nets = tuple(nets or experiment.nets)
    runs = [r for r in runs if r.algo == experiment.algo and r.net in nets]
    if not runs:
        raise DrarlError(f"no evaluated {experiment.algo} runs of the nets "
                         f"{', '.join(nets)} found (each needs an eval.json)")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{prefix}{experiment.name}"
    games = _games_in_order(experiment, runs)
    scores = tables.scores_by_game(runs, experiment.algo, games)
    frames = sorted({r.trained_frames for r in runs})
    games_note = ("" if set(games) == set(experiment.games) else
                  f" on {', '.join(games)} instead of the paper's games")
    paper_frames = "the paper: 200,000,000" if experiment.in_paper else "not in the paper"
    header = (f"# {experiment.description}\n\nReproduced by drarl_tf{games_note}: {len(runs)} runs, "
              f"trained for {', '.join(f'{f:,}' for f in frames)} frames each ({paper_frames}"
              f"); scores are each run's evaluation mean (eval.json), mean (std) "
              f"over seeds.\n\n")
    if experiment.name == "ablation":
        by_net = {n: [s for g in games for s in scores[g].get(n, [])] for n in nets}
        paper = TABLE4_ABLATION["scores"] if games == [TABLE4_ABLATION["game"]] else None
        body = tables.ablation_markdown(by_net, ", ".join(games), paper)
        csv_text = "net,mean,std,seeds\n" + "".join(
            f"{n},{c.mean},{c.std},{c.seeds}\n"
            for n, c in ((n, tables.Cell.of(v)) for n, v in by_net.items()))
    elif len(nets) > 2:  # e.g. --nets adding the ablations to a two-net grid
        body = tables.per_net_markdown(scores, nets)
        csv_text = tables.per_net_csv(scores, nets)
    else:
        paper = TABLES.get(experiment.name)
        rows = tables.comparison_rows(scores, "impala", "drarl")
        label = {"impala": "IMPALA", "a2c": "A2C", "ppo": "PPO"}[experiment.algo]
        treatment = "DRARL" if experiment.algo == "impala" else f"{label}+DRARL"
        shown_paper = paper if paper and any(g in paper.scores for g in games) else None
        body = tables.comparison_markdown(rows, label, treatment, shown_paper)
        csv_text = tables.comparison_csv(rows)
    figure = f"\n![Final score of every run (the paper's Fig. 3)]({stem.name}-seeds.png)\n"
    try:
        summary = aggregate.summarise(scores, nets, reps=bootstrap_reps, ranges=ranges,
                                      ranges_text=ranges_text)
    except DrarlError as e:  # e.g. only games without reference scores
        summary, aggregate_text = None, f"\n## Aggregate over games and seeds\n\n_{e}_\n"
    else:
        aggregate_text = ("\n" + aggregate.markdown(summary) +
                          f"\n![Interval estimates]({stem.name}-intervals.png)\n"
                          f"\n![Performance profiles]({stem.name}-profiles.png)\n")
    panels = {}
    for game in games:
        groups = {}
        for run in (r for r in runs if r.game == game):
            if not (run.path / "tb").is_dir():  # e.g. a run directory with only eval.json
                continue
            curve = read_returns(run.path / "tb")
            if len(curve[0]) >= 2:
                groups.setdefault(run.net, []).append(curve)
        if groups:
            panels[game] = groups
    curves = f"\n![Learning curves per game]({stem.name}-curves.png)\n" if panels else ""
    Path(f"{stem}.md").write_text(header + body + figure + aggregate_text + extra_text + curves)
    Path(f"{stem}.csv").write_text(csv_text)
    written = [f"{stem}.md", f"{stem}.csv",
               tables.plot_seed_scores(scores, f"{stem}-seeds.png",
                                       f"{experiment.name}: the final score of every run, "
                                       f"{len(runs)} runs",
                                       nets=nets)]
    if summary is not None:
        written += aggregate.write(summary, stem)
    if panels:
        written.append(plot_curve_panels(panels, f"{stem}-curves.png"))
    return written
