"""Progress for people: terminal lines (frames, fps, return, losses, ETA) and TensorBoard scalars.

Rates leave start-up out: a line's fps counts the frames since the previous line, or
since the first update (the first `maybe_log`) for the first line, and the ETA comes
from the rate since the first update. Until there is such a rate the line says `- fps`
and `ETA -`, and no `perf/fps` scalar is written. Until a game has finished the line
says so and no `episode/mean_return_window` scalar is written.
"""

from __future__ import annotations

import collections
import os
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

NO_GAME = "- (no game finished yet)"


_REWRITE = ".drarl-rewrite"  # suffix of an event file's copy being rewritten


def read_events(path) -> tuple[list, bool]:
    """The `Event` protos of one TensorBoard event file, and whether its last record was
    cut short (a process killed while writing it)."""
    events = []
    try:
        for record in tf.data.TFRecordDataset(str(path)):
            events.append(tf.compat.v1.Event.FromString(record.numpy()))
    except tf.errors.DataLossError:
        return events, True
    return events, False


def drop_steps_after(tb_dir, step: int) -> int:
    """Rewrites the event files of `tb_dir` without the events logged past `step` (a
    resumed run's abandoned history: the work after its checkpoint), and without a
    record cut short by a kill, so that TensorBoard shows one history. Returns how many
    events were dropped. If a file cannot be rewritten (a full disk), a warning says
    that TensorBoard may show the lost steps too, and the run goes on."""
    dropped = 0
    tb_dir = Path(tb_dir)
    for stale in tb_dir.glob(f"*{_REWRITE}"):  # a rewrite cut short
        stale.unlink(missing_ok=True)
    for path in sorted(tb_dir.glob("events.out.tfevents.*")):
        events, truncated = read_events(path)
        keep = [e for e in events if e.step <= step or e.HasField("file_version")]
        if len(keep) == len(events) and not truncated:
            continue
        # Named without "tfevents": TensorBoard must never read the half-written copy.
        tmp = tb_dir / f".{path.name.replace('tfevents', 'events')}{_REWRITE}"
        try:
            with tf.io.TFRecordWriter(str(tmp)) as writer:
                for event in keep:
                    writer.write(event.SerializeToString())
            os.replace(tmp, path)
        except (OSError, tf.errors.OpError) as e:
            tmp.unlink(missing_ok=True)
            print(f"warning: could not remove the logs past {step:,} frames from {path} "
                  f"({getattr(e, 'strerror', None) or type(e).__name__}); TensorBoard may show "
                  "the lost steps beside the resumed ones", file=sys.stderr, flush=True)
            continue
        dropped += len(events) - len(keep)
    return dropped


def format_duration(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def rate(frames: int, since: tuple[float, int] | None, now: float) -> float | None:
    """Frames per second from the point `since` = (time, frames) to (`now`, `frames`);
    None when no frame or no time passed since then (no rate to tell)."""
    if since is None or frames <= since[1] or now <= since[0]:
        return None
    return (frames - since[1]) / (now - since[0])


class Progress:
    """Collects episode returns and metrics; prints and writes summaries every `interval` s."""

    def __init__(self, label: str, total_frames: int, tb_dir, interval: float = 10.0,
                 window: int = 100):
        self.label = label
        self.total_frames = total_frames
        self.interval = interval
        self.returns = collections.deque(maxlen=window)
        self.writer = tf.summary.create_file_writer(str(tb_dir))
        self.restart()

    def restart(self) -> None:
        """Counts fps and ETA from the next update on, the interval between lines from now
        (e.g. after the run's counters were set from outside)."""
        self._last_print = time.monotonic()  # when the last line was printed (or the start)
        self._first: tuple[float, int] | None = None  # (time, frames) at the first update
        self._last: tuple[float, int] | None = None  # the last line's, or the first update's
        self._logged_frames: int | None = None  # frames of the last line printed

    def add_episodes(self, returns, frames: int) -> None:
        returns = list(np.asarray(returns, np.float64).ravel())
        self.returns.extend(returns)
        if returns:
            with self.writer.as_default(step=frames):
                tf.summary.scalar("episode/return", float(np.mean(returns)))

    @property
    def mean_return(self) -> float:
        """The mean return over the window's games; NaN before the first finished game."""
        return float(np.mean(self.returns)) if self.returns else float("nan")

    def return_text(self) -> str:
        """The window's mean return for people, e.g. `0.52 (100 ep)`, or that no game
        has finished yet."""
        if not self.returns:
            return NO_GAME
        return f"{self.mean_return:.2f} ({len(self.returns)} ep)"

    def maybe_log(self, frames: int, metrics: dict, force: bool = False,
                  now: float | None = None) -> bool:
        """Writes the scalars and prints the progress line, at most once per interval
        (`force`: now, unless the last line already showed `frames`). Call once per
        update; the first call marks the first update, where rates start. `now`: the
        time the frames were reached (default: now). Returns True when it logged."""
        now = time.monotonic() if now is None else now
        if self._first is None:
            self._first = self._last = (now, frames)
        if frames == self._logged_frames:  # nothing new since the last line
            return False
        if not force and now - self._last_print < self.interval:
            return False
        fps = rate(frames, self._last, now)
        self._write_scalars(frames, fps, metrics)
        print(self._line(frames, fps, now, metrics), flush=True)
        self._last_print, self._last, self._logged_frames = now, (now, frames), frames
        return True

    def _write_scalars(self, frames: int, fps: float | None, metrics: dict) -> None:
        with self.writer.as_default(step=frames):
            if fps is not None:
                tf.summary.scalar("perf/fps", fps)
            if self.returns:
                tf.summary.scalar("episode/mean_return_window", self.mean_return)
            for key, value in metrics.items():
                tf.summary.scalar(key, float(value))
        self.writer.flush()

    def _line(self, frames: int, fps: float | None, now: float, metrics: dict) -> str:
        overall = rate(frames, self._first, now)
        remaining = max(self.total_frames - frames, 0)
        eta = "-" if overall is None else format_duration(remaining / overall)
        loss = metrics.get("loss/total", float("nan"))
        return (f"[{self.label}] frames {frames:,}/{self.total_frames:,} "
                f"({100.0 * frames / self.total_frames:.1f}%) | "
                f"{'-' if fps is None else f'{fps:,.0f}'} fps | "
                f"return {self.return_text()} | loss {loss:.3f} | ETA {eta}")

    def close(self) -> None:
        self.writer.close()


class TimeShares:
    """Where a loop's wall time goes: `lap(part)` books the time since the previous
    mark to `part`, `skip()` books it to nothing; `shares()` gives each part's share
    since the last `reset()` as `time/<part>_share` (they sum to 1)."""

    def __init__(self, clock=None):
        self._clock = clock or time.perf_counter
        self.seconds: dict[str, float] = {}
        self._mark = self._clock()

    def lap(self, part: str) -> None:
        now = self._clock()
        self.seconds[part] = self.seconds.get(part, 0.0) + now - self._mark
        self._mark = now

    def skip(self) -> None:
        self._mark = self._clock()

    def shares(self) -> dict[str, float]:
        total = sum(self.seconds.values())
        if total <= 0:
            return {}
        return {f"time/{part}_share": s / total for part, s in self.seconds.items()}

    def reset(self) -> None:
        self.seconds = {}
