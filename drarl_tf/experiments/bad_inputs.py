"""The catalogue of bad inputs a user can give the scripts, and what each prints.

`scripts/bad_inputs.py` runs every case and writes the table of docs/reliability.md;
tests/test_bad_inputs.py runs them too and checks the promise: exit code 2, one
`error:` line that names the problem, no traceback.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from drarl_tf.bookkeeping.paths import demo_model
from drarl_tf.cli.flags import script_command

DEMO_MODEL = demo_model()  # the checkout's saved_models/, or the installed package data
# Shown as <repo> in the table, wherever the demo model was found.
REPO = DEMO_MODEL.parents[1]


def _damaged_checkpoints(root: Path) -> None:
    """A run directory whose only checkpoint is garbage (a disk that failed mid-write)."""
    run = root / "runs" / "impala-drarl-Catch-s0"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "checkpoint").write_text(
        'model_checkpoint_path: "ckpt-640"\nall_model_checkpoint_paths: "ckpt-640"\n')
    (run / "checkpoints" / "ckpt-640.index").write_bytes(b"\x00garbage")
    (run / "checkpoints" / "ckpt-640.data-00000-of-00001").write_bytes(b"\x00garbage")


def _other_config(root: Path) -> None:
    """A run directory started with another unroll length."""
    run = root / "runs" / "impala-drarl-Catch-s0"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"net": "drarl", "game": "Catch",
                                                 "unroll_length": 50}))


def _a_file(root: Path) -> None:
    (root / "notadir").write_text("")


def _a_directory(root: Path) -> None:
    (root / "adir").mkdir()
    (root / "adir.gif").mkdir()


def _truncated_model(root: Path) -> None:
    """The demo SavedModel with its variables cut short (a copy interrupted mid-way)."""
    import shutil

    shutil.copytree(DEMO_MODEL, root / "model")
    data = root / "model" / "variables" / "variables.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:1000])


def _run_with_config(root: Path, config: str) -> None:
    _damaged_checkpoints(root)
    (root / "runs" / "impala-drarl-Catch-s0" / "config.json").write_text(config)


def _corrupt_config(root: Path) -> None:
    _run_with_config(root, '{"net": "drarl", "ga')


def _truncated_checkpoints(root: Path) -> None:
    _run_with_config(root, json.dumps({"net": "drarl", "game": "Catch", "seed": 0}))


def _run_and_user_files(root: Path) -> None:
    """A run directory with a checkpoint, and a directory of the user's own files."""
    _damaged_checkpoints(root)
    (root / "runs" / "impala-drarl-Catch-s0" / "config.json").write_text(
        json.dumps({"net": "drarl", "game": "Catch", "seed": 0}))
    (root / "mine").mkdir()
    (root / "mine" / "notes.txt").write_text("keep me")


def _another_models_results(root: Path) -> None:
    """Results of another model (a run's eval.json, a GIF, a figures directory) where the
    demo model's would go, each recording that model."""
    from PIL import Image

    other = [{"path": "/home/user/runs/impala-drarl-Catch-s0/saved_model",
              "fingerprint": "sha256:another-model"}]
    (root / "eval.json").write_text(json.dumps({"mean": 0.96, "models": other}))
    Image.new("RGB", (4, 4)).save(root / "episode.gif", comment=json.dumps({"models": other}))
    (root / "viz").mkdir()
    (root / "viz" / "drarl_models.json").write_text(json.dumps({"models": other}))


def _a_run_directory(root: Path) -> None:
    """A run directory holding its SavedModel (given instead of the SavedModel)."""
    import shutil

    run = root / "runs" / "impala-drarl-Catch-s0"
    shutil.copytree(DEMO_MODEL, run / "saved_model")
    (run / "config.json").write_text(json.dumps({"net": "drarl", "game": "Catch", "seed": 0}))


def _config_with_an_unknown_key(root: Path) -> None:
    """A run's config.json with a key added by hand (a typo of a setting, say)."""
    import dataclasses as dc

    from drarl_tf.configs import ImpalaConfig

    run = root / "runs" / "impala-drarl-Catch-s0"
    run.mkdir(parents=True)
    config = dc.asdict(ImpalaConfig(game="Catch", logdir="runs"))
    (run / "config.json").write_text(json.dumps({**config, "unrol_length": 40}))


@dataclasses.dataclass(frozen=True)
class BadInput:
    script: str
    args: tuple[str, ...]
    expect: str  # a fragment the error line must contain
    what: str  # the mistake, in words
    setup: Callable[[Path], None] | None = None


