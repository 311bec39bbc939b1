"""PNGs of where the agent looks: frame stack, attention masks and Grad-CAM, on stated scales.

  python scripts/visualize.py --saved_model=saved_models/demo-impala-drarl-Catch \
      --steps=0,4,8 --output_dir=viz
  # the paper's Fig. 6: two nets' Grad-CAM side by side on the same states
  python scripts/visualize.py --saved_model=runs/ppo-impala-Pong-s0/saved_model,runs/ppo-drarl-Pong-s0/saved_model
  # the paper's Fig. 7: Grad-CAM at 0/36/72/100 % of training (the run's milestones)
  python scripts/visualize.py --series=runs/impala-drarl-Catch-s0 --output_dir=viz

Plays one game with the first model (a series: the last milestone) and, at each listed agent step, writes
<output_dir>/step<N>.png: one row per model (or milestone checkpoint) on that state:
[frames | mask_section0..2 (channel mean, absolute 0-1) | Grad-CAM of the row's own most
likely action (0 to the largest value in the figure)], colour bars and value ranges
under it; step<N>_<mask>_channels.png: every channel of the first model's masks; then
<output_dir>/gradient_histogram.png: the first model's shares of |d logit / d pixel| per
interval over every step played (the paper's Fig. 8).

Default <output_dir>: viz/ in the model's run directory (viz-series/ for --series,
viz-ckpt-N/ for a checkpoint), else ./viz-<model directory>/ for a model outside any run,
./viz/ for several models. The directory records its models (drarl_models.json); one
holding another model's figures is refused.
"""

import tempfile
from pathlib import Path

from absl import flags

from drarl_tf.bookkeeping.lock import lock_enclosing_run
from drarl_tf.bookkeeping.paths import check_saved_model_dir, probe_writable
from drarl_tf.bookkeeping.results import claim_result_dir, default_output, model_record
from drarl_tf.cli.flags import load_tensorflow, start
from drarl_tf.configs import MAX_SEED
from drarl_tf.errors import DrarlError

flags.DEFINE_list("saved_model", None, "SavedModel directory, or several (comma-separated) "
                  "to compare on the same states.")
flags.DEFINE_string("checkpoint", None, "Or a run directory / checkpoint (exported first).")
flags.DEFINE_string("series", None, "Or a run directory: one row per milestone checkpoint "
                    "(--milestone_fractions of the run, e.g. 0/36/72/100 %).")
flags.DEFINE_list("steps", ["0", "10", "20"], "Agent steps of the game to draw.")
flags.DEFINE_string("output_dir", None, "Where the PNGs go (default: viz/ in the model's "
                    "run directory, else ./viz-<model directory>/).")
flags.DEFINE_boolean("greedy", False, "Take the most likely action instead of sampling.")
flags.DEFINE_integer("seed", 0, "Seed.", lower_bound=0, upper_bound=MAX_SEED)
flags.DEFINE_integer("scale", 0, "Enlargement (default 0: to at least 168 pixels high).",
                     lower_bound=0)
flags.mark_flags_as_mutual_exclusive(["saved_model", "checkpoint", "series"], required=True)
FLAGS = flags.FLAGS


def _run_root(path: Path, flag: str) -> Path:
    """The run directory of a `--checkpoint` / `--series` path (refused if it is none)."""
    root = path if path.is_dir() else path.parent.parent
    if not (root / "config.json").is_file():
        raise DrarlError(f"{flag} {path} is not a run directory or a checkpoint of one "
                         f"(no {root / 'config.json'})")
    return root


def _sources() -> tuple[list[Path], Path]:
    """(the models explained, the default output directory), checked without TensorFlow."""
    if FLAGS.series:
        root = _run_root(Path(FLAGS.series), "--series")
        return [root], root / "viz-series"
    if FLAGS.checkpoint:
        checkpoint = Path(FLAGS.checkpoint)
        root = _run_root(checkpoint, "--checkpoint")
        return [checkpoint], root / ("viz" if checkpoint.is_dir() else f"viz-{checkpoint.name}")
    paths = [check_saved_model_dir(path) for path in FLAGS.saved_model]
    return paths, default_output(paths[0], "viz")[0] if len(paths) == 1 else Path("viz")


def main(argv):
    del argv
    sources, default_dir = _sources()
    output_dir = FLAGS.output_dir or default_dir
    probe_writable(output_dir, f"--output_dir {output_dir}")
    lock_enclosing_run(output_dir, "--output_dir")  # figures in a run: one writer at a time
    claim_result_dir(output_dir, [model_record(path) for path in sources])
    load_tensorflow()
    from drarl_tf.viz.figures import explain_game, load_models

    with tempfile.TemporaryDirectory() as tmp:
        models = load_models(FLAGS.saved_model, FLAGS.checkpoint, FLAGS.series, Path(tmp))
        written = explain_game(models, FLAGS.steps, output_dir, FLAGS.greedy,
                               FLAGS.seed, FLAGS.scale, player=-1 if FLAGS.series else 0)
    print(f"wrote {', '.join(written)} (rows: {', '.join(label for label, _ in models)})")


def run():
    """The installed command's entry point (setup.py's console_scripts)."""
    start(main)


if __name__ == "__main__":
    run()
