"""Aggregate statistics (rliable): intervals against a direct numpy bootstrap, the
probability of improvement on constructed score sets, normalisation, one-seed grids."""

import numpy as np
import pytest
from scipy import stats

from drarl_tf.errors import DrarlError
from drarl_tf.experiments import aggregate


def _numpy_stratified_interval(matrix, statistic, reps, seed, confidence=0.95):
    """Resample the runs of each game (column) independently, `reps` times."""
    rng = np.random.default_rng(seed)
    runs, games = matrix.shape
    values = []
    for _ in range(reps):
        rows = rng.integers(0, runs, size=(runs, games))
        values.append(statistic(np.take_along_axis(matrix, rows, axis=0)))
    tail = (1 - confidence) / 2 * 100
    return np.percentile(values, tail), np.percentile(values, 100 - tail)


def test_the_intervals_match_a_direct_numpy_stratified_bootstrap():
    matrix = np.random.default_rng(3).normal(0.5, 0.3, size=(6, 4))
    estimates = aggregate.interval_estimates({"net": matrix}, reps=4000, seed=1)["net"]
    for name, statistic in [("IQM", lambda x: stats.trim_mean(x.ravel(), 0.25)),
                            ("Mean", lambda x: x.mean()),
                            ("Optimality gap", lambda x: np.mean(1 - np.minimum(x, 1)))]:
        point, low, high = estimates[name]
        assert point == pytest.approx(statistic(matrix))
        ref_low, ref_high = _numpy_stratified_interval(matrix, statistic, 4000, seed=2)
        # Two independent Monte Carlo estimates of the same interval.
        assert low == pytest.approx(ref_low, abs=0.02) and high == pytest.approx(ref_high,
                                                                                 abs=0.02)
        assert low < point < high


def test_probability_of_improvement_on_constructed_score_sets():
    low = np.array([[0.1, 0.2], [0.15, 0.25], [0.12, 0.22]])
    high = low + 1.0
    point, lo, hi = aggregate.probability_of_improvement(high, low, reps=500)
    assert (point, lo, hi) == (1.0, 1.0, 1.0)
    assert aggregate.probability_of_improvement(low, high, reps=500)[0] == 0.0
    point, lo, hi = aggregate.probability_of_improvement(low, low.copy(), reps=2000)
    assert point == 0.5 and lo < 0.5 < hi


def test_scores_are_normalised_by_random_and_human_and_catch_by_its_range():
    scores = {"Pong": {"impala": [-20.7, 14.6], "drarl": [14.6, 14.6]},
              "Catch": {"impala": [-1.0, 1.0], "drarl": [0.0, 1.0]},
              "Tetris": {"impala": [5.0, 6.0], "drarl": [7.0, 8.0]},
              "Krull": {"impala": [1598.0, 2665.5]}}
    matrices, games, notes = aggregate.score_matrices(scores, ["impala", "drarl"])
    assert games == ["Pong", "Catch"]
    np.testing.assert_allclose(matrices["impala"], [[0.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(matrices["drarl"], [[1.0, 0.5], [1.0, 1.0]])
    assert any("Tetris left out: no normalisation range (Atari: random and human reference"
               in n for n in notes)
    assert any("Krull left out: not every net" in n for n in notes)
    with pytest.raises(DrarlError, match="no game can be aggregated"):
        aggregate.score_matrices({"Tetris": scores["Tetris"]}, ["impala", "drarl"])


def test_one_seed_gives_points_and_says_no_interval_can_be_given(tmp_path):
    scores = {"Catch": {"impala": [0.2], "drarl": [0.6]},
              "Pong": {"impala": [-20.0], "drarl": [-10.0]}}
    summary = aggregate.summarise(scores, ["impala", "drarl"], reps=200)
    assert all(v[1] is None and v[2] is None
               for by_metric in summary["aggregates"].values() for v in by_metric.values())
    text = aggregate.markdown(summary)
    assert "a confidence interval cannot be given" in text
    rows = [line for line in text.splitlines() if line.startswith(("| impala", "| drarl"))]
    assert len(rows) == 2 and not any("[" in row for row in rows)
    paths = aggregate.write(summary, tmp_path / "grid")
    assert [p.rsplit("/", 1)[-1] for p in paths] == [
        "grid-aggregate.json", "grid-intervals.png", "grid-profiles.png"]


def test_several_seeds_give_intervals_in_the_table():
    rng = np.random.default_rng(0)
    scores = {"Catch": {"impala": list(rng.uniform(-0.6, 0.2, 3)),
                        "drarl": list(rng.uniform(0.2, 1.0, 3))}}
    summary = aggregate.summarise(scores, ["impala", "drarl"], reps=500)
    text = aggregate.markdown(summary)
    assert "95% stratified bootstrap confidence interval" in text
    assert "| drarl | " in text and " [" in text
    point, lo, hi = summary["probability_of_improvement"]["estimate"]
    assert point == 1.0 and lo == 1.0
