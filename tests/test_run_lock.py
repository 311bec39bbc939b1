"""One writer per run directory: a second writer is refused at once naming the holder, a
lock left by a killed process is taken over with a warning, a filesystem without locks
is said in one line, and readers never need the lock."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from drarl_tf.bookkeeping import lock
from drarl_tf.errors import DrarlError
from tests.conftest import SCRIPTS

HOLD = textwrap.dedent("""
    import sys, time
    from drarl_tf.bookkeeping import lock
    lock.acquire(sys.argv[1], "holder for the test")
    print("held", flush=True)
    time.sleep(600)
""")


def _holder(run_dir):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    run = tmp_path / "runs" / "impala-drarl-Catch-s0"
    holder = _holder(run)
    try:
        with pytest.raises(DrarlError, match=rf"in use by another writer: pid {holder.pid} on "
                                             r"\S+ since \d{4}-\d\d-\d\d .*holder for the test"):
            lock.acquire(run)
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_of_a_killed_process_is_taken_over_with_a_warning(tmp_path, capsys):
    run = tmp_path / "run"
    holder = _holder(run)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert lock.acquire(run)
    try:
        warning = capsys.readouterr().err
        assert f"last written by pid {holder.pid}" in warning and "taking over" in warning
        # Within one process the lock is re-entrant; a clean release leaves no holder.
        assert lock.acquire(run)
        lock.release(run)
    finally:
        lock.release(run)
    assert (run / lock.LOCK_FILE).read_text() == ""
    assert lock.acquire(run)  # no warning after a clean release
    lock.release(run)
    assert capsys.readouterr().err == ""


def test_a_filesystem_without_locks_is_said_and_the_command_goes_on(tmp_path, monkeypatch,
                                                                      capsys):
    import fcntl

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    assert lock.acquire(tmp_path / "run") is False
    assert lock.acquire(tmp_path / "run") is False  # a trainer asks twice: said once
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("note: ") and "without file locks" in err[0]


def test_the_same_command_started_twice_has_one_writer(tmp_path):
    """The race of the issue: two identical commands at once on one --logdir."""
    cmd = [sys.executable, str(SCRIPTS / "run_a2c.py"), "--game=Catch", "--net=impala",
           "--num_envs=2", "--total_frames=400", "--image_every_frames=0",
           f"--logdir={tmp_path}"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outs = [(p, *p.communicate(timeout=300)) for p in (first, second)]
    codes = sorted(p.returncode for p, _, _ in outs)
    assert codes == [0, 2], [(p.returncode, err[-1500:]) for p, _, err in outs]
    (winner, _, _), (loser, _, err) = sorted(outs, key=lambda o: o[0].returncode)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"in use by another writer: pid {winner.pid}" in errors[0]
    assert "Traceback" not in err
    checkpoints = sorted((tmp_path / "a2c-impala-Catch-s0" / "checkpoints").glob("*.index"))
    assert [p.name for p in checkpoints] == ["ckpt-400.index"]
    assert len(list((tmp_path / "a2c-impala-Catch-s0" / "tb").glob("events.*"))) == 1
    # The winner exited cleanly: its lock is given back, and the next command (here a
    # resume of the finished run) takes it without a word about a crashed writer.
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "taking over" not in again.stderr and "warning" not in again.stderr


def test_evaluate_into_a_run_that_is_training_is_refused_and_readers_are_not(tmp_path):
    import shutil

    from tests.test_results import DEMO

    run = tmp_path / "runs" / "impala-drarl-Catch-s0"
    shutil.copytree(DEMO, run / "saved_model")
    (run / "config.json").write_text("{}")
    holder = _holder(run)
    try:
        start = time.monotonic()
        out = subprocess.run([sys.executable, str(SCRIPTS / "evaluate.py"),
                              f"--saved_model={run / 'saved_model'}", "--episodes=2"],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 2 and f"pid {holder.pid}" in out.stderr, out.stderr[-2000:]
        assert "or give --output outside the run" in out.stderr
        assert time.monotonic() - start < 60
        assert not (run / "eval.json").exists()
        tables = subprocess.run([sys.executable, str(SCRIPTS / "tables.py"),
                                 "--experiment=ppo5", f"--runs={tmp_path / 'runs'}",
                                 f"--output_dir={tmp_path / 'tables'}"],
                                capture_output=True, text=True, timeout=300)
        assert "in use" not in tables.stderr  # a reader: no lock taken
    finally:
        holder.kill()
        holder.wait()


class _Breaks(Exception):
    pass


def _env_that_breaks(num_envs):
    from drarl_tf.envs import make_catch_env

    env = make_catch_env(num_envs)
    step, calls = env.step, [0]

    def breaking_step(actions):
        calls[0] += 1
        if calls[0] > 3:
            raise _Breaks("the emulator crashed")
        return step(actions)

    env.step = breaking_step
    return env


def test_a_run_that_fails_gives_its_lock_back(tmp_path):
    """A training run that raises in a long-lived process (a notebook) does not keep other
    commands out of its run directory."""
    from drarl_tf import a2c

    config = a2c.A2CConfig(game="Catch", net="impala", num_envs=2, total_frames=400,
                           image_every_frames=0, logdir=str(tmp_path))
    with pytest.raises(_Breaks):
        a2c.train(config, env_fn=_env_that_breaks)
    run = tmp_path / "a2c-impala-Catch-s0"
    assert (run / lock.LOCK_FILE).exists()
    holder = _holder(run)  # another process can take it now
    holder.kill()
    holder.wait()
