"""A full disk loses no finished work: a run resumes from its newest complete checkpoint
wherever it is (checkpoints/ or milestones/), partial `_temp` checkpoints are removed
at the next start, a complete checkpoint its index does not list yet is used, and
milestones.json never names a checkpoint of an abandoned history.

The end-to-end cases run A2C on Catch in a real small tmpfs (root and mount(8) needed;
skipped otherwise), sized from a reference run so that the disk fills where wanted."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

from drarl_tf.bookkeeping.checkpoints import Checkpointer, Milestones, read_milestones
from tests.conftest import SCRIPTS

FRAMES = 400
RUN = "a2c-impala-Catch-s0"


def _a2c(logdir, frames=FRAMES):
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "run_a2c.py"), "--game=Catch", "--net=impala",
         "--num_envs=2", f"--total_frames={frames}", "--milestone_fractions=0,0.5,1",
         "--checkpoint_minutes=60", "--image_every_frames=0", f"--logdir={logdir}"],
        capture_output=True, text=True, timeout=300)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def sizes(tmp_path_factory):
    """(bytes a run writes before its final checkpoint, bytes of one checkpoint)."""
    logdir = tmp_path_factory.mktemp("reference")
    out = _a2c(logdir)
    assert out.returncode == 0, out.stderr[-2000:]
    run = logdir / RUN
    checkpoint = _size(run / "checkpoints")
    milestone = _size(run / "milestones") // 3
    return _size(run) - checkpoint - (run / "saved_model").exists() * _size(run / "saved_model"), \
        checkpoint, milestone


@pytest.fixture
def tmpfs(tmp_path):
    """mount(size_bytes) -> a fresh tmpfs of that size; grow(size_bytes) enlarges it."""
    target = tmp_path / "mnt"
    target.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root and mount to make a small filesystem")

    class Mount:
        path = target

        @staticmethod
        def mount(size: int):
            kb = -(-size // 4096) * 4
            if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kb}k", "tmpfs",
                               str(target)], capture_output=True).returncode != 0:
                pytest.skip("mount(8) cannot make a tmpfs here")

        @staticmethod
        def grow(size: int):
            subprocess.run(["mount", "-o", f"remount,size={-(-size // 4096) * 4}k",
                            str(target)], check=True)

    try:
        yield Mount
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def _error_lines(out):
    return [line for line in out.stderr.splitlines() if line.startswith("error:")]


def test_a_disk_full_at_the_final_checkpoint_resumes_from_the_last_milestone(sizes, tmpfs):
    before_final, checkpoint, _ = sizes
    tmpfs.mount(before_final + checkpoint // 2)  # every milestone fits, the final checkpoint not
    logdir = tmpfs.path / "runs"
    full = _a2c(logdir)
    assert full.returncode == 2 and "No space left on device" in _error_lines(full)[0], \
        full.stderr[-2000:]
    run = logdir / RUN
    assert (run / "milestones" / f"ckpt-{FRAMES}.index").exists()
    tmpfs.grow(before_final + 20 * checkpoint)  # space freed
    again = _a2c(logdir)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resumed from {run / 'milestones' / f'ckpt-{FRAMES}'} at {FRAMES} frames" in \
        again.stdout, again.stdout[-2000:]
    assert not list(run.rglob("*_temp*"))
    assert (run / "saved_model" / "saved_model.pb").exists()


@pytest.mark.slow  # the unit tests below remove partial checkpoints in the default run
def test_a_milestone_cut_short_is_removed_and_the_index_names_only_complete_ones(sizes, tmpfs):
    before_final, checkpoint, milestone = sizes
    # The last milestone (at 100 %) does not fit: TensorFlow leaves a partial _temp.
    tmpfs.mount(before_final - milestone // 2)
    logdir = tmpfs.path / "runs"
    full = _a2c(logdir)
    run = logdir / RUN
    assert full.returncode == 2, full.stderr[-2000:]
    tmpfs.grow(before_final + 20 * checkpoint)
    again = _a2c(logdir)
    assert again.returncode == 0, again.stderr[-2000:]
    assert not list(run.rglob("*_temp*"))
    assert "resumed from" in again.stdout and " at 0 frames" not in again.stdout
    index = read_milestones(run / "milestones")
    for entry in index.values():
        assert (run / "milestones" / f"{entry['path']}.index").exists()
    assert index["1"]["frames"] >= FRAMES  # rewritten by the resumed history


def test_tables_on_a_read_only_filesystem_is_one_line(tmpfs):
    tmpfs.mount(1 << 20)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs.path)], check=True)
    out = subprocess.run([sys.executable, str(SCRIPTS / "tables.py"), "--experiment=ppo5",
                          "--runs=.", f"--output_dir={tmpfs.path / 'report'}"],
                         capture_output=True, text=True, timeout=120)
    errors = _error_lines(out)
    assert out.returncode == 2 and len(errors) == 1 and "Traceback" not in out.stderr
    assert "cannot write --output_dir" in errors[0] and "Read-only file system" in errors[0]


def test_a_complete_checkpoint_the_index_does_not_list_yet_is_used(tmp_path):
    step = tf.Variable(0)
    checkpointer = Checkpointer(tmp_path, step=step)
    step.assign(100)
    checkpointer.save(100)
    step.assign(200)
    checkpointer.save(200)
    # The index was written before ckpt-200 (a crash between the files and the index).
    (tmp_path / "checkpoint").write_text(
        'model_checkpoint_path: "ckpt-100"\nall_model_checkpoint_paths: "ckpt-100"\n')
    step.assign(0)
    restored = Checkpointer(tmp_path, step=step).restore_latest()
    assert restored == str(tmp_path / "ckpt-200") and int(step.numpy()) == 200


def test_the_newest_checkpoint_may_be_a_milestone(tmp_path):
    step = tf.Variable(0)
    checkpointer = Checkpointer(tmp_path / "checkpoints", step=step)
    step.assign(100)
    checkpointer.save(100)
    milestones = Milestones(tmp_path / "milestones", checkpointer.checkpoint, (0.5, 1.0))
    step.assign(300)
    milestones.reached(300, 300)
    (tmp_path / "checkpoints" / "ckpt-999_temp").mkdir()  # a write cut short
    (tmp_path / "milestones" / "ckpt-999_temp").mkdir()
    step.assign(0)
    again = Checkpointer(tmp_path / "checkpoints", step=step,
                         also_in=(tmp_path / "milestones",))
    assert again.restore_latest() == str(tmp_path / "milestones" / "ckpt-300")
    assert int(step.numpy()) == 300
    assert not list(tmp_path.rglob("*_temp"))


def test_milestones_of_an_abandoned_history_are_forgotten(tmp_path):
    step = tf.Variable(0)
    checkpoint = tf.train.Checkpoint(step=step)
    milestones = Milestones(tmp_path, checkpoint, (0.0, 0.5, 1.0))
    for frames in (0, 150, 300):
        milestones.reached(frames, 300)
    milestones.forget_after(200)  # the run resumed at 200 frames: 300 belongs to a lost history
    index = json.loads((tmp_path / "milestones.json").read_text())
    assert sorted(index) == ["0", "0.5"]
    assert not (tmp_path / "ckpt-300.index").exists()
    assert Milestones(tmp_path, checkpoint, (0.0, 0.5, 1.0)).index == index
