"""The paper's tables: their maths against the paper's own numbers, and a tiny grid on
Catch run end to end by scripts/reproduce.py."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from drarl_tf.experiments import tables
from drarl_tf.experiments.grid import (
    EXPERIMENTS,
    evaluated_frames,
    exported_frames,
    plan,
    run_cell,
)
from drarl_tf.experiments.paper_results import TABLE1_IMPALA, TABLE2_A2C, TABLE3_PPO
from tests.conftest import SCRIPTS

# The "rate of increase" columns as printed in the paper, in its game order.
PRINTED_RATES = {
    "Table 1": [8.82, -1.05, -8.43, 1.44, 5.14, 2.72, 34.97, 7.56, 14.35, 39.74],
    "Table 2": [2.55, 1.14, 8.79, 9.68, -19.91],
    "Table 3": [29.91, 8.43, 10.17, 2.55, -11.52],
}


@pytest.mark.parametrize("paper", [TABLE1_IMPALA, TABLE2_A2C, TABLE3_PPO], ids=lambda p: p.name)
def test_rates_and_caption_figures_recomputed_from_the_papers_scores(paper):
    rates = [tables.rate_of_increase(base, new) for base, _, new, _ in paper.scores.values()]
    np.testing.assert_allclose(np.round(rates, 2), PRINTED_RATES[paper.name], atol=0.011)
    mean, median = tables.caption_figures(rates)
    assert (round(mean, 2), round(median, 2)) == (paper.caption_mean, paper.caption_median)


def test_table_1_caption_is_10_53_mean_and_6_35_median():
    rows = tables.comparison_rows(
        {g: {"impala": [b], "drarl": [d]} for g, (b, _, d, _) in TABLE1_IMPALA.scores.items()},
        "impala", "drarl")
    mean, median = tables.caption_figures([r.rate for r in rows])
    assert f"{mean:.2f} {median:.2f}" == "10.53 6.35"


def test_cells_rows_and_markdown_of_a_hand_computed_example():
    scores = {"Pong": {"impala": [1.0, 3.0], "drarl": [3.0, 5.0]},
              "Catch": {"impala": [-2.0], "drarl": [-1.0]}}
    rows = tables.comparison_rows(scores, "impala", "drarl")
    assert rows[0].baseline == tables.Cell(2.0, 1.0, 2)
    assert rows[0].rate == pytest.approx(100.0)
    assert rows[1].rate == pytest.approx(50.0)  # normalised by |baseline|
    text = tables.comparison_markdown(rows, "IMPALA", "DRARL")
    assert "| Pong | 2.00 (1.00) | 4.00 (1.00) | 100.00% |" in text
    assert "75.00% mean and 75.00% median" in text
    parsed = list(csv.DictReader(tables.comparison_csv(rows).splitlines()))
    assert parsed[1]["game"] == "Catch" and float(parsed[1]["rate_of_increase_percent"]) == 50.0
    assert tables.rate_of_increase(0.0, 1.0) != tables.rate_of_increase(0.0, 1.0)  # NaN


def test_tables_1_and_3_print_the_published_scores_and_runs_without_logs_are_fine(tmp_path):
    from drarl_tf.experiments.report import write_report

    rows = tables.comparison_rows({"Krull": {"impala": [5.0], "drarl": [6.0]},
                                   "Catch": {"impala": [1.0], "drarl": [1.0]}}, "impala", "drarl")
    text = tables.comparison_markdown(rows, "IMPALA", "DRARL", TABLE1_IMPALA)
    assert "| published (IMPALA paper) |" in text.splitlines()[0]
    assert text.splitlines()[2].endswith("| 5966.99 (171.38) | 8053.78 (250.01) | 34.97% | 8147.70 |")
    assert text.splitlines()[3].endswith("| - | - | - | - |")
    assert "published (PPO paper)" in tables.comparison_markdown(rows, "PPO", "PPO+DRARL",
                                                                 TABLE3_PPO)
    # Run directories holding only eval.json (evaluate.py without training logs).
    for net, seed, score in [("impala", 0, 1.0), ("impala", 1, 3.0), ("drarl", 0, 4.0)]:
        run = tmp_path / f"ppo-{net}-Krull-s{seed}"
        run.mkdir()
        (run / "eval.json").write_text(json.dumps({"mean": score, "trained_frames": 10}))
    written = write_report(EXPERIMENTS["ppo5"], tables.find_runs([tmp_path]), tmp_path / "out")
    assert [Path(p).name for p in written] == [
        "ppo5.md", "ppo5.csv", "ppo5-seeds.png", "ppo5-aggregate.json", "ppo5-intervals.png",
        "ppo5-profiles.png"]
    report = (tmp_path / "out" / "ppo5.md").read_text()
    assert "| Krull | 2.00 (1.00) | 4.00 (0.00) | 100.00% |" in report
    assert "7942.30 |" in report and "(ppo5-seeds.png)" in report
    assert (tmp_path / "out" / "ppo5-seeds.png").stat().st_size > 5000
    # Krull has one drarl seed: the aggregate has points and says why no interval.
    assert "a confidence interval cannot be given" in report
    assert "the first 1 seed(s) of every game and net" in report


def test_the_grids_are_the_papers():
    assert all(e.in_paper for n, e in EXPERIMENTS.items() if n not in ("cpu_pong", "minatar"))
    assert len(plan(EXPERIMENTS["impala10"], 3, 1000)) == 10 * 2 * 3
    assert {c.game for c in plan(EXPERIMENTS["a2c5"], 1, 1)} == set(TABLE2_A2C.scores)
    ablation = plan(EXPERIMENTS["ablation"], 3, 1000)
    assert {c.net for c in ablation} == {"impala", "large_impala", "simple_drarl", "drarl"}
    assert {(c.algo, c.game) for c in ablation} == {("ppo", "Amidar")}


def test_a_tiny_grid_on_catch_end_to_end(tmp_path):
    cmd = [sys.executable, str(SCRIPTS / "reproduce.py"), "--experiment=a2c5", "--games=Catch",
           "--frames=2000", "--seeds=2", "--eval_episodes=10", "--parallel=2",
           f"--logdir={tmp_path / 'runs'}", f"--export_dir={tmp_path / 'saved'}",
           "--train_flags=--log_interval_seconds=1000,--image_every_frames=0"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert out.stdout.count(" done a2c-") == 4
    runs = tmp_path / "runs"
    rows = list(csv.DictReader((runs / "a2c5.csv").read_text().splitlines()))
    assert [r["game"] for r in rows] == ["Catch"]
    assert rows[0]["baseline_seeds"] == rows[0]["treatment_seeds"] == "2"
    for side in ("baseline", "treatment"):
        assert -1.0 <= float(rows[0][f"{side}_mean"]) <= 1.0  # Catch returns are +-1
    assert "| Catch |" in (runs / "a2c5.md").read_text()
    assert (runs / "a2c5-curves.png").stat().st_size > 10_000
    assert (runs / "a2c5-seeds.png").stat().st_size > 5_000
    aggregate = json.loads((runs / "a2c5-aggregate.json").read_text())
    assert aggregate["games"] == ["Catch"] and aggregate["runs_per_game"] == 2
    iqm, low, high = aggregate["aggregates"]["drarl"]["IQM"]
    assert low <= iqm <= high  # two seeds: an interval
    assert "95% stratified bootstrap confidence interval" in (runs / "a2c5.md").read_text()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.count(" skipped a2c-") == 4

    table = subprocess.run([sys.executable, str(SCRIPTS / "tables.py"), "--experiment=a2c5",
                            f"--runs={runs}", f"--output_dir={tmp_path / 'report'}"],
                           capture_output=True, text=True, timeout=300)
    assert table.returncode == 0, table.stderr[-2000:]
    assert (tmp_path / "report" / "a2c5.csv").read_text() == (runs / "a2c5.csv").read_text()


@pytest.mark.slow
def test_a_cell_stopped_at_its_target_return_is_neither_retrained_nor_reevaluated(tmp_path):
    experiment = EXPERIMENTS["cpu_pong"]
    assert experiment.train_flags == ("--target_return=15", "--precision=auto")
    assert experiment.seeds == 1
    (cell,) = plan(experiment, 1, 100_000, games=["Catch"], nets=["impala"])
    # Catch's returns are in [-1, 1]: a target of -1 is reached after the first 100 games.
    flags = ["--target_return=-1", "--log_interval_seconds=1000", "--image_every_frames=0"]
    logdir, export_dir = str(tmp_path / "runs"), str(tmp_path / "saved")
    lines = []
    first = run_cell(cell, logdir, export_dir, 10, flags, echo=lines.append)
    assert first.status == "done", first.message
    assert any("reached the target return" in line for line in lines)  # echoed progress
    frames = evaluated_frames(logdir, cell)
    assert 0 < frames < 100_000 and frames == exported_frames(logdir, export_dir, cell)
    again = run_cell(cell, logdir, export_dir, 10, flags)
    assert again.status == "done", again.message
    run = tmp_path / "runs" / cell.name
    assert "already reached the target return" in (run / "train.log").read_text()
    assert (run / "eval.log").read_text().count("$ ") == 1  # evaluated once
    assert evaluated_frames(logdir, cell) == frames


def test_the_minatar_study_grid_and_its_normalised_report(tmp_path):
    from drarl_tf.experiments import aggregate, minatar_study

    study = EXPERIMENTS["minatar"]
    cells = plan(study, study.seeds, study.frames)
    assert len(cells) == 5 * 2 * 5 and {c.frames for c in cells} == {500_000}
    assert study.parallel == 2 and "--cpu_threads=1" in study.train_flags
    ablation = plan(study, 1, 1, nets=["impala", "drarl", "simple_drarl", "large_impala"])
    assert len({c.net for c in ablation}) == 4
    # Min-max between the random policy and the best run, per game; a game where no run
    # beat random is left out with a note.
    scores = {"MinAtarBreakout": {"impala": [2.0, 4.0], "drarl": [6.0, 10.0]},
              "MinAtarFreeway": {"impala": [0.0, 0.1], "drarl": [0.0, 0.2]}}
    ranges, notes = minatar_study.minmax_ranges(scores, {"MinAtarBreakout": 0.4,
                                                         "MinAtarFreeway": 0.3})
    assert ranges == {"MinAtarBreakout": (0.4, 10.0)}
    assert len(notes) == 1 and "MinAtarFreeway" in notes[0]
    summary = aggregate.summarise(scores, ["impala", "drarl"], reps=200, ranges=ranges,
                                  ranges_text="min-max")
    matrix = summary["_matrices"]["drarl"]
    np.testing.assert_allclose(matrix[:, 0], [(6 - 0.4) / 9.6, 1.0])
    assert summary["games"] == ["MinAtarBreakout"]
    assert "min-max" in aggregate.markdown(summary)
