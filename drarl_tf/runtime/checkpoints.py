"""Resumable checkpoints with tf.train.CheckpointManager."""

from __future__ import annotations

import tensorflow as tf

from drarl_tf.errors import DrarlError


class Checkpointer:
    """Saves and restores `objects` (model, optimizer, counters) under `directory`."""

    def __init__(self, directory, max_to_keep: int = 3, **objects):
        self.checkpoint = tf.train.Checkpoint(**objects)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(directory), max_to_keep)

    def restore_latest(self) -> str | None:
        """Restores the newest checkpoint; returns its path, or None when there is none."""
        path = self.manager.latest_checkpoint
        if path is None:
            return None
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except (tf.errors.OpError, AssertionError, ValueError) as e:
            raise DrarlError(
                f"checkpoint {path} does not match this run ({type(e).__name__}); "
                "delete it or start a new run directory"
            ) from None
        return path

    def save(self, step: int) -> str:
        try:
            return self.manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as e:
            raise DrarlError(f"could not write checkpoint: {e}") from None
