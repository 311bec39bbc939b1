"""TensorFlow's process-wide settings, in one place, each set once per process.

- oneDNN on (environment, before TensorFlow loads): `drarl_tf/__init__.py`.
- Grappler's remapper off (`configure_tensorflow`, before the first graph is traced):
  with oneDNN it fails on the residual adds of these nets and logs an "E ... remapper
  failed" line per traced function; it leaves the graph as it was anyway, and turning it
  off measured no change in forward or train-step speed (TF 2.21, AVX2 CPU).
- Threads (`set_cpu_threads`), once at the start of a run (`--cpu_threads`; an actor
  process takes one).
"""

from __future__ import annotations

import functools


@functools.cache
def configure_tensorflow() -> None:
    """Sets the settings every process needs before it builds or loads a net (only the
    first call does anything)."""
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({"remapping": False})


def set_cpu_threads(threads: int) -> None:
    """Lets TensorFlow use `threads` threads in this process (0: leave its default, one per
    core). Takes effect only before TensorFlow runs its first operation; after that a
    different setting is said in one warning and the process keeps its threads."""
    if threads <= 0:
        return
    import tensorflow as tf

    threading = tf.config.threading
    if (threading.get_intra_op_parallelism_threads() == threads
            and threading.get_inter_op_parallelism_threads() == threads):
        return
    try:
        threading.set_intra_op_parallelism_threads(threads)
        threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        import warnings

        warnings.warn(f"cpu_threads={threads} not applied: TensorFlow already ran in this "
                      "process with its own threads (set it before any TensorFlow work)",
                      stacklevel=2)
