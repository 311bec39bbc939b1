"""A chaos drill: train Catch while faults hit the run, restart it as a scheduler would,
and check at the end that no work was lost beyond the newest checkpoint.

At moments drawn from a seeded schedule the drill `kill -9`s or SIGSTOPs an actor
process (IMPALA), `kill -9`s the main process while it writes a checkpoint (or at once),
or sends it SIGTERM; after every death it starts the same command again. At the end:
the run reached `total_frames`, its mean return the target; no restart went back before
the newest complete checkpoint on disk at the time of the death; no process of the run
is left; no `_temp` checkpoint is left; TensorBoard holds one history (no tag logged
twice at one step); the final SavedModel serves. `scripts/chaos.py` runs it and prints
the table of faults and what each cost.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from drarl_tf.bookkeeping.run_dir import run_name
from drarl_tf.cli.flags import script_command

ACTOR_FAULTS = ("kill_actor", "stop_actor")
MAIN_FAULTS = ("kill_main_in_checkpoint", "kill_main", "sigterm")


@dataclasses.dataclass(frozen=True)
class Fault:
    at: float  # seconds since the drill started
    kind: str


def fault_schedule(seed: int, duration: float, mean_gap: float, kinds) -> list[Fault]:
    """Faults at exponential gaps (mean `mean_gap` s) over `duration` s, kinds drawn
    uniformly from `kinds`; the same seed gives the same schedule."""
    rng = np.random.default_rng(seed)
    faults, t = [], 0.0
    while True:
        t += float(rng.exponential(mean_gap))
        if t >= duration:
            return faults
        faults.append(Fault(round(t, 1), str(rng.choice(list(kinds)))))


@dataclasses.dataclass
class FaultOutcome:
    fault: Fault
    done_at: float  # seconds since the drill started
    frames_before: int  # the last progress line's frames before the fault
    newest_checkpoint: int  # frames of the newest complete checkpoint on disk then
    resumed_at: int | None = None  # frames the restarted command resumed from
    fps: float = float("nan")
    downtime: float = 0.0  # from the death to the restarted command's first progress line
    note: str = ""

    @property
    def lost_frames(self) -> int:
        return 0 if self.resumed_at is None else max(self.frames_before - self.resumed_at, 0)

    @property
    def lost_seconds(self) -> float:
        return self.lost_frames / self.fps if self.fps > 0 else 0.0


@dataclasses.dataclass
class DrillReport:
    outcomes: list[FaultOutcome]
    starts: int
    wall_seconds: float
    final_frames: int
    final_return: float
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def _children(pid: int) -> list[int]:
    """Every live descendant of `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        frontier = [p for p, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def complete_checkpoints(run_dir: Path) -> list[int]:
    """Frames of the complete checkpoints (an `.index` beside its data) on disk."""
    found = []
    for directory in ("checkpoints", "milestones"):
        for index in (run_dir / directory).glob("ckpt-*.index"):
            tail = index.name[len("ckpt-"):-len(".index")]
            if tail.isdigit() and list(index.parent.glob(f"ckpt-{tail}.data-*")):
                found.append(int(tail))
    return sorted(found)


_FRAMES = re.compile(r"\] frames ([\d,]+)/")
_RESUMED = re.compile(r"resumed from \S+ at ([\d,]+) frames")
_DONE = re.compile(r"^(done|reached the target return|stopped early[^:]*): ([\d,]+) frames.*"
                   r"mean return (-?[\d.]+)")


class _Command:
    """One start of the training command, its output read line by line."""

    def __init__(self, argv: list[str], log):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1, start_new_session=True)
        self.frames = 0
        self.resumed_at = 0
        self.first_line_at: float | None = None
        self.done: tuple[int, float] | None = None
        self.lines: list[str] = []
        self._log = log
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            self._log(line)
            if (m := _FRAMES.search(line)) is not None:
                self.frames = int(m.group(1).replace(",", ""))
                if self.first_line_at is None:
                    self.first_line_at = time.monotonic()
            elif (m := _RESUMED.search(line)) is not None:
                self.resumed_at = int(m.group(1).replace(",", ""))
            elif (m := _DONE.search(line)) is not None:
                self.done = (int(m.group(2).replace(",", "")), float(m.group(3)))

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code


def _tensorboard_overlaps(tb_dir: Path) -> list[str]:
    """Tags logged more than once at one step across the run's event files."""
    from drarl_tf.bookkeeping.progress import read_events

    seen: dict[str, set] = {}
    twice = set()
    for path in sorted(tb_dir.glob("events.out.tfevents.*")):
        for event in read_events(path)[0]:
            for value in event.summary.value:
                steps = seen.setdefault(value.tag, set())
                if event.step in steps:
                    twice.add(value.tag)
                steps.add(event.step)
    return sorted(twice)


def _serves(saved_model: Path) -> bool:
    from drarl_tf.bookkeeping.export import LoadedPolicy

    policy = LoadedPolicy(saved_model)
    out = policy(np.zeros((2, *policy.obs_shape), np.uint8))
    return bool(np.isfinite(out["policy_logits"]).all())


def run_drill(algo: str, logdir, total_frames: int, target_return: float, duration: float,
              seed: int = 0, mean_gap: float = 30.0, extra_flags=(), log=print,
              timeout: float = 3600.0, faults: list[Fault] | None = None) -> DrillReport:
    """Trains `algo` ("impala" or "ppo") on Catch with the impala net into `logdir`,
    injecting `faults` (default: `fault_schedule(seed, duration, mean_gap)`), restarting
    the command after every death, until the run ends; then checks its promises."""
    logdir = Path(logdir)
    run_dir = logdir / run_name(algo, "impala", "Catch", seed)
    argv = [*script_command(f"run_{algo}"), "--game=Catch", "--net=impala", f"--seed={seed}",
            f"--total_frames={total_frames}", f"--logdir={logdir}", "--log_interval_seconds=1",
            "--checkpoint_minutes=0.05", "--image_every_frames=0", *extra_flags]
    if algo == "impala":
        argv.append("--actor_timeout_seconds=8")
    kinds = (ACTOR_FAULTS if algo == "impala" else ()) + MAIN_FAULTS
    if faults is None:
        faults = fault_schedule(seed, duration, mean_gap, kinds)
    rng = np.random.default_rng(seed + 1)
    start = time.monotonic()
    outcomes: list[FaultOutcome] = []
    problems: list[str] = []
    pids_seen: set[int] = set()
    starts = 0

    def elapsed() -> float:
        return time.monotonic() - start

    def launch() -> _Command:
        nonlocal starts
        starts += 1
        return _Command(argv, log)

    command = launch()
    rate = float("nan")  # the run's last known frames/s (a fresh command may not show one)
    scanned = 0.0  # when the command's processes were last listed
    pending = list(faults)
    awaiting_restart: FaultOutcome | None = None
    while True:
        if elapsed() > timeout:
            command.proc.kill()
            problems.append(f"the drill ran past its timeout of {timeout:.0f} s")
            break
        due = bool(pending) and elapsed() >= pending[0].at  # a fault: list them first
        if due or time.monotonic() - scanned > 0.5:  # /proc, not at every tick of the loop
            scanned = time.monotonic()
            pids_seen.update(i for i in map(_identity, [command.proc.pid,
                                                        *_children(command.proc.pid)]) if i)
        if awaiting_restart is not None and command.first_line_at is not None:
            awaiting_restart.resumed_at = command.resumed_at
            awaiting_restart.downtime = command.first_line_at - awaiting_restart.done_at - start
            if command.resumed_at < awaiting_restart.newest_checkpoint:
                problems.append(f"after {awaiting_restart.fault.kind} at "
                                f"{awaiting_restart.fault.at:.0f} s the run resumed at "
                                f"{command.resumed_at:,} frames although ckpt-"
                                f"{awaiting_restart.newest_checkpoint} was on disk")
            awaiting_restart = None
        if command.proc.poll() is not None:
            command.wait(10)
            if command.done is not None and not command.done[0] < total_frames:
                break
            if command.proc.returncode not in (0, -signal.SIGKILL, 137):
                problems.append(f"start {starts} exited with {command.proc.returncode}: "
                                f"{command.lines[-1] if command.lines else ''}")
                break
            _check_no_orphans(pids_seen, problems)
            command = launch()
            continue
        if not pending or elapsed() < pending[0].at or command.first_line_at is None:
            time.sleep(0.05)
            continue
        fault = pending.pop(0)
        outcome = FaultOutcome(fault, elapsed(), command.frames,
                               max(complete_checkpoints(run_dir), default=0))
        outcome.fps = _fps(command, default=rate)
        rate = outcome.fps
        died = _inject(fault, command, run_dir, rng, outcome)
        outcome.done_at = elapsed()
        outcomes.append(outcome)
        if died:
            try:
                command.wait(120)
            except subprocess.TimeoutExpired:
                command.proc.kill()
                problems.append(f"{fault.kind} at {fault.at:.0f} s: the command did not exit")
            # What the dead command left: its frames (a SIGTERM's final line) and the
            # newest checkpoint on disk (a SIGTERM's last one included), which the restart
            # must not resume before.
            outcome.frames_before = max(outcome.frames_before, command.frames,
                                        command.done[0] if command.done else 0)
            outcome.newest_checkpoint = max(complete_checkpoints(run_dir), default=0)
            _check_no_orphans(pids_seen, problems)
            if command.done is not None and not command.done[0] < total_frames:
                break
            awaiting_restart = outcome
            command = launch()
    wall = elapsed()
    final_frames, final_return = command.done or (command.frames, float("nan"))
    if final_frames < total_frames:
        problems.append(f"the run ended at {final_frames:,} of {total_frames:,} frames")
    if not final_return >= target_return:
        problems.append(f"mean return {final_return:.2f} below the target {target_return:g}")
    _check_no_orphans(pids_seen, problems)
    temps = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*_temp*"))
    if temps:
        problems.append(f"partial checkpoints left: {', '.join(temps)}")
    twice = _tensorboard_overlaps(run_dir / "tb")
    if twice:
        problems.append(f"TensorBoard holds two histories of {', '.join(twice[:5])}")
    if not _serves(run_dir / "saved_model"):
        problems.append("the final SavedModel gives non-finite logits")
    return DrillReport(outcomes, starts, wall, final_frames, final_return, problems)


def _fps(command: _Command, default: float = float("nan")) -> float:
    """The command's latest fps figure; `default` (the previous command's) before its
    first rate."""
    rates = [float(m.group(1).replace(",", "")) for line in command.lines[-20:]
             if (m := re.search(r"\| ([\d,.]+) fps", line))]
    return rates[-1] if rates else default


def _actors(main: int) -> list[int]:
    """The actor processes of a training command: its children that multiprocessing
    spawned to run an actor (not its resource tracker)."""
    found = []
    for pid in _children(main):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"spawn_main" in command and b"resource_tracker" not in command:
            found.append(pid)
    return found


def _identity(pid: int) -> tuple[int, str] | None:
    """(pid, start time) of a live process: a pid the OS reuses later is another process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else (pid, fields[19])


def _check_no_orphans(seen: set, problems: list[str], wait: float = 15.0) -> None:
    """Every process seen of the commands that ended is gone within `wait` s."""
    deadline = time.monotonic() + wait
    while True:
        left = sorted(pid for pid, started in seen if _identity(pid) == (pid, started))
        if not left:
            seen.clear()
            return
        if time.monotonic() > deadline:
            problems.append(f"processes left {wait:.0f} s after their command ended: {left}")
            seen.clear()
            return
        time.sleep(0.2)


def _inject(fault: Fault, command: _Command, run_dir: Path, rng, outcome: FaultOutcome) -> bool:
    """Applies `fault`; returns whether the main process was made to die."""
    main = command.proc.pid
    if fault.kind in ACTOR_FAULTS:
        actors = _actors(main)
        if not actors:
            outcome.note = "no actor process found"
            return False
        victim = int(rng.choice(actors))
        os.kill(victim, signal.SIGKILL if fault.kind == "kill_actor" else signal.SIGSTOP)
        outcome.note = f"pid {victim}"
        return False
    if fault.kind == "kill_main_in_checkpoint":
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list(run_dir.glob("*/ckpt-*_temp*")):
            time.sleep(0.002)
        outcome.note = ("during a checkpoint write" if list(run_dir.glob("*/ckpt-*_temp*"))
                        else "no checkpoint write seen in 30 s: killed anyway")
        os.kill(main, signal.SIGKILL)
        return True
    if fault.kind == "kill_main":
        os.kill(main, signal.SIGKILL)
        return True
    os.kill(main, signal.SIGTERM)
    return True


def markdown_table(report: DrillReport) -> str:
    rows = ["| # | at (s) | fault | frames then | newest checkpoint | resumed at | lost work (s) "
            "| downtime (s) | note |", "|---|---|---|---|---|---|---|---|---|"]
    for n, o in enumerate(report.outcomes, 1):
        resumed = "-" if o.resumed_at is None else f"{o.resumed_at:,}"
        rows.append(f"| {n} | {o.fault.at:.0f} | {o.fault.kind} | {o.frames_before:,} | "
                    f"{o.newest_checkpoint:,} | {resumed} | {o.lost_seconds:.1f} | "
                    f"{o.downtime:.1f} | {o.note} |")
    return "\n".join(rows) + "\n"
