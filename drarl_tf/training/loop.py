"""The one training loop of IMPALA, A2C and PPO, and what every run does around it.

A trainer reads as these steps (`impala/driver.py`, `training/on_policy.py`):

    config = start(config)                       # process settings, precision, seed
    learner = ...                                # the algorithm's learner
    with open_session(algo, config, spec, learner, images) as session:
        if finished_already(session):
            return finish(session)
        with <its acting>(...) as step:           # actors, or a collector
            run(session, step)                   # update until done or stopped
        return finish(session)                   # final checkpoint, SavedModel

`step()` does one update and returns an `Update` (or None: stop now, e.g. nothing
arrived before a stop request). `run` owns the rest: the stop conditions (frame
budget, target return, Ctrl-C/SIGTERM), the non-finite policy, progress and
checkpoints (through `TrainingSession`); `finish`, once the acting has stopped, the
final checkpoint and the SavedModel.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
from pathlib import Path

import numpy as np
import tensorflow as tf

from drarl_tf.bookkeeping.export import check_export_target, export_saved_model, run_metadata
from drarl_tf.bookkeeping.progress import TimeShares
from drarl_tf.bookkeeping.run_dir import export_path
from drarl_tf.bookkeeping.session import TrainingSession, TrainResult
from drarl_tf.errors import DrarlError
from drarl_tf.tf_settings import set_cpu_threads
from drarl_tf.training.hardware import precision_hint, resolved


@dataclasses.dataclass
class Update:
    """What one `step()` did: the env frames it consumed, the games that ended in them,
    the learner's metrics, and the batch it learned from (an `Unroll`: its statistics
    are logged if the update was not finite, its observations give the image states)."""

    frames: int
    episode_returns: np.ndarray
    metrics: dict
    batch: object


def start(config):
    """The process's settings for a run of `config`, set once before anything is built:
    TensorFlow's threads, the seed of Python, numpy and TensorFlow, and `precision="auto"`
    resolved for this machine (the returned config holds the choice, which config.json
    records)."""
    set_cpu_threads(config.cpu_threads)
    tf.keras.utils.set_random_seed(config.seed)
    return resolved(config)


def open_session(algo: str, config, env_spec, learner, images=None,
                 export_model: bool = True) -> TrainingSession:
    """Opens (or resumes) the run directory of `config` for `learner`'s model and
    optimizer; `images(model, env_spec, seed)` makes the TensorBoard images' writer
    (`viz.summaries.RunImages`). With `export_model` the SavedModel's destination is
    checked first, so that one that cannot take it fails before anything is restored
    or trained, not at the end."""

    def check_export(root: Path) -> None:
        check_export_target(export_path(root, config.export_dir), str(root.resolve()),
                            own=not config.export_dir)

    writer = images(learner.model, env_spec, config.seed) if images else None
    session = TrainingSession(algo, config, env_spec, learner.model, learner.optimizer,
                              images=writer, on_open=check_export if export_model else None)
    session.export_model = export_model
    hint = precision_hint(config.precision)
    if hint:
        session.log(hint)
    return session


@contextlib.contextmanager
def stop_on_interrupt(session: TrainingSession):
    """Inside the block, the first Ctrl-C (or SIGTERM) only sets `session.stop_requested`:
    the update in progress finishes, so that the checkpoint written at the end holds
    whole updates only (frames, weights and LR step agree). A second Ctrl-C quits at
    once. Outside the main thread signals cannot be caught, and a KeyboardInterrupt
    stops the loop where it is."""

    def request_stop(signum, frame):
        if session.stop_requested:
            raise KeyboardInterrupt
        session.stop_requested = session.interrupted = True
        session.log("interrupted: finishing this update, then writing a checkpoint and the "
                    "SavedModel (Ctrl-C again to quit at once)")

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, request_stop)
    try:
        yield
    except KeyboardInterrupt:
        if session.stop_requested:  # the second Ctrl-C: quit without writing anything
            raise
        session.interrupted = True
        session.log("interrupted: writing a checkpoint and the SavedModel")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(session: TrainingSession, step, *, stop_together=bool,
        clock: TimeShares | None = None) -> None:
    """Calls `step()` until the run is done or asked to stop (then with a checkpoint
    written at once: a scheduler's grace period is short). Follow with `finish`.

    Args:
      step: `() -> Update | None`, one update (None: stop waiting and end the run).
      stop_together: `f(this process wants to stop) -> stop`, called once per update;
        several learner workers vote with it so that all stop at the same update.
      clock: the step's `TimeShares`, restarted whenever a progress line (which logs its
        shares) was written; logging and checkpoints are booked to no part.
    """
    quitting = False  # a second Ctrl-C: nothing more is written
    if clock is not None:
        clock.skip()  # the time before the first update (starting actors) is no part
    try:
        with stop_on_interrupt(session):
            while not stop_together(not session.running):
                update = step()
                if update is None:
                    break
                session.check_update(update.metrics, update.batch)
                logged = session.record(
                    update.frames, update.episode_returns, update.metrics,
                    obs=update.batch.obs if session.wants_states else None)
                if clock is not None:
                    if logged:
                        clock.reset()
                    clock.skip()
    except DrarlError:
        session.save_checkpoint()  # the learner's state is good: keep the work done so far
        raise
    except KeyboardInterrupt:
        quitting = True
        raise
    finally:
        session.stop_clock()
        if session.stop_requested and not quitting:  # a scheduler's grace period is short
            session.save_checkpoint(announce=False)


def finish(session: TrainingSession) -> TrainResult:
    """The run's end: final checkpoint, images and progress line (`session.close`), then
    the SavedModel (if anything was trained, or none exists yet), then the lock."""
    result = session.close()
    if session.export_model and (result.frames > session.start_frames
                                 or not session.export_path.exists()):
        metadata = run_metadata(session.env_spec, session.algo, session.config.net,
                                session.config.seed, result.frames,
                                str(session.run.root.resolve()))
        path = export_saved_model(session.model, session.export_path,
                                  session.env_spec.obs_shape, metadata,
                                  own=not session.config.export_dir)
        session.log(f"SavedModel: {path}")
    session.release_lock()
    return result


def finished_already(session: TrainingSession) -> bool:
    """True (and said) when the run has nothing left to do: its frames are spent or its
    target return reached."""
    if session.finished:
        session.log(session.finished_message())
        return True
    return False