IMPALA = "run_impala.py"
CASES: tuple[BadInput, ...] = (
    BadInput(IMPALA, ("--game=Pongg",), "did you mean", "misspelt game"),
    BadInput(IMPALA, ("--game=CartPole-v1",), "unknown game", "a non-Atari game"),
    BadInput(IMPALA, ("--net=resnet",), "unknown net", "unknown network"),
    BadInput(IMPALA, ("--strategy=tpu",), "unknown strategy", "unknown distribution strategy"),
    BadInput(IMPALA, ("--actor_backend=spark",), "unknown actor_backend", "unknown actor backend"),
    BadInput(IMPALA, ("--ray_address=10.0.0.1:6379",), "only used with --actor_backend=ray",
             "a Ray address without the Ray backend"),
    BadInput(IMPALA, ("--inference=gpu",), "unknown inference", "unknown inference mode"),
    BadInput(IMPALA, ("--inference=learner", "--actor_backend=ray"),
             "needs --actor_backend=process", "learner inference with Ray actors"),
    BadInput(IMPALA, ("--inference=learner", "--inference_timeout_ms=0"),
             "inference_timeout_ms must be > 0", "a batching timeout of 0"),
    BadInput(IMPALA, ("--total_frames=-5",), "total_frames must be >= 1", "negative budget"),
    BadInput(IMPALA, ("--total_frames=1e6",), "invalid literal for int", "a float for an int flag"),
    BadInput(IMPALA, ("--unroll_length=0",), "unroll_length must be >= 1", "unroll of 0"),
    BadInput(IMPALA, ("--num_actors=0",), "num_actors must be >= 1", "no actors"),
    BadInput(IMPALA, ("--batch_size=20",), "multiple of envs_per_actor",
             "batch not made of whole actor unrolls"),
    BadInput(IMPALA, ("--batch_size=64", "--queue_size=2"), "must hold a batch",
             "batch larger than the actors can have in flight"),
    BadInput(IMPALA, ("--discount=1.5",), "discount must be in [0, 1]", "discount above 1"),
    BadInput(IMPALA, ("--learning_rate=0",), "learning_rate must be > 0", "zero learning rate"),
    BadInput(IMPALA, ("--rmsprop_epsilon=0",), "rmsprop_epsilon must be > 0", "zero epsilon"),
    BadInput(IMPALA, ("--reward_clip=-1",), "reward_clip must be >= 0", "negative clip"),
    BadInput(IMPALA, ("--on_nonfinite=ignore",), "unknown on_nonfinite", "unknown NaN policy"),
    BadInput(IMPALA, ("--max_actor_restarts=-1",), "max_actor_restarts must be >= 0",
             "negative restart bound"),
    BadInput(IMPALA, ("--learning_rate=inf",), "learning_rate must be a finite number",
             "infinite learning rate"),
    BadInput(IMPALA, ("--rmsprop_decay=2",), "rmsprop_decay must be in [0, 1)",
             "RMSProp decay above 1"),
    BadInput(IMPALA, ("--reward_clip=nan",), "reward_clip must be a finite number",
             "NaN reward clip"),
    BadInput(IMPALA, ("--clip_rho_threshold=-1",), "clip_rho_threshold must be > 0",
             "negative V-trace clip"),
    BadInput(IMPALA, ("--seed=-1",), "seed must be in [0, 2147483647]", "negative seed"),
    BadInput("run_ppo.py", ("--seed=99999999999",), "seed must be in [0, 2147483647]",
             "seed beyond 32 bits"),
    BadInput("run_ppo.py", ("--clip_ratio=-0.1",), "clip_ratio must be in (0, 1]",
             "negative PPO clip"),
    BadInput("run_ppo.py", ("--value_clip=nan",), "value_clip must be a finite number",
             "NaN value clip"),
    BadInput("run_a2c.py", ("--rmsprop_epsilon=0",), "rmsprop_epsilon must be > 0",
             "zero A2C epsilon"),
    BadInput(IMPALA, ("--actor_timeout_seconds=0",), "actor_timeout_seconds must be",
             "zero actor timeout"),
    BadInput(IMPALA, ("--milestone_fractions=0.5,2",), "milestone_fractions must be in [0, 1]",
             "milestone beyond the run"),
    BadInput(IMPALA, ("--total_frames=99999999999999999999",), "total_frames must be at most",
             "a budget beyond the 64-bit frame counter"),
    BadInput(IMPALA, ("--checkpoint_minutes=inf",), "checkpoint_minutes must be a finite number",
             "checkpoints never (infinite minutes)"),
    BadInput(IMPALA, ("--actor_timeout_seconds=1e-9",), "actor_timeout_seconds must be >= 5",
             "an actor timeout that kills healthy actors"),
    BadInput(IMPALA, ("--logdir=",), "logdir must not be empty", "an empty logdir"),
    BadInput(IMPALA, ("--logdir=runs",), "does not know: unrol_length",
             "an unknown key added to a run's config.json", _config_with_an_unknown_key),
    BadInput("evaluate.py", (f"--saved_model={DEMO_MODEL}", "--game="), "unknown game ''",
             "an empty game for evaluation"),
    BadInput("tables.py", ("--experiment=ppo5", "--runs=.", "--output_dir=notadir"),
             "cannot write --output_dir notadir: notadir is a file",
             "tables into a path that is a file", _a_file),
    BadInput(IMPALA, ("--gamma=0.9",), "unknown flag --gamma", "unknown flag"),
    BadInput(IMPALA, ("Pong",), "unexpected arguments", "a positional argument"),
    BadInput(IMPALA, ("--logdir=notadir",), "cannot create run directory", "logdir is a file",
             _a_file),
    BadInput(IMPALA, ("--logdir=runs",), "different config (unroll_length: 50 -> 20)",
             "resuming a run directory made with other settings", _other_config),
    BadInput(IMPALA, ("--logdir=runs",), "no usable checkpoint",
             "every checkpoint of the run damaged", _truncated_checkpoints),
    BadInput(IMPALA, ("--logdir=runs",), "holds checkpoints but no readable config.json",
             "checkpoints without their config.json", _damaged_checkpoints),
    BadInput("run_ppo.py", ("--num_minibatches=3",), "multiple of num_minibatches",
             "minibatches that do not divide the rollout"),
    BadInput("run_ppo.py", ("--gae_lambda=1.5",), "gae_lambda must be in [0, 1]", "lambda above 1"),
    BadInput("run_a2c.py", ("--num_envs=0",), "num_envs must be >= 1", "no environments"),
    BadInput("evaluate.py", ("--saved_model=missing",), "no SavedModel at missing",
             "missing model path"),
    BadInput("evaluate.py", (f"--saved_model={DEMO_MODEL}", "--episodes=0"),
             "episodes must be >= 1", "zero evaluation games"),
    BadInput("evaluate.py", (f"--saved_model={DEMO_MODEL}", "--game=Pong"),
             "observation", "a model evaluated on a game with other observations"),
    BadInput("evaluate.py", ("--saved_model=model",), "not a readable drarl_tf SavedModel",
             "a SavedModel with truncated variables", _truncated_model),
    BadInput("evaluate.py", (f"--saved_model={DEMO_MODEL}", "--output=adir"),
             "--output adir is a directory", "evaluation output is a directory", _a_directory),
    BadInput("evaluate.py", (f"--saved_model={DEMO_MODEL}", "--seed=-1"),
             "-1 is not an integer in the range [0, 2147483647]", "negative evaluation seed"),
    BadInput("evaluate.py", ("--saved_model=runs/impala-drarl-Catch-s0",),
             "its SavedModel is runs/impala-drarl-Catch-s0/saved_model",
             "a run directory given as the model", _a_run_directory),
    BadInput("evaluate.py", (f"--saved_model={DEMO_MODEL}", "--output=eval.json"),
             "holds the result of another model", "evaluation over another model's eval.json",
             _another_models_results),
    BadInput("play.py", (f"--saved_model={DEMO_MODEL}", "--output=episode.gif"),
             "holds the result of another model", "play over another model's GIF",
             _another_models_results),
    BadInput("visualize.py", (f"--saved_model={DEMO_MODEL}", "--output_dir=viz"),
             "holds the result of another model", "figures over another model's figures",
             _another_models_results),
    BadInput("faithfulness.py", (f"--saved_model={DEMO_MODEL}", "--output_dir=viz"),
             "holds the result of another model", "faithfulness over another model's results",
             _another_models_results),
    BadInput("run_ppo.py", ("--export_dir=notadir",), "notadir is a file",
             "export directory is a file (refused before training)", _a_file),
    BadInput("export.py", ("--checkpoint=runs/nothing",), "not a run directory", "missing run"),
    BadInput("export.py", ("--checkpoint=runs/impala-drarl-Catch-s0",),
             "config.json is unreadable or damaged", "export of a run with a corrupt config",
             _corrupt_config),
    BadInput("export.py", ("--checkpoint=runs/impala-drarl-Catch-s0",),
             "cannot read checkpoint", "export of a run whose checkpoints are all truncated",
             _truncated_checkpoints),
    BadInput("export.py", ("--checkpoint=runs/impala-drarl-Catch-s0", "--output=mine"),
             "mine already exists and is not a drarl_tf SavedModel",
             "export over a directory of the user's files", _run_and_user_files),
    BadInput("play.py", (f"--saved_model={DEMO_MODEL}", "--mask=mask_section7"),
             "mask_section0", "an attention mask the model does not have"),
    BadInput("play.py", (f"--saved_model={DEMO_MODEL}", "--fps=0"),
             "0 is not an integer in the range [1, 100]", "zero frames per second"),
    BadInput("play.py", (f"--saved_model={DEMO_MODEL}", "--output=adir.gif"),
             "--output adir.gif is a directory", "play output is a directory", _a_directory),
    BadInput("play.py", (f"--saved_model={DEMO_MODEL}", "--output=game.mp4"),
             "--output must end in .gif", "play output of another format"),
    BadInput("visualize.py", (), "saved_model", "neither a model nor a run given"),
    BadInput("visualize.py", (f"--saved_model={DEMO_MODEL}", "--output_dir=notadir"),
             "cannot write --output_dir notadir: notadir is a file",
             "visualize output directory is a file", _a_file),
    BadInput("visualize.py", (f"--saved_model={DEMO_MODEL}", "--scale=-1"),
             "-1 is not a non-negative integer", "negative scale"),
    BadInput("visualize.py", (f"--saved_model={DEMO_MODEL}", "--steps=50"),
             "the game ended after 9 steps", "steps beyond the end of the game"),
    BadInput("benchmark.py", ("--mode=gpu",), "value should be one of", "unknown benchmark mode"),
    BadInput("reproduce.py", ("--experiment=table9",), "unknown experiment", "unknown experiment"),
    BadInput("reproduce.py", ("--experiment=ppo5", "--seeds=0"), "seeds must be >= 1",
             "zero seeds"),
    BadInput("reproduce.py", ("--experiment=ppo5", "--games=Pongg"), "did you mean",
             "misspelt game in a grid"),
    BadInput("tables.py", ("--experiment=ppo5", "--runs=missing"), "missing is not a directory",
             "missing runs directory"),
    BadInput("tables.py", ("--experiment=ppo5", "--runs=."), "no evaluated ppo runs",
             "a directory without evaluated runs"),
)


