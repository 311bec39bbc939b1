"""A chaos drill anyone can run: train Catch while actors and the main process are killed,
frozen and stopped at seeded random moments, restarting the command after each death as
a scheduler would; then check that no finished work was lost.

  python scripts/chaos.py --algo=impala --duration_seconds=120      # a short drill
  python scripts/chaos.py --algo=impala --duration_seconds=1200 --total_frames=6000000 \
      --target_return=0.8 --mean_gap_seconds=60 --seed=0            # docs/reliability.md's

Faults: `kill -9` of an actor, SIGSTOP of an actor (IMPALA), `kill -9` of the main
process during a checkpoint write, `kill -9` of it at any moment, SIGTERM. At the end it
checks: --total_frames reached and the mean return at least --target_return; no restart
resumed before the newest complete checkpoint on disk at its death; no process left; no
partial (`_temp`) checkpoint left; one history in TensorBoard; the final SavedModel
serves. Prints the table of faults and what each cost (lost work: the frames trained
past the checkpoint resumed from, in seconds at the run's rate; downtime: from the death
to the restarted command's first progress line). Exits 1 if a check failed.
"""

import sys
from pathlib import Path

from absl import flags

from drarl_tf.cli.flags import start
from drarl_tf.errors import DrarlError

flags.DEFINE_enum("algo", "impala", ["impala", "ppo"], "Trainer to drill.")
flags.DEFINE_string("logdir", "runs/chaos", "Where the drilled run's directory goes (a new one "
                    "per --seed; an existing run there is resumed).")
flags.DEFINE_integer("total_frames", 300_000, "Frames the run must reach.", lower_bound=1)
flags.DEFINE_float("target_return", 0.5, "Mean return (last 100 games) the run must end at "
                   "or above (Catch: random -0.6, perfect 1).")
flags.DEFINE_float("duration_seconds", 120.0, "Faults are injected during this long.",
                   lower_bound=1.0)
flags.DEFINE_float("mean_gap_seconds", 20.0, "Mean time between faults.", lower_bound=1.0)
flags.DEFINE_integer("seed", 0, "Seed of the fault schedule and of the run.", lower_bound=0)
flags.DEFINE_string("output", "", "Also write the table and the verdict to this file.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise DrarlError(f"unexpected arguments {argv[1:]}")
    from drarl_tf.experiments.chaos import markdown_table, run_drill

    report = run_drill(FLAGS.algo, FLAGS.logdir, FLAGS.total_frames, FLAGS.target_return,
                       FLAGS.duration_seconds, FLAGS.seed, FLAGS.mean_gap_seconds,
                       log=lambda line: print(f"  | {line}", flush=True))
    lost = sum(o.lost_seconds for o in report.outcomes)
    down = sum(o.downtime for o in report.outcomes)
    verdict = (f"{len(report.outcomes)} faults, {report.starts} starts, {report.wall_seconds:.0f} s "
               f"of wall time; the run ended at {report.final_frames:,} frames, mean return "
               f"{report.final_return:.2f}; lost work {lost:.1f} s, downtime {down:.1f} s in all; "
               + ("every check passed" if report.ok else "FAILED: " + "; ".join(report.problems)))
    table = markdown_table(report) + "\n" + verdict + "\n"
    print(table)
    if FLAGS.output:
        Path(FLAGS.output).write_text(table)
    if not report.ok:
        sys.exit(1)


def run():
    """The installed command's entry point (setup.py's console_scripts)."""
    start(main)


if __name__ == "__main__":
    run()
