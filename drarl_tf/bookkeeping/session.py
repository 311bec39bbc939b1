"""One training run's bookkeeping, shared by every trainer: run directory, resume,
frame and episode counters, progress, periodic checkpoints and the final result."""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from drarl_tf.bookkeeping.checkpoints import Checkpointer, Milestones
from drarl_tf.bookkeeping.export import check_export_target, export_saved_model, run_metadata
from drarl_tf.bookkeeping.lock import release as release_lock
from drarl_tf.bookkeeping.numerics import batch_statistics
from drarl_tf.bookkeeping.progress import Progress, drop_steps_after
from drarl_tf.bookkeeping.run_dir import export_path, open_run_dir, run_name
from drarl_tf.errors import DrarlError
from drarl_tf.training.hardware import precision_hint
from drarl_tf.training.optim import LinearDecay

RETURN_WINDOW = 100  # games in the logged mean return


@dataclasses.dataclass
class TrainResult:
    run_dir: str
    frames: int
    updates: int
    episodes: int
    mean_return: float  # over the last 100 full games
    resumed_from: str | None
    steady_fps: float = float("nan")  # frames/s from the first update to the end (no start-up)
    metrics: dict = dataclasses.field(default_factory=dict)  # the last update's losses etc.
    interrupted: bool = False  # stopped early by Ctrl-C / SIGTERM (checkpoint and export written)
    target_reached: bool = False  # stopped early at config.target_return


