"""One training run's state, shared by every trainer: run directory and its lock, resume,
frame and episode counters, the learning-rate anchor, progress, the non-finite policy,
periodic and milestone checkpoints, the target return, fps and the final result.

What a run does around that state lives elsewhere: the loop, Ctrl-C/SIGTERM and the
SavedModel in `drarl_tf.training.loop`, the TensorBoard images in the `images` object a
trainer hands over (`drarl_tf.viz.summaries.RunImages`)."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import tensorflow as tf

from drarl_tf.bookkeeping.checkpoints import Checkpointer, Milestones
from drarl_tf.bookkeeping.lock import release as release_lock
from drarl_tf.bookkeeping.numerics import batch_statistics
from drarl_tf.bookkeeping.progress import Progress, drop_steps_after
from drarl_tf.bookkeeping.run_dir import export_path, open_run_dir, run_name
from drarl_tf.errors import DrarlError

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
    game's name, observation shape and actions. `images`: an object with `wants_states`
    and `write(writer, frames, obs, states_file)` that draws the TensorBoard images every
    `config.image_every_frames` frames (None: no images). `on_open(run root)` is called
    once the directory is opened and locked, before anything is restored or written
    (e.g. to refuse a SavedModel destination now rather than at the end). A `with`
    block gives the run directory's lock back at its end, whatever happened.
    """

    def __init__(self, algo: str, config, env_spec, model, optimizer, images=None,
                 on_open=None):
        self.config = config
        self.images = images if config.image_every_frames else None
        self.export_model = True  # whether the run's end writes a SavedModel (training.loop)
        self.algo = algo
        self.model = model
        self.env_spec = env_spec  # its name, actions and observation shape: the SavedModel's
        self.name = run_name(algo, config.net, env_spec.name, config.seed)
        self.run = open_run_dir(config.logdir, self.name, config)  # takes its lock
        self._holds_lock = True
        try:
            if on_open is not None:
                on_open(self.run.root)
            self._open(config, model, optimizer)
        except BaseException:
            self.release_lock()
            raise

    def __enter__(self) -> TrainingSession:
        return self

    def __exit__(self, *exc) -> None:
        self.release_lock()  # close() gives it back; a failed run, here

    def release_lock(self) -> None:
        """Gives back the run directory's writer's lock (once; `close` does it, and the
        trainers on their way out of a failed run)."""
        if self._holds_lock:
            self._holds_lock = False
            release_lock(self.run.root)

    def _open(self, config, model, optimizer) -> None:
        """Restores the run's state and sets up checkpoints, progress and milestones."""
        self.optimizer = optimizer
        self.frames = tf.Variable(0, dtype=tf.int64, name="frames")
        self.episodes = tf.Variable(0, dtype=tf.int64, name="episodes")
        # The last games' returns (the logged mean return's window), so that a resumed
        # run reports the same statistics as an uninterrupted one.
        self.recent_returns = tf.Variable(tf.zeros([RETURN_WINDOW], tf.float64),
                                          name="recent_returns")
        self.recent_count = tf.Variable(0, dtype=tf.int64, name="recent_count")
        # The learning-rate schedule's anchor (a LinearDecay's `state`, which `rebase`s
        # to a new end) is part of the run's state.
        self.schedule = getattr(optimizer, "_learning_rate", None)
        if not hasattr(self.schedule, "rebase"):
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
        self.progress = Progress(self.name, config.total_frames, self.run.tb,
                                 config.log_interval_seconds, window=RETURN_WINDOW)
        count = int(self.recent_count.numpy())
        self.progress.returns.extend(self.recent_returns.numpy()[:count].tolist())
        self._last_checkpoint = time.monotonic()
        self._first_update: tuple[float, int] | None = None
        self._end: tuple[float, int] | None = None
        self.metrics: dict = {}
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
        self.stop_requested = False  # set by the first Ctrl-C / SIGTERM (training.loop)
        self._saved_frames = self.start_frames
        self.skipped_updates = 0  # updates dropped for a non-finite loss (on_nonfinite="skip")
        self._announced_target = False

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
        return self.images is not None and self.images.wants_states

    def _write_images(self, now: int, obs=None) -> None:
        if (self.images is not None and now != self._images_written_at
                and self.images.write(self.progress.writer, now, obs,
                                      self.run.root / "image_states.npy")):
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
        if self.images is not None and now >= self._next_images:
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

    def close(self) -> TrainResult:
        """Writes the final checkpoint, the trained policy's images (if anything was
        trained) and the last progress line (unless the last line already showed the
        final frames), its fps up to `stop_clock`. The lock is kept: give it back with
        `release_lock` (the `with` block's end) once the SavedModel is written."""
        if self._end is None:
            self.stop_clock()
        final = int(self.frames.numpy())
        self.save_checkpoint(announce=False)
        if final > self.start_frames:
            self._write_images(final)  # the trained policy's images
        if self.metrics:
            self.progress.maybe_log(final, self.metrics, force=True, now=self._end[0])
        self.progress.close()
        steady = float("nan")
        if self._first_update is not None and self._end[1] > self._first_update[1]:
            steady = (self._end[1] - self._first_update[1]) / (self._end[0] - self._first_update[0])
        return TrainResult(str(self.run.root), final, self.updates, int(self.episodes.numpy()),
                           self.progress.mean_return, self.resumed, steady, dict(self.metrics),
                           self.interrupted, self.target_reached)
