"""Resumable checkpoints with tf.train.CheckpointManager."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

from drarl_tf.errors import DrarlError


def remove_partial_checkpoints(directory) -> list[str]:
    """Deletes the `ckpt-*_temp*` that a write cut short (a full disk, a kill) left in
    `directory`; call only while holding the run directory's lock."""
    removed = []
    for partial in Path(directory).glob("ckpt-*_temp*"):
        if partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.unlink(missing_ok=True)
        removed.append(partial.name)
    return removed


def _frames_of(prefix: str) -> int:
    tail = Path(prefix).name[len("ckpt-"):]
    return int(tail) if tail.isdigit() else -1


class Checkpointer:
    """Saves and restores `objects` (model, optimizer, counters) under `directory`.

    `also_in`: more directories of complete checkpoints of the same objects (a run's
    milestones/) that a resume considers too: it takes the newest by frames wherever
    it is. Partial checkpoints (`ckpt-*_temp*`) in any of them are removed at start.
    """

    def __init__(self, directory, max_to_keep: int = 3, also_in=(), **objects):
        self.directory = directory
        self.also_in = tuple(Path(d) for d in also_in)
        for place in (Path(directory), *self.also_in):
            for name in remove_partial_checkpoints(place):
                print(f"warning: removed {place / name}, a checkpoint whose write was cut "
                      "short (a full disk or a kill)", file=sys.stderr, flush=True)
        self.checkpoint = tf.train.Checkpoint(**objects)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(directory), max_to_keep)

    def restore_latest(self) -> str | None:
        """Restores the newest readable checkpoint; returns its path, or None when there is none.

        A damaged newest checkpoint (a crash or a full disk while writing it) is
        skipped with a warning and the one before it is used.
        """
        candidates = list(reversed(self.manager.checkpoints))
        latest = self.manager.latest_checkpoint  # also listed when its index lacks timestamps
        if latest and latest not in candidates:
            candidates.insert(0, latest)
        # The index file (`checkpoint`) may be gone or damaged while the checkpoints are
        # intact: the files themselves are listed too, newest first.
        listed = checkpoint_prefixes(self.directory)
        if listed and not candidates:
            print(f"warning: the checkpoint index in {self.directory} is missing or unreadable; "
                  f"using the checkpoint files found there ({len(listed)})",
                  file=sys.stderr, flush=True)
        candidates += [p for p in listed if p not in candidates]
        for place in self.also_in:
            candidates += [p for p in checkpoint_prefixes(place) if p not in candidates]
        # The newest by frames first, wherever it is: a complete ckpt-N that the index
        # does not list yet, or a milestone newer than every rotating checkpoint (the
        # final checkpoint failed on a full disk). Ties: the rotating one.
        candidates.sort(key=lambda p: (-_frames_of(p), Path(p).parent != Path(self.directory)))
        for path in candidates:
            try:
                self.checkpoint.restore(path).assert_existing_objects_matched()
            except Exception as e:  # a damaged file fails in many ways (OpError, IndexError...)
                reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
                print(f"warning: checkpoint {path} is unreadable or does not match this run "
                      f"({reason}); trying the one before it", file=sys.stderr, flush=True)
                continue
            return path
        if candidates:
            raise DrarlError(f"no usable checkpoint in {self.directory}; delete that directory "
                             "to start over, or use another --logdir")
        return None

    def save(self, step: int) -> str:
        """Writes `ckpt-<step>`. TensorFlow writes to temporary files and renames them,
        and the manager's index moves on only after that, so a failed write (a full
        disk) leaves the previous checkpoint the latest one. Weights that are not all
        finite are never written."""
        model = getattr(self.checkpoint, "model", None)
        bad = nonfinite_variables(model.variables) if model is not None else []
        if bad:
            raise DrarlError(f"refusing to write checkpoint ckpt-{step}: {len(bad)} weights are "
                             f"not finite (first: {bad[0]}); the previous one "
                             f"({self.manager.latest_checkpoint or 'none'}) is kept")
        try:
            return self.manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as e:
            remove_partial_checkpoints(self.directory)  # TensorFlow leaves its _temp behind
            reason = io_error_reason(e)
            previous = self.manager.latest_checkpoint or "none"
            raise DrarlError(f"could not write checkpoint ckpt-{step} in {self.directory} "
                             f"({reason}); the previous one ({previous}) is kept: free some "
                             "space and rerun the command to resume from it") from None


