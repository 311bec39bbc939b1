"""Paths checked before any long work (and before TensorFlow loads): a file where a
directory is needed, a directory where a file is, a destination that cannot be written,
a `--saved_model` that holds no SavedModel; and where the shipped demo model is."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from drarl_tf.errors import DrarlError


def probe_writable(directory, what: str) -> Path:
    """Creates `directory` if needed and writes (then removes) a file in it; a failure
    is one line naming `what` and the reason (read-only, no space, a file in the way)."""
    directory = Path(directory)
    blocker = next((p for p in (directory, *directory.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise DrarlError(f"cannot write {what}: {blocker} is a file")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".drarl-probe.", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise DrarlError(f"cannot write {what}: {e.strerror or e} "
                         f"({e.filename or directory})") from None
    return directory


def check_output_file(path, flag: str, suffixes: tuple[str, ...] = ()) -> Path:
    """Refuses an output file path that is a directory, has none of `suffixes`, or whose
    directory cannot be written, before the work that produces it."""
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise DrarlError(f"{flag} must end in {' or '.join(suffixes)}, got {path}")
    if path.is_dir():
        raise DrarlError(f"{flag} {path} is a directory; give a file path")
    probe_writable(path.parent, f"{flag} {path}")
    return path


DEMO_MODEL = "demo-impala-drarl-Catch"


def demo_model() -> Path:
    """The shipped demo SavedModel (a DRARL policy on Catch): package data of
    `drarl_tf.saved_models`, i.e. `saved_models/demo-impala-drarl-Catch` of a checkout."""
    import importlib.resources

    return Path(str(importlib.resources.files("drarl_tf.saved_models") / DEMO_MODEL))


def check_saved_model_dir(path, flag: str = "--saved_model") -> Path:
    """Refuses, in one line and without TensorFlow, a path that holds no SavedModel;
    for a run directory (or a directory of exports) it names the SavedModel inside."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    if not path.exists():
        raise DrarlError(f"no SavedModel at {path}: {flag} does not exist")
    if not path.is_dir():
        raise DrarlError(f"no SavedModel at {path}: it is a file, not a SavedModel directory")
    inner = sorted(p.parent for p in path.glob("*/saved_model.pb"))
    if (path / "saved_model" / "saved_model.pb").is_file():
        hint = f"it is a run directory: its SavedModel is {path / 'saved_model'}"
    elif inner:
        hint = f"it holds {len(inner)} SavedModel(s), e.g. {inner[0]}"
    else:
        hint = "pass the directory that export wrote, e.g. runs/<run>/saved_model"
    raise DrarlError(f"no SavedModel at {path} (no saved_model.pb there); {hint}")
