"""The paper's result tables from evaluated runs: pure maths, then Markdown and CSV.

Scores are each run's `eval.json` mean (the average test score over its plays);
a table cell is the mean (std) over seeds, std with ddof=0. The rate of increase
is `(treatment - baseline) / |baseline|` in %, and a caption gives the mean and
median of those rates over the games (the paper's "baseline-normalised" figures).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from pathlib import Path

import numpy as np

from drarl_tf.errors import DrarlError
from drarl_tf.experiments.paper_results import PaperTable

RUN_NAME = re.compile(r"^(?P<algo>impala|a2c|ppo)-(?P<net>[a-z_]+)-(?P<game>[A-Za-z0-9]+)"
                      r"-s(?P<seed>\d+)$")


def rate_of_increase(baseline: float, treatment: float) -> float:
    """`(treatment - baseline) / |baseline|` in percent; NaN for a zero baseline."""
    if baseline == 0:
        return float("nan")
    return 100.0 * (treatment - baseline) / abs(baseline)


def caption_figures(rates) -> tuple[float, float]:
    """(mean, median) of the per-game rates of increase, ignoring NaNs."""
    rates = np.asarray([r for r in rates if np.isfinite(r)], np.float64)
    if rates.size == 0:
        return float("nan"), float("nan")
    return float(np.mean(rates)), float(np.median(rates))


@dataclasses.dataclass(frozen=True)
class Cell:
    mean: float
    std: float
    seeds: int

    @classmethod
    def of(cls, scores) -> Cell:
        scores = np.asarray(scores, np.float64)
        if scores.size == 0:
            return cls(float("nan"), float("nan"), 0)
        return cls(float(scores.mean()), float(scores.std()), int(scores.size))

    def text(self) -> str:
        if not self.seeds:
            return "-"
        return f"{self.mean:.2f} ({self.std:.2f})"


@dataclasses.dataclass(frozen=True)
class Row:
    game: str
    baseline: Cell
    treatment: Cell

    @property
    def rate(self) -> float:
        if not (self.baseline.seeds and self.treatment.seeds):
            return float("nan")
        return rate_of_increase(self.baseline.mean, self.treatment.mean)


def comparison_rows(scores: dict, baseline_net: str, treatment_net: str) -> list[Row]:
    """`scores[game][net]` = per-seed scores -> one row per game, in the given order."""
    return [Row(game, Cell.of(by_net.get(baseline_net, [])),
                Cell.of(by_net.get(treatment_net, []))) for game, by_net in scores.items()]


def _fmt_rate(rate: float) -> str:
    return "-" if not np.isfinite(rate) else f"{rate:.2f}%"


def comparison_markdown(rows: list[Row], baseline: str, treatment: str,
                        paper: PaperTable | None = None) -> str:
    """The paper's table layout, plus the paper's own numbers where it has the game (and,
    for Tables 1 and 3, the earlier papers' published scores the paper quotes)."""
    paper_scores = paper.scores if paper else {}
    published = paper.published if paper else {}
    header = f"| game | {baseline} (std) | {treatment} (std) | rate of increase |"
    rule = "|---|---|---|---|"
    if paper:
        header += (f" paper {paper.baseline} | paper {paper.treatment} | paper rate |")
        rule += "---|---|---|"
    if published:
        header += f" published ({paper.published_label}) |"
        rule += "---|"
    lines = [header, rule]
    for row in rows:
        line = (f"| {row.game} | {row.baseline.text()} | {row.treatment.text()} | "
                f"{_fmt_rate(row.rate)} |")
        if paper:
            p = paper_scores.get(row.game)
            line += (f" {p[0]:.2f} ({p[1]:.2f}) | {p[2]:.2f} ({p[3]:.2f}) | "
                     f"{_fmt_rate(rate_of_increase(p[0], p[2]))} |" if p else " - | - | - |")
        if published:
            line += f" {published[row.game]:.2f} |" if row.game in published else " - |"
        lines.append(line)
    mean, median = caption_figures([r.rate for r in rows])
    seeds = sorted({c.seeds for r in rows for c in (r.baseline, r.treatment) if c.seeds})
    caption = (f"\n{treatment} shows {_fmt_rate(mean)} mean and {_fmt_rate(median)} median "
               f"higher performance over {baseline} ({baseline}-normalised), over "
               f"{len(rows)} game{'s' if len(rows) != 1 else ''}, "
               f"{'/'.join(map(str, seeds)) or 0} seeds per cell.")
    if paper:
        caption += (f" The paper ({paper.name}): {paper.caption_mean:.2f}% mean and "
                    f"{paper.caption_median:.2f}% median over its {len(paper.scores)} games.")
    return "\n".join(lines) + "\n" + caption + "\n"


def comparison_csv(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["game", "baseline_mean", "baseline_std", "baseline_seeds", "treatment_mean",
                     "treatment_std", "treatment_seeds", "rate_of_increase_percent"])
    for r in rows:
        writer.writerow([r.game, r.baseline.mean, r.baseline.std, r.baseline.seeds,
                         r.treatment.mean, r.treatment.std, r.treatment.seeds, r.rate])
    return out.getvalue()


def ablation_markdown(scores_by_net: dict, game: str, paper: dict | None = None) -> str:
    """Table 4's layout: one row, a mean (std) column per network."""
    nets = list(scores_by_net)
    lines = ["| game | " + " | ".join(f"{n} (std)" for n in nets) + " |",
             "|---|" + "---|" * len(nets),
             f"| {game} | " + " | ".join(Cell.of(scores_by_net[n]).text() for n in nets) + " |"]
    if paper:
        cells = [f"{paper[n][0]:.2f} ({paper[n][1]:.2f})" if n in paper else "-" for n in nets]
        lines.append(f"| paper ({game}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def per_net_markdown(scores: dict, nets) -> str:
    """One row per game of `scores[game][net]` (per-seed scores), a mean (std) column per
    net (a grid of more than two nets, e.g. the MinAtar study with its ablations)."""
    lines = ["| game | " + " | ".join(f"{n} (std)" for n in nets) + " |",
             "|---|" + "---|" * len(nets)]
    lines += [f"| {game} | " + " | ".join(Cell.of(by_net.get(n, [])).text() for n in nets)
              + " |" for game, by_net in scores.items()]
    return "\n".join(lines) + "\n"


def per_net_csv(scores: dict, nets) -> str:
    rows = ((g, n, Cell.of(by_net.get(n, []))) for g, by_net in scores.items() for n in nets)
    return "game,net,mean,std,seeds\n" + "".join(
        f"{g},{n},{c.mean},{c.std},{c.seeds}\n" for g, n, c in rows)


@dataclasses.dataclass(frozen=True)
class EvaluatedRun:
    algo: str
    net: str
    game: str
    seed: int
    score: float  # eval.json mean
    trained_frames: int
    path: Path


def plot_seed_scores(scores: dict, path, title: str = "", nets=None) -> str:
    """The paper's Fig. 3: each run's final score (a dot per seed) and the mean (a bar) per
    net, one panel per game, from `scores[game][net]` = per-seed scores; nets in the
    order of `nets` (default: as in `scores`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    games = list(scores)
    fig, axes = plt.subplots(1, len(games), figsize=(max(6.5, 3.6 * len(games)), 4.2), dpi=100,
                             squeeze=False)
    for ax, game in zip(axes[0], games, strict=True):
        shown = [n for n in (nets or scores[game]) if n in scores[game]]
        for x, net in enumerate(shown):
            values = np.asarray(scores[game][net], np.float64)
            ax.bar(x, values.mean(), width=0.6, alpha=0.35, color=f"C{x}")
            ax.scatter(np.full(values.size, x), values, color=f"C{x}", zorder=3,
                       label=f"{net}: {', '.join(f'{v:.2f}' for v in values)}")
        ax.set_xticks(range(len(shown)), shown, rotation=15, fontsize="small")
        ax.set_title(game)
        ax.set_ylabel("final score (evaluation mean)")
        ax.legend(fontsize="x-small", title="per seed", title_fontsize="x-small",
                  loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def find_runs(paths) -> list[EvaluatedRun]:
    """Evaluated runs among `paths` (run directories, or directories holding them):
    those named `<algo>-<net>-<game>-s<seed>` with an `eval.json`."""
    found = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise DrarlError(f"{path} is not a directory")
        candidates = [path] if RUN_NAME.match(path.name) else sorted(path.iterdir())
        for run in candidates:
            match = RUN_NAME.match(run.name)
            eval_path = run / "eval.json"
            if not match or not eval_path.is_file():
                continue
            try:
                result = json.loads(eval_path.read_text())
                score = float(result["mean"])
            except (ValueError, KeyError, TypeError) as e:
                raise DrarlError(f"{eval_path} is not an evaluation result ({e})") from None
            found.append(EvaluatedRun(match["algo"], match["net"], match["game"],
                                      int(match["seed"]), score,
                                      int(result.get("trained_frames", 0)), run))
    return found


def scores_by_game(runs: list[EvaluatedRun], algo: str, games=None) -> dict:
    """`{game: {net: [per-seed scores]}}` of `algo`'s runs, games in the given order."""
    out: dict = {}
    for run in sorted(runs, key=lambda r: (r.game, r.net, r.seed)):
        if run.algo == algo:
            out.setdefault(run.game, {}).setdefault(run.net, []).append(run.score)
    if games is not None:
        out = {g: out[g] for g in games if g in out}
    return out