@dataclasses.dataclass(frozen=True)
class Outcome:
    case: BadInput
    returncode: int
    error_lines: tuple[str, ...]  # the lines of stderr that start with "error:"
    traceback: bool

    @property
    def ok(self) -> bool:
        return (self.returncode == 2 and len(self.error_lines) == 1 and not self.traceback
                and self.case.expect in self.error_lines[0])


def run_case(case: BadInput, workdir: Path, timeout: float = 120) -> Outcome:
    """Runs `case` in `workdir` (empty, made for it) and collects what the user sees."""
    workdir.mkdir(parents=True, exist_ok=True)
    if case.setup is not None:
        case.setup(workdir)
    needs_catch = case.script.startswith("run_") and not any(
        a.startswith("--game") for a in case.args)
    args = (("--game=Catch",) if needs_catch else ()) + case.args
    try:
        out = subprocess.run([*script_command(case.script), *args],
                             cwd=workdir, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:  # it was accepted and started working
        return Outcome(case, -1, (), False)
    errors = tuple(line for line in out.stderr.splitlines() if line.startswith("error:"))
    return Outcome(case, out.returncode, errors, "Traceback" in out.stderr)


def run_all(workdir: Path, parallel: int = 2, cases=CASES) -> list[Outcome]:
    """Runs `cases`, `parallel` at a time (each is a fresh interpreter importing TF),
    each in its own subdirectory of `workdir`; outcomes in the cases' order."""
    with ThreadPoolExecutor(max(1, parallel)) as pool:
        return list(pool.map(lambda nc: run_case(nc[1], Path(workdir) / str(nc[0])),
                             enumerate(cases)))


def markdown_table(outcomes: list[Outcome]) -> str:
    rows = ["| # | mistake | command | exit code | what the user sees |",
            "|---|---|---|---|---|"]
    for n, o in enumerate(outcomes, 1):
        args = " ".join(a.replace(str(REPO), "<repo>") for a in o.case.args)
        seen = (o.error_lines[0] if o.error_lines else "(no error line)").replace("|", "\\|")
        seen = seen.replace(str(REPO), "<repo>")
        rows.append(f"| {n} | {o.case.what} | `{o.case.script} {args}` | {o.returncode} | "
                    f"`{seen}` |")
    return "\n".join(rows) + "\n"
