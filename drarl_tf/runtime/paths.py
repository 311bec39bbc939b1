"""Output paths checked before any long work: a file where a directory is needed, a
directory where a file is, a destination that cannot be written."""

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
