"""The paper's experiment grids (games x nets x seeds) and a runner that trains and
evaluates each cell as its own process, skipping finished cells and resuming the rest."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from drarl_tf.bookkeeping.results import read_metadata
from drarl_tf.bookkeeping.run_dir import export_path, run_name
from drarl_tf.cli.flags import script_command
from drarl_tf.envs import MINATAR_GAMES, check_game
from drarl_tf.errors import DrarlError
from drarl_tf.networks import check_net_name

PAPER_FRAMES = 200_000_000


@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    algo: str
    games: tuple[str, ...]
    nets: tuple[str, ...]
    description: str
    frames: int = PAPER_FRAMES  # per run, unless --frames says otherwise
    seeds: int = 3
    train_flags: tuple[str, ...] = ()  # passed to every training run unless overridden
    in_paper: bool = True
    parallel: int = 1  # runs trained at once unless --parallel says otherwise
    eval_episodes: int = 200  # full games per evaluation unless --eval_episodes says otherwise
    eval_flags: tuple[str, ...] = ()  # passed to every evaluation


EXPERIMENTS = {
    e.name: e for e in (
        Experiment("impala10", "impala",
                   ("Alien", "Amidar", "BeamRider", "Berzerk", "Breakout", "Centipede",
                    "Krull", "KungFuMaster", "RoadRunner", "Seaquest"),
                   ("impala", "drarl"), "Table 1: IMPALA vs DRARL, V-trace IMPALA, 10 games"),
        Experiment("a2c5", "a2c", ("Amidar", "Breakout", "Centipede", "Krull", "Seaquest"),
                   ("impala", "drarl"), "Table 2: A2C, IMPALA net vs DRARL, 5 games"),
        Experiment("ppo5", "ppo", ("Amidar", "Breakout", "Centipede", "Krull", "Seaquest"),
                   ("impala", "drarl"), "Table 3: PPO, IMPALA net vs DRARL, 5 games"),
        Experiment("ablation", "ppo", ("Amidar",),
                   ("impala", "large_impala", "simple_drarl", "drarl"),
                   "Table 4: PPO on Amidar with the four networks"),
        # Not in the paper: a real game learnt on a CPU (docs/cpu_atari.md). Each run
        # stops at a mean return of +15 over 100 games, or at 10M frames; bf16 where the
        # CPU has it (1.5-1.7x faster, the same learning on Catch: docs/benchmarks.md).
        Experiment("cpu_pong", "ppo", ("Pong",), ("drarl", "impala"),
                   "PPO on Pong on a CPU, DRARL vs IMPALA nets, to +15 or 10M frames",
                   frames=10_000_000, seeds=1,
                   train_flags=("--target_return=15", "--precision=auto"),
                   in_paper=False),
        # Not in the paper: its question on MinAtar's five games, which a 2-core CPU can
        # answer with seeds and intervals (docs/evidence.md). PPO as in MinAtar PPO
        # baselines (32 envs x 64 steps, 4 epochs of 4 minibatches, lr 5e-4, clip 0.2);
        # two runs at once with one TensorFlow thread each (docs/benchmarks.md).
        Experiment("minatar", "ppo", tuple(MINATAR_GAMES), ("impala", "drarl"),
                   "PPO on MinAtar's five games, IMPALA net vs DRARL",
                   frames=500_000, seeds=5,
                   train_flags=("--num_envs=32", "--unroll_length=64", "--learning_rate=5e-4",
                                "--clip_ratio=0.2", "--value_clip=0.2", "--precision=auto",
                                "--cpu_threads=1"),
                   in_paper=False, parallel=2, eval_episodes=100, eval_flags=("--num_envs=25",)),
    )
}


def check_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise DrarlError(f"unknown experiment '{name}'; choose one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


@dataclasses.dataclass(frozen=True)
class Cell:
    """One training run of the grid and its evaluation."""

    algo: str
    net: str
    game: str
    seed: int
    frames: int

    @property
    def name(self) -> str:
        return run_name(self.algo, self.net, self.game, self.seed)

    def train_command(self, logdir: str, export_dir: str, extra=()) -> list[str]:
        return [*script_command(f"run_{self.algo}"), f"--net={self.net}",
                f"--game={self.game}", f"--seed={self.seed}", f"--total_frames={self.frames}",
                f"--logdir={logdir}", f"--export_dir={export_dir}", *extra]

    def saved_model(self, logdir: str, export_dir: str) -> Path:
        """Where the cell's run writes its SavedModel (see `run_dir.export_path`)."""
        return export_path(Path(logdir) / self.name, export_dir)

    def eval_command(self, logdir: str, export_dir: str, episodes: int,
                     extra=()) -> list[str]:
        return [*script_command("evaluate"),
                f"--saved_model={self.saved_model(logdir, export_dir)}", f"--episodes={episodes}",
                f"--seed={self.seed}", f"--output={Path(logdir) / self.name / 'eval.json'}",
                *extra]


