"""Resumable checkpoints with tf.train.CheckpointManager."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import tensorflow as tf

from drarl_tf.errors import DrarlError


class Checkpointer:
    """Saves and restores `objects` (model, optimizer, counters) under `directory`."""

    def __init__(self, directory, max_to_keep: int = 3, **objects):
        self.directory = directory
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
        disk) leaves the previous checkpoint the latest one."""
        try:
            return self.manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as e:
            reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
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

    def reached(self, frames: int, total_frames: int) -> None:
        """Writes a milestone for every fraction that `frames` reached and that has none."""
        due = [f for f in self.fractions
               if f"{f:g}" not in self.index and frames >= f * total_frames]
        if not due:
            return
        name = f"ckpt-{frames}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.checkpoint.write(str(self.directory / name))
            for f in due:
                self.index[f"{f:g}"] = {"frames": int(frames), "path": name}
            tmp = self.directory / (self.INDEX + ".tmp")
            tmp.write_text(json.dumps(self.index, indent=2, sort_keys=True) + "\n")
            os.replace(tmp, self.directory / self.INDEX)
        except (OSError, tf.errors.OpError) as e:  # a lost milestone must not stop training
            print(f"warning: could not keep the milestone checkpoint {name} "
                  f"({str(e).strip().splitlines()[0][:200] if str(e).strip() else e})",
                  file=sys.stderr, flush=True)


def read_milestones(directory) -> dict:
    """`{fraction: {"frames": N, "path": "ckpt-N"}}` of a run's milestones (empty if none)."""
    try:
        return json.loads((Path(directory) / Milestones.INDEX).read_text())
    except (OSError, ValueError):
        return {}
