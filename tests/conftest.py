"""Shared test settings: quiet TensorFlow, oneDNN as in the scripts, and every test runs in its own temporary
directory, so that runs/ and saved_models/ never land in the repository."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import drarl_tf  # noqa: E402,F401  (before any test module imports TensorFlow: see its oneDNN note)

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"


@pytest.fixture(autouse=True)
def _run_in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def start_impala_run(tmp_path, total_frames: int, stderr=subprocess.PIPE, export_dir=None,
                     extra=()):
    """Starts `run_impala.py` on Catch (impala net) and returns once training has begun
    (the first progress line with frames > 0); the caller reads the rest of its output."""
    cmd = [sys.executable, str(SCRIPTS / "run_impala.py"), "--game=Catch", "--net=impala",
           f"--total_frames={total_frames}", "--log_interval_seconds=0.5",
           f"--logdir={tmp_path}", f"--export_dir={export_dir or tmp_path / 'saved'}",
           "--image_every_frames=0", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
    for line in proc.stdout:
        if "fps" in line and "frames 0/" not in line:
            break
    proc.args_list = cmd
    return proc


def start_local_workers(command: list[str], workers: int = 2, cwd=None) -> list:
    """Starts `command` once per worker of a local multi-worker cluster (free localhost
    ports), each with its own TF_CONFIG; returns the processes (text pipes)."""
    import json
    import socket

    sockets = [socket.socket() for _ in range(workers)]
    for s in sockets:
        s.bind(("localhost", 0))
    addresses = [f"localhost:{s.getsockname()[1]}" for s in sockets]
    for s in sockets:
        s.close()
    return [subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TF_CONFIG": json.dumps(
            {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": i}})})
        for i in range(workers)]