def plan(experiment: Experiment, seeds: int, frames: int, games=None, nets=None) -> list[Cell]:
    """The cells of `experiment` (its games and nets unless overridden), seeds 0..seeds-1."""
    if seeds < 1:
        raise DrarlError(f"seeds must be >= 1, got {seeds}")
    if frames < 1:
        raise DrarlError(f"frames must be >= 1, got {frames}")
    games = tuple(check_game(g) for g in (games or experiment.games))
    nets = tuple(check_net_name(n) for n in (nets or experiment.nets))
    return [Cell(experiment.algo, net, game, seed, frames)
            for game in games for net in nets for seed in range(seeds)]


def evaluated_frames(logdir: str, cell: Cell) -> int:
    """Frames the cell's evaluated model was trained for (0 if not evaluated)."""
    path = Path(logdir) / cell.name / "eval.json"
    try:
        return int(json.loads(path.read_text()).get("trained_frames", 0))
    except (OSError, ValueError, AttributeError):
        return 0


def exported_frames(logdir: str, export_dir: str, cell: Cell) -> int:
    """Frames the cell's exported SavedModel was trained for (0 if none)."""
    try:
        return int(read_metadata(cell.saved_model(logdir, export_dir)).get("frames", 0))
    except (TypeError, ValueError):
        return 0


@dataclasses.dataclass(frozen=True)
class CellOutcome:
    cell: Cell
    status: str  # "skipped" (already evaluated), "done" or "failed"
    seconds: float
    message: str = ""


def run_logged(command: list[str], log_path: Path, echo=None) -> int:
    """Runs `command` with its output appended to `log_path` and, if `echo` is given,
    passed line by line to it as well (progress in the terminal)."""
    with open(log_path, "a") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        if echo is None:
            return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, bufsize=1) as child:
            for line in child.stdout:
                log.write(line)
                log.flush()
                echo(line.rstrip("\n"))
        return child.returncode


def last_error(log_path: Path) -> str:
    lines = log_path.read_text(errors="replace").splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["(no output)"])[-1][:300]


def run_cell(cell: Cell, logdir: str, export_dir: str, eval_episodes: int,
             extra_flags=(), echo=None, eval_flags=()) -> CellOutcome:
    """Trains (or resumes) `cell`, then evaluates it unless its evaluation is of the
    model just exported (a run that stopped early at `--target_return` is not trained
    or evaluated again); a cell already evaluated at its frame budget is skipped.
    Output goes to `<logdir>/<run>/{train,eval}.log`, and to `echo` if given."""
    start = time.monotonic()
    if evaluated_frames(logdir, cell) >= cell.frames:
        return CellOutcome(cell, "skipped", 0.0)
    run_dir = Path(logdir) / cell.name
    run_dir.mkdir(parents=True, exist_ok=True)
    for what, command in (
            ("train", cell.train_command(logdir, export_dir, extra_flags)),
            ("eval", cell.eval_command(logdir, export_dir, eval_episodes, eval_flags))):
        if what == "eval" and 0 < exported_frames(logdir, export_dir, cell) == evaluated_frames(
                logdir, cell):
            break  # the exported model is the one already evaluated
        log_path = run_dir / f"{what}.log"
        if run_logged(command, log_path, echo) != 0:
            return CellOutcome(cell, "failed", time.monotonic() - start,
                               f"{what} failed: {last_error(log_path)} (see {log_path})")
    return CellOutcome(cell, "done", time.monotonic() - start)


def run_grid(cells: list[Cell], logdir: str, export_dir: str, eval_episodes: int = 200,
             parallel: int = 1, extra_flags=(), log=print,
             eval_flags=()) -> list[CellOutcome]:
    """Runs every cell, `parallel` at a time; one line per finished cell (and, with
    `parallel=1`, each run's own progress lines). A failed cell does not stop the others."""
    if parallel < 1:
        raise DrarlError(f"parallel must be >= 1, got {parallel}")
    if eval_episodes < 1:
        raise DrarlError(f"eval_episodes must be >= 1, got {eval_episodes}")
    for cell in cells:  # every script found (or a clear error) before any thread starts
        cell.train_command(logdir, export_dir, extra_flags)
        cell.eval_command(logdir, export_dir, eval_episodes, eval_flags)
    done: list[CellOutcome] = []

    def work(cell: Cell) -> CellOutcome:
        outcome = run_cell(cell, logdir, export_dir, eval_episodes, extra_flags,
                           echo=log if parallel == 1 else None, eval_flags=eval_flags)
        done.append(outcome)
        left = len(cells) - len(done)
        ran = [o for o in done if o.status != "skipped"]
        # A cell's mean time, `parallel` cells at once (wall time since the start would
        # count the cells still running with those done).
        per_cell = sum(o.seconds for o in ran) / len(ran) if ran else 0.0
        eta = f", ETA {per_cell * left / parallel / 60:.0f} min" if ran and left else ""
        log(f"[{len(done)}/{len(cells)}] {outcome.status} {cell.name}"
            + (f" in {outcome.seconds:.0f}s" if outcome.status == "done" else "")
            + (f": {outcome.message}" if outcome.message else "") + eta)
        return outcome

    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(work, cells))
