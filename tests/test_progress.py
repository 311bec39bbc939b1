"""Progress lines and TensorBoard scalars tell the truth: no repeated final line and no
0 fps, no NaN return before the first game, rates and ETA without start-up; IMPALA's
time shares."""

import collections
import types

import numpy as np
import pytest
import tensorflow as tf

from drarl_tf.bookkeeping import progress as progress_module
from drarl_tf.bookkeeping.progress import Progress, TimeShares


class FakeClock:
    """`time.monotonic` for the progress module, moved by hand."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progress_module, "time", types.SimpleNamespace(monotonic=fake))
    return fake


def scalars(tb_dir) -> dict:
    """{tag: [(step, value)]} of the scalars in the TensorBoard events under `tb_dir`."""
    found = collections.defaultdict(list)
    for path in sorted(tb_dir.rglob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.HasField("tensor") and not value.tensor.string_val:
                    found[value.tag].append((event.step, float(tf.make_ndarray(value.tensor))))
                elif value.HasField("simple_value"):
                    found[value.tag].append((event.step, value.simple_value))
    return dict(found)


def lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if " fps " in line]


def test_final_line_is_not_repeated_when_the_last_update_outlasts_the_interval(
        tmp_path, clock, capsys):
    # Every update takes longer than the 10 s interval (Atari): each one prints its
    # line, and the final forced log at close() finds no new frames.
    progress = Progress("run", 300, tmp_path, interval=10.0)
    for frames in (100, 200, 300):
        clock.now += 15.0
        progress.maybe_log(frames, {"loss/total": 1.0})
    clock.now += 1.0
    progress.maybe_log(300, {"loss/total": 1.0}, force=True)
    progress.close()
    printed = lines(capsys)
    assert [line.split(" frames ")[1].split("/")[0] for line in printed] == ["100", "200", "300"]
    assert not any("| 0 fps" in line for line in printed)
    assert "| 7 fps |" in printed[-1]  # 100 frames in 15 s
    fps = scalars(tmp_path)["perf/fps"]
    assert [step for step, _ in fps] == [200, 300]  # none at the first update: no rate yet
    assert all(value > 0 for _, value in fps)


def test_final_line_after_new_frames_has_their_true_fps(tmp_path, clock, capsys):
    progress = Progress("run", 1000, tmp_path, interval=10.0)
    clock.now = 1.0
    progress.maybe_log(100, {})  # the first update
    clock.now = 11.0
    progress.maybe_log(200, {})  # a line: 100 frames in 10 s since the first update
    clock.now = 15.0
    progress.maybe_log(300, {})
    progress.maybe_log(300, {}, force=True)  # 100 frames in 4 s since that line
    progress.close()
    printed = lines(capsys)
    assert len(printed) == 2 and "| 10 fps |" in printed[0] and "| 25 fps |" in printed[1]
    assert scalars(tmp_path)["perf/fps"] == [(200, 10.0), (300, 25.0)]


def test_no_return_and_no_nan_before_the_first_game(tmp_path, clock, capsys):
    progress = Progress("run", 1000, tmp_path, interval=1.0)
    for frames in (100, 200):
        clock.now += 2.0
        progress.maybe_log(frames, {"loss/total": 0.5})
    progress.add_episodes([1.0, 0.0], 300)
    clock.now += 2.0
    progress.maybe_log(300, {"loss/total": 0.5})
    progress.close()
    printed = lines(capsys)
    assert len(printed) == 3
    assert all("nan" not in line.lower() for line in printed)
    assert all("return - (no game finished yet)" in line for line in printed[:2])
    assert "return 0.50 (2 ep)" in printed[2]
    assert scalars(tmp_path)["episode/mean_return_window"] == [(300, 0.5)]


def test_eta_and_fps_count_from_the_first_update_not_start_up(tmp_path, clock, capsys):
    # 100 s of start-up (tracing, actors) before the first update, then 100 frames/s.
    progress = Progress("run", 71_000, tmp_path, interval=200.0)
    for frames in range(1_000, 11_001, 1_000):
        clock.now = 100.0 + (frames - 1_000) / 100
        progress.maybe_log(frames, {})
    progress.close()
    (line,) = lines(capsys)
    assert "frames 11,000/" in line and "| 100 fps |" in line
    assert line.endswith("ETA 10m00s")  # 60,000 frames left at 100 frames/s


def test_first_line_at_the_first_update_shows_no_rate(tmp_path, clock, capsys):
    # Start-up outlasts the interval: the first update prints at once, with no rate.
    progress = Progress("run", 12_000, tmp_path, interval=10.0)
    clock.now = 100.0
    progress.maybe_log(1_000, {})
    clock.now = 110.0
    progress.maybe_log(2_000, {})
    progress.close()
    first, second = lines(capsys)
    assert "| - fps |" in first and first.endswith("ETA -")
    assert "| 100 fps |" in second and second.endswith("ETA 1m40s")
    assert scalars(tmp_path)["perf/fps"] == [(2_000, 100.0)]


def test_time_shares_split_the_time_since_the_last_reset():
    ticks = iter([0.0, 3.0, 4.0, 6.0, 10.0, 11.0])
    shares = TimeShares(clock=lambda: next(ticks))
    shares.lap("wait")  # 3 s
    shares.lap("update")  # 1 s
    shares.skip()  # 2 s of bookkeeping: not counted
    shares.lap("update")  # 4 s
    assert shares.shares() == {"time/wait_share": 3 / 8, "time/update_share": 5 / 8}
    shares.reset()
    assert shares.shares() == {}
    shares.lap("wait")
    assert shares.shares() == {"time/wait_share": 1.0}


def test_a2c_catch_run_prints_true_lines(tmp_path, capsys):
    from drarl_tf import a2c

    # A line at every update: the final forced log finds no new frames.
    config = a2c.A2CConfig(game="Catch", net="impala", num_envs=4, unroll_length=5,
                           total_frames=200, log_interval_seconds=1e-6, image_every_frames=0,
                           logdir=str(tmp_path))
    result = a2c.train(config)
    printed = lines(capsys)
    assert result.updates == 10 and len(printed) == 10
    assert "return - (no game finished yet)" in printed[0]  # a Catch game is 9 steps
    assert all("nan" not in line.lower() for line in printed)
    assert not any("| 0 fps" in line for line in printed)
    logged = scalars(tmp_path / "a2c-impala-Catch-s0" / "tb")
    assert all(value > 0 for _, value in logged["perf/fps"])
    assert all(np.isfinite(value) for _, value in logged["episode/mean_return_window"])
    assert logged["episode/mean_return_window"][0][0] > 20  # not before the first game


def test_impala_logs_time_shares(tmp_path):
    from drarl_tf.impala import ImpalaConfig, train

    config = ImpalaConfig(net="impala", game="Catch", total_frames=100, unroll_length=5,
                          batch_size=4, envs_per_actor=2, num_actors=2,
                          log_interval_seconds=1e-6, image_every_frames=0,
                          logdir=str(tmp_path))
    assert train(config).updates == 5
    logged = scalars(tmp_path / "impala-impala-Catch-s0" / "tb")
    parts = {tag: dict(values) for tag, values in logged.items() if tag.startswith("time/")}
    assert set(parts) == {"time/wait_share", "time/update_share", "time/publish_share"}
    steps = set(parts["time/wait_share"])
    assert len(steps) == 5 and all(set(values) == steps for values in parts.values())
    for step in steps:
        assert all(0.0 <= values[step] <= 1.0 for values in parts.values())
        assert sum(values[step] for values in parts.values()) == pytest.approx(1.0)


def test_the_final_summary_of_a_run_without_a_finished_game_says_so(tmp_path):
    import subprocess
    import sys

    from tests.conftest import SCRIPTS

    out = subprocess.run(
        [sys.executable, str(SCRIPTS / "run_a2c.py"), "--game=Catch", "--net=impala",
         "--num_envs=1", "--unroll_length=2", "--total_frames=4", "--image_every_frames=0",
         "--milestone_fractions=", f"--logdir={tmp_path}"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("done: 4 frames") and "no game finished yet" in last, last
    assert "nan" not in out.stdout.lower()


def test_a_resume_leaves_one_tensorboard_history(tmp_path):
    """Events past the resumed frames (work lost with a kill) are dropped, and so is a
    record cut short, so that TensorBoard shows one curve per tag."""
    from drarl_tf.bookkeeping.progress import drop_steps_after, read_events

    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        for step in range(0, 100, 10):
            tf.summary.scalar("loss/total", float(step), step=step)
    (path,) = tmp_path.glob("events.out.tfevents.*")
    path.write_bytes(path.read_bytes()[:-5])  # killed while writing the last record
    events, truncated = read_events(path)
    assert truncated and max(e.step for e in events) == 80
    assert drop_steps_after(tmp_path, 40) == 4  # steps 50-80 (90 was cut short)
    events, truncated = read_events(path)
    assert not truncated
    assert [e.step for e in events if e.summary.value] == [0, 10, 20, 30, 40]
    assert drop_steps_after(tmp_path, 40) == 0  # nothing more to drop
