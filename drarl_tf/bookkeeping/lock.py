"""One writer per run directory: an advisory `flock` on `<run>/.lock`.

Every command that writes into a run directory (the trainers, export.py, evaluate.py,
visualize.py and faithfulness.py when their result goes there) holds the lock while it
writes; readers (tables.py, TensorBoard) never take it. A second writer is refused at
once, with one line that names the holder (pid, host, since when, command), exit 2.

The kernel drops a `flock` when its process dies (`kill -9`, a crash; after a power
loss the machine starts without it), so a lock is never left held by a dead process:
its file only still names that process, and the next writer takes the lock over with a
warning that says so. Where the filesystem cannot lock (some network filesystems), one
`note:` line says that the run directory is unguarded and the command goes on.

Within one process the lock is re-entrant (a trainer that exports, a test that trains
twice): only another process is another writer. A process that exits normally (an
error included) gives back every lock it holds, so only a killed or crashed process
leaves its name behind.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import json
import os
import socket
import sys
import time
from pathlib import Path

from drarl_tf.errors import DrarlError

LOCK_FILE = ".lock"
# Errors of a filesystem that has no working flock (NFS without lockd, some FUSE mounts).
_NO_LOCKING = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}

_held: dict[Path, list] = {}  # lock file -> [fd, depth], this process's
_unlockable: set[Path] = set()  # lock files on filesystems without flock (said once)


def _holder_text(info: dict) -> str:
    since = info.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if since else "?"
    command = info.get("command")
    return (f"pid {info.get('pid', '?')} on {info.get('host', '?')} since {when}"
            + (f" ({command})" if command else ""))


def _read_holder(path: Path) -> dict:
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _holder_of_held(path: Path, wait_seconds: float = 1.0) -> dict:
    """The holder of a lock another process holds. Its holder takes the lock, then writes
    who it is: a process refused in between finds the file empty, so it reads again for
    up to `wait_seconds` before giving up on the name."""
    deadline = time.monotonic() + wait_seconds
    info = _read_holder(path)
    while not info.get("pid") and time.monotonic() < deadline:
        time.sleep(0.05)
        info = _read_holder(path)
    return info


def _release_all() -> None:
    """At a normal exit: every lock this process holds given back as released."""
    for path in list(_held):
        _held[path][1] = 1
        release(path.parent)


atexit.register(_release_all)


def acquire(run_dir, what: str = "", hint: str = "") -> bool:
    """Takes the writer's lock of `run_dir` (created if needed) for this process.

    Returns False when the filesystem cannot lock (said in one note line), True
    otherwise. Raises DrarlError naming the holder when another live process has it.
    `what`: this writer in a few words (shown to a second writer), default the command;
    `hint`: what the refused command can do instead, added to its error line.
    """
    import fcntl

    run_dir = Path(run_dir)
    path = (run_dir / LOCK_FILE).absolute()
    if path in _held:
        _held[path][1] += 1
        return True
    if path in _unlockable:
        return False
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DrarlError(f"cannot create run directory {run_dir}: {e.strerror or e}") from None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise DrarlError(f"cannot lock run directory {run_dir}: {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            os.close(fd)
            raise DrarlError(f"{run_dir} is in use by another writer: "
                             f"{_holder_text(_holder_of_held(path))}; wait for it to finish "
                             f"or stop it{hint} (a run directory has one writer)") from None
        os.close(fd)
        if e.errno in _NO_LOCKING:
            _unlockable.add(path)
            print(f"note: {run_dir} is on a filesystem without file locks ({e.strerror}): "
                  "nothing stops another command from writing there at the same time",
                  file=sys.stderr, flush=True)
            return False
        raise DrarlError(f"cannot lock run directory {run_dir}: {e.strerror or e}") from None
    previous = _read_holder(path)
    host = socket.gethostname()
    if previous.get("pid") and previous.get("pid") != os.getpid():
        print(f"warning: {run_dir} was last written by {_holder_text(previous)}, which "
              "ended without releasing it (killed or crashed); taking over",
              file=sys.stderr, flush=True)
    me = {"pid": os.getpid(), "host": host, "since": time.time(),
          "command": what or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200]}
    with contextlib.suppress(OSError):  # who holds it is for people: a full disk may say no
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
    _held[path] = [fd, 1]
    return True


def release(run_dir) -> None:
    """Gives the lock back (the outermost `release` of this process); its file says no
    one holds it."""
    import fcntl

    path = (Path(run_dir) / LOCK_FILE).absolute()
    entry = _held.get(path)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] > 0:
        return
    del _held[path]
    fd = entry[0]
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)  # released cleanly: no holder to report
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def enclosing_run(path) -> Path | None:
    """The run directory (one holding config.json) that `path` is or lies in (as a
    run's file, or one directory further down: `<run>/viz/step0.png`), if any."""
    path = Path(path).resolve()
    for candidate in (path, *list(path.parents)[:2]):
        if (candidate / "config.json").is_file():
            return candidate
    return None


def lock_enclosing_run(path, flag: str = "--output") -> Path | None:
    """Takes the writer's lock of the run directory that `path` lies in, if any (see
    `enclosing_run`); for commands that write a result into a run (`flag`: the option
    that puts it elsewhere, named in a refusal). Returns that run."""
    run = enclosing_run(path)
    if run is not None:
        acquire(run, hint=f", or give {flag} outside the run")
    return run