class Milestones:
    """Checkpoints kept for good at fractions of the run (the paper's Fig. 7), beside the
    rotating ones: `<directory>/ckpt-<frames>`, listed in `milestones.json` as
    `{"0.36": {"frames": N, "path": "ckpt-N"}}`."""

    INDEX = "milestones.json"

    def __init__(self, directory, checkpoint: tf.train.Checkpoint, fractions):
        self.directory = Path(directory)
        self.checkpoint = checkpoint
        self.fractions = tuple(fractions)
        self.index = read_milestones(self.directory)

    def forget_after(self, frames: int) -> list[str]:
        """Drops the milestones past `frames` (the run resumed there: they belong to a
        history that was abandoned) from the index and the disk; returns their names."""
        gone = {k: v for k, v in self.index.items() if int(v.get("frames", 0)) > frames}
        if not gone:
            return []
        for key in gone:
            del self.index[key]
        names = sorted({v["path"] for v in gone.values()}
                       - {v["path"] for v in self.index.values()})
        try:
            self._write_index()
            for name in names:
                for path in self.directory.glob(f"{name}.*"):
                    path.unlink(missing_ok=True)
        except OSError as e:
            print(f"warning: could not update {self.directory / self.INDEX} "
                  f"({io_error_reason(e)}); it may still name {', '.join(names)}, from "
                  "training that was lost", file=sys.stderr, flush=True)
        return names

    def _write_index(self) -> None:
        tmp = self.directory / (self.INDEX + ".tmp")
        tmp.write_text(json.dumps(self.index, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.directory / self.INDEX)

    def reached(self, frames: int, total_frames: int) -> None:
        """Writes a milestone for every fraction that `frames` reached and that has none."""
        due = [f for f in self.fractions
               if f"{f:g}" not in self.index and frames >= f * total_frames]
        if not due:
            return
        name = f"ckpt-{frames}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # With the save counter (created on first use), a milestone holds everything a
            # rotating checkpoint does: a resume may start from it.
            self.checkpoint.save_counter  # noqa: B018
            self.checkpoint.write(str(self.directory / name))
            for f in due:
                self.index[f"{f:g}"] = {"frames": int(frames), "path": name}
            self._write_index()
        except (OSError, tf.errors.OpError) as e:  # a lost milestone must not stop training
            remove_partial_checkpoints(self.directory)
            print(f"warning: could not keep the milestone checkpoint {name} "
                  f"({io_error_reason(e)})", file=sys.stderr, flush=True)


def read_milestones(directory) -> dict:
    """`{fraction: {"frames": N, "path": "ckpt-N"}}` of a run's milestones (empty if none)."""
    try:
        return json.loads((Path(directory) / Milestones.INDEX).read_text())
    except (OSError, ValueError):
        return {}


def nonfinite_variables(variables) -> list[str]:
    """The names of the floating-point variables that hold a NaN or an infinity."""
    return [getattr(v, "path", v.name) for v in variables
            if tf.as_dtype(v.dtype).is_floating and not np.isfinite(np.asarray(v)).all()]


def checkpoint_prefixes(directory) -> list[str]:
    """The checkpoints of a directory found by listing its `ckpt-<N>.index` files (not
    through the index file), as prefixes `<directory>/ckpt-<N>`, highest N first."""
    def number(path: Path) -> int:
        tail = path.name[len("ckpt-"):-len(".index")]
        return int(tail) if tail.isdigit() else -1

    files = [p for p in Path(directory).glob("ckpt-*.index") if number(p) >= 0]
    return [str(p)[:-len(".index")] for p in sorted(files, key=number, reverse=True)]


# What the OS said, found in TensorFlow's messages (which lead with op names and paths).
_OS_REASONS = ("No space left on device", "Read-only file system", "Permission denied",
               "Disk quota exceeded", "Input/output error")


def io_error_reason(error: Exception) -> str:
    """The cause of a failed write in a few words: the OS's reason where TensorFlow's
    message contains one, else the message's first line."""
    text = str(error)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    for reason in _OS_REASONS:
        if reason in text:
            return reason
    first = text.strip().splitlines()[0][:200] if text.strip() else ""
    return first or type(error).__name__
