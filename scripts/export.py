"""Export a training checkpoint as a SavedModel (TensorFlow only needed to load it).

  python scripts/export.py --checkpoint=runs/impala-drarl-Catch-s0
  python scripts/export.py --checkpoint=runs/impala-drarl-Catch-s0/checkpoints/ckpt-96000
"""

from absl import flags

from drarl_tf.cli.flags import load_tensorflow, start

flags.DEFINE_string("checkpoint", None, "Run directory (latest checkpoint) or checkpoint prefix.")
flags.DEFINE_string("output", None, "SavedModel directory (default: the run's own <run>/saved_model; "
                    "refused if it holds anything but an export of the same run).")
flags.DEFINE_string("export_dir", "", "If set, the default output is <export_dir>/<run>.")
flags.mark_flag_as_required("checkpoint")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from pathlib import Path

    from drarl_tf.bookkeeping.lock import lock_enclosing_run

    checkpoint = Path(FLAGS.checkpoint)
    run = checkpoint if checkpoint.is_dir() else checkpoint.parent.parent
    target = (Path(FLAGS.output) if FLAGS.output
              else Path(FLAGS.export_dir) / run.name if FLAGS.export_dir else run)
    lock_enclosing_run(target)  # an export into a run directory: one writer at a time
    load_tensorflow()
    from drarl_tf.bookkeeping.export import export_checkpoint

    path = export_checkpoint(FLAGS.checkpoint, FLAGS.output, FLAGS.export_dir)
    print(f"SavedModel written to {path}")


def run():
    """The installed command's entry point (setup.py's console_scripts)."""
    start(main)


if __name__ == "__main__":
    run()
