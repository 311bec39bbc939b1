"""The chaos drill (scripts/chaos.py): IMPALA on Catch through a killed actor, a frozen
actor, a `kill -9` of the main process during a checkpoint write and a SIGTERM, each
followed by a restart; the run still reaches its frames and return, never resumes before
its newest checkpoint, leaves no process, no partial checkpoint, one TensorBoard history
and a SavedModel that serves. The 20-minute drill of docs/reliability.md is slow-marked."""

import pytest

from drarl_tf.experiments.chaos import Fault, fault_schedule, markdown_table, run_drill


def test_the_fault_schedule_is_seeded():
    kinds = ("kill_actor", "sigterm")
    first = fault_schedule(3, 600, 30, kinds)
    assert first == fault_schedule(3, 600, 30, kinds) != fault_schedule(4, 600, 30, kinds)
    assert all(0 < f.at < 600 and f.kind in kinds for f in first)
    assert [f.at for f in first] == sorted(f.at for f in first)


def test_a_short_drill_on_impala_keeps_every_promise(tmp_path):
    faults = [Fault(4, "kill_actor"), Fault(9, "stop_actor"),
              Fault(14, "kill_main_in_checkpoint"), Fault(30, "sigterm")]
    lines = []
    report = run_drill("impala", tmp_path, total_frames=100_000, target_return=0.5,
                       duration=40, faults=faults, log=lines.append, timeout=600)
    assert report.ok, (report.problems, lines[-20:])
    assert [o.fault.kind for o in report.outcomes] == [f.kind for f in faults]
    assert report.starts == 3  # two deaths of the main process, two restarts
    killed = report.outcomes[2]
    assert killed.resumed_at is not None and killed.resumed_at >= killed.newest_checkpoint
    assert "| kill_main_in_checkpoint |" in markdown_table(report)


@pytest.mark.slow
def test_a_short_drill_on_ppo_keeps_every_promise(tmp_path):
    faults = [Fault(5, "kill_main_in_checkpoint"), Fault(25, "sigterm"), Fault(40, "kill_main")]
    report = run_drill("ppo", tmp_path, total_frames=60_000, target_return=0.3,
                       duration=60, faults=faults, log=lambda line: None, timeout=900)
    assert report.ok, report.problems
