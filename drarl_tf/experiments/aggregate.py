"""Aggregate scores over games and seeds with confidence intervals, by rliable.

Each run's final score is normalised per game: on Atari by the standard random and
human reference scores, `(score - random) / (human - random)` (0 = random play,
1 = the human tester); on Catch min-max over its return range [-1, 1] (random play
is 0.2 there, perfect play 1); on MinAtar, which has no human scores, min-max
between the random policy's mean score and the best score any run reached (the
report measures and states both: `ranges`). Over the normalised `[runs x games]` matrix of each
net, rliable gives the IQM, median, mean and optimality gap (the shortfall below
1, so lower is better), each with a 95 % stratified bootstrap confidence interval
(runs resampled within each game), and the probability that a run of one net
beats a run of another on a random game, with its interval. A grid with one seed
per game has nothing to resample: its point estimates come without an interval,
and the text says so.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from drarl_tf.errors import DrarlError

# (random, human) reference scores of the Atari literature's human normalisation (the
# values DQN Zoo and rliable's Atari data use; Nature DQN's own human scores differ for
# some games, e.g. Pong 9.3), for the games of the grids.
REFERENCE_SCORES = {
    "Alien": (227.8, 7127.7), "Amidar": (5.8, 1719.5), "BeamRider": (363.9, 16926.5),
    "Berzerk": (123.7, 2630.4), "Breakout": (1.7, 30.5), "Centipede": (2090.9, 12017.0),
    "Krull": (1598.0, 2665.5), "KungFuMaster": (258.5, 22736.3), "Pong": (-20.7, 14.6),
    "RoadRunner": (11.5, 7845.0), "Seaquest": (68.4, 42054.7),
}
CATCH_RANGE = (-1.0, 1.0)  # min-max normalisation of the Catch return
METRICS = ("IQM", "Median", "Mean", "Optimality gap")
CONFIDENCE = 0.95


def normaliser(game: str):
    """(low, high) such that `(score - low) / (high - low)` is the normalised score, or
    None for a game without reference scores."""
    if game == "Catch":
        return CATCH_RANGE
    return REFERENCE_SCORES.get(game)


def score_matrices(scores: dict, nets, ranges=None) -> tuple[dict, list[str], list[str]]:
    """`{net: [runs x games] normalised}` from `scores[game][net]` (raw per-seed scores),
    over the games every net has and that can be normalised (`ranges`: `{game: (low,
    high)}` used instead of `normaliser`'s for those games). A matrix needs the same
    number of runs everywhere: every game and net keeps its first N runs, N the fewest
    that any of them has (a note says so when that drops runs).
    Also returns the games used and notes on what was left out."""
    ranges = dict(ranges or {})
    span = lambda game: ranges.get(game) or normaliser(game)  # noqa: E731
    notes, games = [], []
    for game, by_net in scores.items():
        if span(game) is None:
            notes.append(f"{game} left out: no normalisation range (Atari: random and human "
                         "reference scores; MinAtar: a run above the random policy)")
        elif not all(by_net.get(net) for net in nets):
            notes.append(f"{game} left out: not every net ({', '.join(nets)}) has runs there")
        else:
            games.append(game)
    if not games:
        raise DrarlError("no game can be aggregated: " + "; ".join(notes or ["no scores"]))
    runs = min(len(scores[g][n]) for g in games for n in nets)
    if any(len(scores[g][n]) != runs for g in games for n in nets):
        notes.append(f"the first {runs} seed(s) of every game and net are aggregated "
                     "(not every cell has the same number)")
    matrices = {}
    for net in nets:
        columns = []
        for game in games:
            low, high = span(game)
            raw = np.asarray(scores[game][net][:runs], np.float64)
            columns.append((raw - low) / (high - low))
        matrices[net] = np.stack(columns, axis=1)
    return matrices, games, notes


def _aggregate(matrix: np.ndarray) -> np.ndarray:
    from rliable import metrics

    return np.array([metrics.aggregate_iqm(matrix), metrics.aggregate_median(matrix),
                     metrics.aggregate_mean(matrix), metrics.aggregate_optimality_gap(matrix)])


def _bootstrap(score_dict, func, reps, seed):
    import warnings

    from rliable import library

    with warnings.catch_warnings():  # arch's notice that it will move to numpy Generators
        warnings.simplefilter("ignore", FutureWarning)
        return library.get_interval_estimates(score_dict, func, reps=reps,
                                              confidence_interval_size=CONFIDENCE,
                                              random_state=np.random.RandomState(seed))


def interval_estimates(matrices: dict, reps: int = 10_000, seed: int = 0) -> dict:
    """`{net: {metric: (point, low, high)}}`; low and high are None with one run per
    game (nothing to resample)."""
    single = next(iter(matrices.values())).shape[0] < 2
    if single:
        return {net: {m: (float(v), None, None) for m, v in zip(METRICS, _aggregate(x),
                                                                strict=True)}
                for net, x in matrices.items()}
    points, intervals = _bootstrap(matrices, _aggregate, reps, seed)
    return {net: {m: (float(points[net][i]), float(intervals[net][0, i]),
                      float(intervals[net][1, i])) for i, m in enumerate(METRICS)}
            for net in matrices}


def probability_of_improvement(x: np.ndarray, y: np.ndarray, reps: int = 10_000,
                               seed: int = 0) -> tuple[float, float | None, float | None]:
    """P(a run of X beats a run of Y on a random game), averaged over games, with its
    stratified bootstrap interval (None with one run per game)."""
    from rliable import metrics

    point = float(metrics.probability_of_improvement(x, y))
    if x.shape[0] < 2 or y.shape[0] < 2:
        return point, None, None
    _, intervals = _bootstrap(
        {"pair": (x, y)}, lambda a, b: np.array([metrics.probability_of_improvement(a, b)]),
        reps, seed)
    return point, float(intervals["pair"][0, 0]), float(intervals["pair"][1, 0])


def _cell(point, low, high) -> str:
    return f"{point:.3f}" + ("" if low is None else f" [{low:.3f}, {high:.3f}]")


def summarise(scores: dict, nets, baseline: str = "impala", treatment: str = "drarl",
              reps: int = 10_000, seed: int = 0, ranges=None, ranges_text: str = "") -> dict:
    """Everything the report shows, as JSON-ready data (`ranges`, `ranges_text`: a
    normalisation other than `normaliser`'s and its description, see `score_matrices`)."""
    nets = [n for n in nets if any(n in by_net for by_net in scores.values())]
    matrices, games, notes = score_matrices(scores, nets, ranges)
    ranges = dict(ranges or {})
    summary = {"games": games, "runs_per_game": int(matrices[nets[0]].shape[0]),
               "confidence": CONFIDENCE, "bootstrap_reps": reps, "notes": notes,
               "normalisation": {g: ranges.get(g) or normaliser(g) for g in games},
               "normalisation_text": ranges_text or ("Atari: human-normalised; Catch: "
                                                     "min-max over [-1, 1]"),
               "aggregates": interval_estimates(matrices, reps, seed)}
    if baseline in matrices and treatment in matrices:
        summary["probability_of_improvement"] = {
            "of": treatment, "over": baseline,
            "estimate": probability_of_improvement(matrices[treatment], matrices[baseline],
                                                   reps, seed)}
    summary["_matrices"] = matrices
    return summary


def markdown(summary: dict) -> str:
    games = summary["games"]
    lines = [f"## Aggregate over games and seeds ({len(games)} game(s): {', '.join(games)}; "
             f"{summary['runs_per_game']} run(s) per game and net)", ""]
    if summary["runs_per_game"] < 2:
        lines += ["One seed per game: a confidence interval cannot be given (nothing to "
                  "resample); run more seeds (`--seeds=3` or more). Point estimates only.", ""]
    else:
        if summary["runs_per_game"] < 5:
            lines += [f"Only {summary['runs_per_game']} runs per game: bootstrap intervals "
                      "from so few runs are optimistic (they cannot show what other seeds "
                      "would do); 5 or more runs per game make them trustworthy.", ""]
        lines += [f"Normalised scores ({summary['normalisation_text']}); "
                  f"[low, high] is the {summary['confidence']:.0%} stratified bootstrap "
                  f"confidence interval ({summary['bootstrap_reps']:,} resamples, rliable). "
                  "Optimality gap: lower is better.", ""]
    lines += ["| net | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    for net, values in summary["aggregates"].items():
        lines.append(f"| {net} | " + " | ".join(_cell(*values[m]) for m in METRICS) + " |")
    poi = summary.get("probability_of_improvement")
    if poi:
        lines += ["", f"Probability of improvement of {poi['of']} over {poi['over']}: "
                  f"{_cell(*poi['estimate'])} (0.5: no difference; an interval that holds "
                  "0.5 does not show one)."]
    lines += [f"\n_{note}_" for note in summary["notes"]]
    return "\n".join(lines) + "\n"


def plot_intervals(summary: dict, path) -> str:
    """rliable's interval plot: each metric's point estimate and interval per net."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import plot_utils

    aggregates = summary["aggregates"]
    nets = list(aggregates)
    points = {n: np.array([aggregates[n][m][0] for m in METRICS]) for n in nets}
    # Without an interval (one seed) the bar is the point itself.
    intervals = {n: np.array([[aggregates[n][m][k] if aggregates[n][m][k] is not None
                               else aggregates[n][m][0] for m in METRICS] for k in (1, 2)])
                 for n in nets}
    fig, _ = plot_utils.plot_interval_estimates(points, intervals, list(METRICS), algorithms=nets,
                                                xlabel="Normalised score",
                                                xlabel_y_coordinate=-0.3)
    fig.savefig(path, bbox_inches="tight", dpi=100)
    plt.close(fig)
    return str(path)


def plot_profiles(summary: dict, path) -> str:
    """rliable's performance profiles: the fraction of runs scoring above each tau."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import library, plot_utils

    matrices = summary["_matrices"]
    top = max(1.0, max(float(x.max()) for x in matrices.values()))
    taus = np.linspace(min(0.0, min(float(x.min()) for x in matrices.values())), top, 81)
    profiles, cis = library.create_performance_profile(
        matrices, taus, reps=2000 if summary["runs_per_game"] > 1 else 1)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    plot_utils.plot_performance_profiles(
        profiles, taus, performance_profile_cis=cis if summary["runs_per_game"] > 1 else None,
        ax=ax, xlabel=r"Normalised score ($\tau$)")
    ax.legend(ax.get_lines()[:len(matrices)], list(matrices), loc="upper right")
    fig.savefig(path, bbox_inches="tight", dpi=100)
    plt.close(fig)
    return str(path)


def write(summary: dict, stem) -> list[str]:
    """`<stem>-aggregate.json`, `-intervals.png`, `-profiles.png`; returns the paths."""
    stem = Path(stem)
    data = {k: v for k, v in summary.items() if not k.startswith("_")}
    json_path = Path(f"{stem}-aggregate.json")
    json_path.write_text(json.dumps(data, indent=2))
    return [str(json_path), plot_intervals(summary, f"{stem}-intervals.png"),
            plot_profiles(summary, f"{stem}-profiles.png")]
