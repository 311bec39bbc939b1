"""One run = one directory: config.json, tb/, checkpoints/ (docs/design.md, Runtime and output layout)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from drarl_tf.errors import DrarlError

# Fields a resumed run may change without becoming a different experiment.
RESUMABLE_CHANGES = frozenset(
    {"total_frames", "log_interval_seconds", "checkpoint_minutes", "export_dir",
     "image_every_frames", "milestone_fractions", "on_nonfinite", "max_actor_restarts", "actor_timeout_seconds", "actor_backend",
     "ray_address", "precision", "xla", "cpu_threads", "target_return", "collective_timeout_seconds",
     "logdir"})  # the same run given by a relative or moved path resumes


def run_name(algo: str, net: str, game: str, seed: int) -> str:
    return f"{algo}-{net}-{game}-s{seed}"


SAVED_MODEL = "saved_model"  # a run's own export: <logdir>/<run name>/saved_model/


def export_path(run_root, export_dir: str = "") -> Path:
    """Where a run's SavedModel goes: its own `<run dir>/saved_model/`, or
    `<export_dir>/<run name>/` when an export directory is given."""
    run_root = Path(run_root)
    return Path(export_dir) / run_root.name if export_dir else run_root / SAVED_MODEL


@dataclasses.dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "config.json"

    @property
    def tb(self) -> Path:
        return self.root / "tb"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def milestones(self) -> Path:
        """Checkpoints kept at chosen fractions of the run (never rotated away)."""
        return self.root / "milestones"


def writer_run_dir(algo: str, config) -> Path:
    """The run directory a trainer of `config` writes: `<logdir>/<run name>`, or for a
    worker other than the chief of a multi-worker job `<logdir>/worker<i>/<run name>`."""
    logdir = Path(config.logdir)
    worker = getattr(config, "worker", None)
    if worker is not None and not worker.is_chief:
        logdir = logdir / f"worker{worker.index}"
    return logdir / run_name(algo, config.net, config.game, config.seed)


def open_run_dir(logdir: str, name: str, config) -> RunDir:
    """Creates (or reopens, to resume) `logdir/name` and writes `config.json` atomically.

    A resumed run must have been started with the same config, apart from
    `RESUMABLE_CHANGES`; anything else is refused with one line.
    """
    from drarl_tf.bookkeeping.lock import acquire, release

    run = RunDir(Path(logdir) / name)
    acquire(run.root)  # one writer (it creates the directory): before anything is written
    try:
        _write_config(run, config)
    except BaseException:
        release(run.root)
        raise
    return run


def _write_config(run: RunDir, config) -> None:
    """Checks a resumed run's config.json against `config` and writes `config` there."""
    current = dataclasses.asdict(config)
    saved = None
    if run.config_path.exists():
        try:
            saved = json.loads(run.config_path.read_text())
        except (OSError, ValueError):
            saved = None
        if not isinstance(saved, dict):
            saved = None
    if saved is None and any(run.checkpoints.glob("ckpt-*.index")):
        raise DrarlError(
            f"{run.root} holds checkpoints but no readable config.json, so whether they "
            "belong to this config cannot be checked; restore config.json, or use another "
            "--logdir, or delete that directory to start over")
    if saved is not None:
        unknown = sorted(k for k in saved if k not in current)
        if unknown:
            raise DrarlError(
                f"{run.config_path} has settings that {type(config).__name__} does not know: "
                f"{', '.join(unknown)}; remove them (a run's config.json is rewritten at every "
                "start, and they would be lost silently)")
        changed = sorted(
            k for k in current if k in saved and saved[k] != current[k] and k not in RESUMABLE_CHANGES
        )
        if changed:
            diffs = ", ".join(f"{k}: {saved[k]!r} -> {current[k]!r}" for k in changed)
            raise DrarlError(
                f"{run.root} holds a run with a different config ({diffs}); "
                "use another --logdir or --seed, or delete that directory"
            )
    tmp = run.config_path.with_suffix(".json.tmp")
    try:
        tmp.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, run.config_path)
    except OSError as e:
        raise DrarlError(f"cannot write {run.config_path}: {e.strerror or e}; a run needs its "
                         "directory writable (config, checkpoints, logs): use another --logdir"
                         ) from None
