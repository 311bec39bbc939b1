"""Progress for people: terminal lines (frames, fps, return, losses, ETA) and TensorBoard scalars."""

from __future__ import annotations

import collections
import time

import numpy as np
import tensorflow as tf


def format_duration(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class Progress:
    """Collects episode returns and metrics; prints and writes summaries every `interval` s."""

    def __init__(self, label: str, total_frames: int, tb_dir, interval: float = 10.0,
                 start_frames: int = 0, window: int = 100):
        self.label = label
        self.total_frames = total_frames
        self.interval = interval
        self.returns = collections.deque(maxlen=window)
        self.writer = tf.summary.create_file_writer(str(tb_dir))
        self._last_time = self._start_time = time.monotonic()
        self._last_frames = self._start_frames = start_frames

    def restart_at(self, frames: int) -> None:
        """Counts fps and ETA from `frames`, now."""
        self._last_time = self._start_time = time.monotonic()
        self._last_frames = self._start_frames = frames

    def add_episodes(self, returns, frames: int) -> None:
        returns = list(np.asarray(returns, np.float64).ravel())
        self.returns.extend(returns)
        if returns:
            with self.writer.as_default(step=frames):
                tf.summary.scalar("episode/return", float(np.mean(returns)))

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns)) if self.returns else float("nan")

    def maybe_log(self, frames: int, metrics: dict, force: bool = False) -> None:
        """Writes the scalars and prints the progress line, at most once per interval."""
        now = time.monotonic()
        if not force and now - self._last_time < self.interval:
            return
        fps = (frames - self._last_frames) / max(now - self._last_time, 1e-9)
        overall = (frames - self._start_frames) / max(now - self._start_time, 1e-9)
        remaining = max(self.total_frames - frames, 0)
        eta = remaining / overall if overall > 0 else float("inf")
        with self.writer.as_default(step=frames):
            tf.summary.scalar("perf/fps", fps)
            tf.summary.scalar("episode/mean_return_window", self.mean_return)
            for key, value in metrics.items():
                tf.summary.scalar(key, float(value))
        self.writer.flush()
        loss = metrics.get("loss/total", float("nan"))
        print(
            f"[{self.label}] frames {frames:,}/{self.total_frames:,} "
            f"({100.0 * frames / self.total_frames:.1f}%) | {fps:,.0f} fps | "
            f"return {self.mean_return:.2f} ({len(self.returns)} ep) | loss {loss:.3f} | "
            f"ETA {format_duration(eta)}",
            flush=True,
        )
        self._last_time, self._last_frames = now, frames

    def close(self) -> None:
        self.writer.close()