class TrainingSession:
    """Opens `<logdir>/<algo>-<net>-<game>-s<seed>`, restores its latest checkpoint, and
    keeps the counters that a resumed run continues from.

    `config` needs the fields `net`, `seed`, `logdir`, `export_dir`, `total_frames`,
    `log_interval_seconds` and `checkpoint_minutes`; `env_spec` (an `EnvSpec`) gives the
    game's name, observation shape and actions for the SavedModel written at the end.
    """

    def __init__(self, algo: str, config, env_spec, model, optimizer, export_model: bool = True):
        self.config = config
        self.export_model = export_model  # False: no SavedModel at the end (non-chief workers)
        self.algo = algo
        self.model = model
        self.env_spec = env_spec  # its name, actions and observation shape: the SavedModel's
        self.name = run_name(algo, config.net, env_spec.name, config.seed)
        self.run = open_run_dir(config.logdir, self.name, config)  # takes its lock
        self._holds_lock = True
        try:
            self._open(config, model, optimizer, export_model)
        except BaseException:
            self.release_lock()
            raise

    def release_lock(self) -> None:
        """Gives back the run directory's writer's lock (once; `close` does it, and the
        trainers on their way out of a failed run)."""
        if self._holds_lock:
            self._holds_lock = False
            release_lock(self.run.root)

    def _open(self, config, model, optimizer, export_model: bool) -> None:
        """Restores the run's state and sets up checkpoints, progress and milestones."""
        if export_model:  # a destination that cannot take the SavedModel fails now, not at the end
            check_export_target(self.export_path, self._run_dir, own=not config.export_dir)
        self.optimizer = optimizer
        self.frames = tf.Variable(0, dtype=tf.int64, name="frames")
        self.episodes = tf.Variable(0, dtype=tf.int64, name="episodes")
        # The last games' returns (the logged mean return's window), so that a resumed
        # run reports the same statistics as an uninterrupted one.
        self.recent_returns = tf.Variable(tf.zeros([RETURN_WINDOW], tf.float64),
                                          name="recent_returns")
        self.recent_count = tf.Variable(0, dtype=tf.int64, name="recent_count")
        # The learning-rate schedule's anchor (see LinearDecay) is part of the run's state.
        self.schedule = getattr(optimizer, "_learning_rate", None)
        if not isinstance(self.schedule, LinearDecay):
            self.schedule = None
        extra = {"lr_schedule": self.schedule.state} if self.schedule else {}
        self.checkpointer = Checkpointer(self.run.checkpoints, also_in=(self.run.milestones,),
                                         model=model, optimizer=optimizer,
                                         frames=self.frames, episodes=self.episodes,
                                         recent_returns=self.recent_returns,
                                         recent_count=self.recent_count, **extra)
        self.resumed = self.checkpointer.restore_latest()
        self.start_frames = int(self.frames.numpy())
        if self.resumed:
            self.log(f"resumed from {self.resumed} at {self.start_frames:,} frames")
            rate = self.schedule.rebase(self.updates) if self.schedule else None
            if rate is not None:
                self.log(f"total_frames is now {config.total_frames:,}: the learning rate goes "
                         f"on from {rate:.3g} linearly to 0 at the new end")
        # Logs past the resumed frames belong to the work that was lost: one history.
        drop_steps_after(self.run.tb, self.start_frames)
        hint = precision_hint(config.precision)
        if hint:
            self.log(hint)
        self.progress = Progress(self.name, config.total_frames, self.run.tb,
                                 config.log_interval_seconds, window=RETURN_WINDOW)
        count = int(self.recent_count.numpy())
        self.progress.returns.extend(self.recent_returns.numpy()[:count].tolist())
        self._last_checkpoint = time.monotonic()
        self._first_update: tuple[float, int] | None = None
        self._end: tuple[float, int] | None = None
        self.metrics: dict = {}
        self._images = None  # ImageSummaries, made from the first states seen
        self._next_images = self.start_frames  # frames at which images are due next
        self._images_written_at = -1
        self._milestones = Milestones(self.run.milestones, self.checkpointer.checkpoint,
                                      config.milestone_fractions)
        for name in self._milestones.forget_after(self.start_frames):
            self.log(f"milestone {name} belonged to training after {self.start_frames:,} "
                     "frames that was lost; it will be written again")
        if self.start_frames == 0:
            self._milestones.reached(0, config.total_frames)  # the untrained weights: 0 %
        self.interrupted = False
        self.stop_requested = False  # set by the first Ctrl-C / SIGTERM, see stop_on_interrupt
        self._saved_frames = self.start_frames
        self.skipped_updates = 0  # updates dropped for a non-finite loss (on_nonfinite="skip")
        self._announced_target = False

    @contextlib.contextmanager
    def stop_on_interrupt(self):
        """Inside the block, the first Ctrl-C (or SIGTERM) only sets `stop_requested`: the
        trainer finishes the update in progress, so that the checkpoint that `close()`
        writes holds whole updates only (frames, weights and LR step agree). A second
        Ctrl-C quits at once. Outside the main thread signals cannot be caught, and a
        KeyboardInterrupt stops the loop where it is, as before."""

        def request_stop(signum, frame):
            if self.stop_requested:
                raise KeyboardInterrupt
            self.stop_requested = self.interrupted = True
            self.log("interrupted: finishing this update, then writing a checkpoint and the "
                     "SavedModel (Ctrl-C again to quit at once)")

        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, request_stop)
        try:
            yield
        except KeyboardInterrupt:
            if self.stop_requested:  # the second Ctrl-C: quit without writing anything
                raise
            self.interrupted = True
            self.log("interrupted: writing a checkpoint and the SavedModel")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @property
    def running(self) -> bool:
        """True until the frame budget is spent, the target return is reached or a stop
        was requested."""
        return not self.finished and not self.stop_requested

    @property
    def target_reached(self) -> bool:
        """The mean return over the last 100 full games (a full window) is at least
        `config.target_return`."""
        target = getattr(self.config, "target_return", None)
        return (target is not None and len(self.progress.returns) >= RETURN_WINDOW
                and self.progress.mean_return >= target)

    @property
    def counters(self) -> list:
        """The run's counter variables (frames, games, the recent returns), e.g. for
        another worker to take over with `counters_set`."""
        schedule = list(self.schedule.state.variables) if self.schedule else []
        return [self.frames, self.episodes, self.recent_returns, self.recent_count, *schedule]

    def counters_set(self) -> None:
        """Call after `counters` were assigned from outside (a resume by another worker)."""
        self.start_frames = self._saved_frames = int(self.frames.numpy())
        self.progress.restart()
        self.progress.returns.clear()
        count = int(self.recent_count.numpy())
        self.progress.returns.extend(self.recent_returns.numpy()[:count].tolist())

    def finished_message(self) -> str:
        frames = int(self.frames.numpy())
        if self.target_reached:
            return (f"already reached the target return ({self.progress.mean_return:.2f} >= "
                    f"{self.config.target_return:g} over the last {RETURN_WINDOW} games) at "
                    f"{frames:,} frames; a higher --target_return trains on")
        return f"already finished ({frames:,} frames)"

    def log(self, message: str) -> None:
        print(f"[{self.name}] {message}", flush=True)

    @property
    def finished(self) -> bool:
        return int(self.frames.numpy()) >= self.config.total_frames or self.target_reached

    @property
    def updates(self) -> int:
        return int(self.optimizer.iterations.numpy())

    def check_update(self, metrics: dict, batch) -> None:
        """Handles an update whose loss or gradients were not finite (`metrics["nonfinite"]`
        > 0; the learner then left every weight unchanged): with `on_nonfinite="stop"`
        writes a checkpoint of the last good state and raises a one-line DrarlError;
        with "skip" warns and goes on. Either way the batch's statistics are logged."""
        if not metrics.get("nonfinite", 0.0) > 0:
            return
        self.skipped_updates += 1
        frames = int(self.frames.numpy())
        where = (f"non-finite loss or gradients in the update after {frames:,} frames (or "
                 "weights that the update would have made non-finite)")
        print(f"warning: {where}; batch: {batch_statistics(batch)}; "
              f"losses: {', '.join(f'{k} {v:.4g}' for k, v in metrics.items() if 'loss' in k)}",
              file=sys.stderr, flush=True)
        if self.config.on_nonfinite == "skip":
            self.log(f"skipped that batch ({self.skipped_updates} skipped so far); "
                     "the weights were not changed")
            return
        path = self.save_checkpoint()
        raise DrarlError(
            f"{where}; the weights were not changed and the last good state is in "
            f"{path or 'the last checkpoint'}; the batch's statistics are above. "
            "Rerun with --on_nonfinite=skip to drop such batches and go on")

    def save_checkpoint(self, announce: bool = True) -> str | None:
        """Writes a checkpoint now if anything was trained since the last one; returns
        the newest checkpoint's path."""
        now = int(self.frames.numpy())
        if now <= self.start_frames or now == self._saved_frames:
            return self.checkpointer.manager.latest_checkpoint
        recent = list(self.progress.returns)
        self.recent_returns.assign(recent + [0.0] * (RETURN_WINDOW - len(recent)))
        self.recent_count.assign(len(recent))
        path = self.checkpointer.save(now)
        self._saved_frames = now
        self._last_checkpoint = time.monotonic()
        if announce:
            self.log(f"checkpoint written: {path}")
        return path

    @property
    def wants_states(self) -> bool:
        """True until the states of the TensorBoard images are chosen: pass the update's
        observations to `record` then."""
        return bool(self.config.image_every_frames) and self._images is None

    def _image_summaries(self, obs):
        """The fixed image batch: diverse states of the run's first update, kept in
        `<run>/image_states.npy` so that a resumed run shows the same states."""
        from drarl_tf.envs.minatar import object_channels
        from drarl_tf.viz.summaries import ImageSummaries, select_diverse_states

        path = self.run.root / "image_states.npy"
        states = None
        if path.exists():
            with contextlib.suppress(OSError, ValueError):
                states = np.load(path)
        if states is None or states.shape[1:] != tuple(self.env_spec.obs_shape):
            if obs is None:
                return None
            states = select_diverse_states(obs, seed=self.config.seed)
            with contextlib.suppress(OSError):
                np.save(path, states)
        return ImageSummaries(self.model, states, objects=object_channels(self.env_spec.name))

    def _write_images(self, now: int, obs=None) -> None:
        if self._images is None:
            self._images = self._image_summaries(obs)
        if self._images is not None and now != self._images_written_at:
            self._images.write(self.progress.writer, now)
            self._images_written_at = now

    def record(self, frames: int, episode_returns, metrics: dict, obs=None) -> bool:
        """Counts one update's frames and finished games; logs, checkpoints, keeps
        milestone checkpoints and writes images when due (`obs`: the update's
        observations `[..., H, W, C]`, needed while `wants_states`). Returns True when
        a progress line (and its scalars, `metrics` among them) was written."""
        self.frames.assign_add(frames)
        now = int(self.frames.numpy())
        if self._first_update is None:
            self._first_update = (time.monotonic(), now)
        self.progress.add_episodes(episode_returns, now)
        self.episodes.assign_add(len(episode_returns))
        if len(episode_returns) and self.target_reached and not self._announced_target:
            self._announced_target = True
            self.log(f"mean return {self.progress.mean_return:.2f} over the last "
                     f"{RETURN_WINDOW} games reached the target {self.config.target_return:g} "
                     f"at {now:,} frames: stopping")
        self.metrics = metrics
        logged = self.progress.maybe_log(now, metrics)
        every = self.config.image_every_frames
        if every and now >= self._next_images:
            self._write_images(now, obs)
            self._next_images = (now // every + 1) * every
        self._milestones.reached(now, self.config.total_frames)
        if time.monotonic() - self._last_checkpoint > 60.0 * self.config.checkpoint_minutes:
            self.save_checkpoint(announce=False)
        return logged

    def stop_clock(self) -> None:
        """Marks the end of training (before shutting actors down), for `steady_fps`."""
        self._end = (time.monotonic(), int(self.frames.numpy()))

    @property
    def export_path(self) -> Path:
        """`<run dir>/saved_model/`, or `<export_dir>/<run name>/` (see RunConfig)."""
        return export_path(self.run.root, self.config.export_dir)

    @property
    def _run_dir(self) -> str:
        return str(self.run.root.resolve())

    def export(self) -> str:
        """Writes the current policy as a SavedModel to `export_path`."""
        metadata = run_metadata(self.env_spec, self.algo, self.config.net, self.config.seed,
                                int(self.frames.numpy()), self._run_dir)
        return export_saved_model(self.model, self.export_path, self.env_spec.obs_shape, metadata,
                                  own=not self.config.export_dir)

    def close(self) -> TrainResult:
        """Writes the final checkpoint and SavedModel (if anything was trained, or no
        export exists yet) and the last progress line (unless the last line already
        showed the final frames), its fps up to `stop_clock`."""
        if self._end is None:
            self.stop_clock()
        final = int(self.frames.numpy())
        self.save_checkpoint(announce=False)
        if final > self.start_frames and self.config.image_every_frames:
            self._write_images(final)  # the trained policy's images
        if self.metrics:
            self.progress.maybe_log(final, self.metrics, force=True, now=self._end[0])
        self.progress.close()
        if self.export_model and (final > self.start_frames or not self.export_path.exists()):
            self.log(f"SavedModel: {self.export()}")
        self.release_lock()
        steady = float("nan")
        if self._first_update is not None and self._end[1] > self._first_update[1]:
            steady = (self._end[1] - self._first_update[1]) / (self._end[0] - self._first_update[0])
        return TrainResult(str(self.run.root), final, self.updates, int(self.episodes.numpy()),
                           self.progress.mean_return, self.resumed, steady, dict(self.metrics),
                           self.interrupted, self.target_reached)
