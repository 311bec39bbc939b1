"""The paper-format tables and learning curves of an experiment, from evaluated runs.

  python scripts/tables.py --experiment=impala10 --runs=runs
  python scripts/tables.py --experiment=ppo5 --runs=runs/a,runs/b --output_dir=report

--runs takes run directories (runs/<algo>-<net>-<game>-s<seed> with an eval.json, from
scripts/evaluate.py) or directories holding them. Writes <experiment>.md (with the
paper's own numbers, and for Tables 1 and 3 the earlier papers' published scores, beside
ours where it has the game), <experiment>.csv, <experiment>-seeds.png (every run's final
score: the paper's Fig. 3) and <experiment>-curves.png (runs that have TensorBoard logs).
"""

from absl import flags

from drarl_tf.bookkeeping.paths import probe_writable
from drarl_tf.cli.flags import load_tensorflow, start
from drarl_tf.experiments.grid import EXPERIMENTS, check_experiment
from drarl_tf.experiments.report import write_report
from drarl_tf.experiments.tables import find_runs

flags.DEFINE_string("experiment", None, f"One of {', '.join(EXPERIMENTS)}.")
flags.DEFINE_list("runs", ["runs"], "Run directories, or directories holding them.")
flags.DEFINE_string("output_dir", ".", "Where the tables and the figure go.")
flags.DEFINE_integer("bootstrap_reps", 10_000, "Bootstrap resamples of the confidence "
                     "intervals of the aggregate scores (rliable).", lower_bound=100)
flags.mark_flag_as_required("experiment")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    experiment = check_experiment(FLAGS.experiment)
    probe_writable(FLAGS.output_dir, f"--output_dir {FLAGS.output_dir}")
    runs = find_runs(FLAGS.runs)
    load_tensorflow()  # the curves read TensorBoard logs: its start-up lines kept off
    report = {}
    if experiment.name == "minatar" and runs:
        from drarl_tf.experiments import minatar_study

        # The study's random-policy scores and faithfulness table, from the directory that
        # holds its runs (reproduce.py's --logdir); nothing is measured here.
        nets = tuple(dict.fromkeys(r.net for r in runs))
        report = minatar_study.report_parts(runs, nets, runs[0].path.parent, measure=False)
        report["nets"] = nets
    for path in write_report(experiment, runs, FLAGS.output_dir,
                             bootstrap_reps=FLAGS.bootstrap_reps, **report):
        print(f"wrote {path}")


def run():
    """The installed command's entry point (setup.py's console_scripts)."""
    start(main)


if __name__ == "__main__":
    run()
