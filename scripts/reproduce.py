"""Reproduce one of the paper's experiments: train and evaluate its grid, then its tables.

  python scripts/reproduce.py --experiment=impala10             # Table 1, 200M frames x 3 seeds
  python scripts/reproduce.py --experiment=ablation --parallel=2
  python scripts/reproduce.py --experiment=a2c5 --games=Catch --frames=20000 --seeds=2 \\
      --eval_episodes=50                                        # a CPU-sized check
  python scripts/reproduce.py --experiment=cpu_pong             # PPO on Pong on a CPU
  python scripts/reproduce.py --experiment=minatar              # PPO on MinAtar's 5 games,
      # impala vs drarl, 5 seeds x 500k steps, two runs at once (pip install -e .[minatar])
  python scripts/reproduce.py --experiment=minatar --nets=impala,drarl,simple_drarl,large_impala

Each cell (game x net x seed) is an ordinary run directory under --logdir; a cell
already evaluated at --frames is skipped, an unfinished one resumes. The tables
go to <logdir>/<experiment>.md/.csv and the learning curves to
<logdir>/<experiment>-curves.png (`scripts/tables.py` rebuilds them).
"""

from absl import flags

from drarl_tf.cli.flags import load_tensorflow, start
from drarl_tf.errors import DrarlError
from drarl_tf.experiments.grid import (
    EXPERIMENTS,
    check_experiment,
    plan,
    run_grid,
)
from drarl_tf.experiments.report import write_report
from drarl_tf.experiments.tables import find_runs

flags.DEFINE_string("experiment", None, f"One of {', '.join(EXPERIMENTS)}.")
flags.DEFINE_integer("frames", None, "Training frames per run (default: the experiment's; "
                     "the paper's: 200M).")
flags.DEFINE_integer("seeds", None, "Seeds per game and net (default: the experiment's; the "
                     "paper's: 3).")
flags.DEFINE_list("games", None, "Games instead of the experiment's own (e.g. Catch, Pong).")
flags.DEFINE_list("nets", None, "Nets instead of the experiment's own.")
flags.DEFINE_integer("parallel", None, "Runs trained at once (default: the experiment's; "
                     "1, minatar: 2).")
flags.DEFINE_integer("eval_episodes", None, "Full games per evaluation (default: the "
                     "experiment's; the paper's: 200, minatar: 100).")
flags.DEFINE_string("logdir", "runs", "Where the run directories and tables go.")
flags.DEFINE_string("export_dir", "", "If set, the runs' SavedModels go to <export_dir>/<run> "
                    "instead of <logdir>/<run>/saved_model.")
flags.DEFINE_list("train_flags", None, "Extra flags for every training run instead of the "
                  "experiment's own (cpu_pong: --target_return=15,--precision=auto), e.g. "
                  "--train_flags=--num_actors=4,--checkpoint_minutes=30")
flags.DEFINE_boolean("dry_run", False, "Only list the runs.")
flags.DEFINE_integer("bootstrap_reps", 10_000, "Bootstrap resamples of the confidence "
                     "intervals of the aggregate scores (rliable).", lower_bound=100)
flags.mark_flag_as_required("experiment")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    experiment = check_experiment(FLAGS.experiment)
    frames = experiment.frames if FLAGS.frames is None else FLAGS.frames
    seeds = experiment.seeds if FLAGS.seeds is None else FLAGS.seeds
    train_flags = (list(experiment.train_flags) if FLAGS.train_flags is None
                   else FLAGS.train_flags)
    parallel = experiment.parallel if FLAGS.parallel is None else FLAGS.parallel
    eval_episodes = (experiment.eval_episodes if FLAGS.eval_episodes is None
                     else FLAGS.eval_episodes)
    cells = plan(experiment, seeds, frames, FLAGS.games, FLAGS.nets)
    if any(not f.startswith("--") for f in train_flags):
        raise DrarlError(f"--train_flags must look like --name=value, got {train_flags}")
    print(f"{experiment.description}: {len(cells)} runs of {frames:,} frames, "
          f"{parallel} at a time, logs and tables in {FLAGS.logdir}", flush=True)
    if FLAGS.dry_run:
        for cell in cells:
            print(" ", " ".join(cell.train_command(FLAGS.logdir, FLAGS.export_dir,
                                                  train_flags)))
        return
    outcomes = run_grid(cells, FLAGS.logdir, FLAGS.export_dir, eval_episodes,
                        parallel, train_flags, log=lambda line: print(line, flush=True),
                        eval_flags=experiment.eval_flags)
    load_tensorflow()  # the report reads TensorBoard logs: its start-up lines kept off
    names = {c.name for c in cells}
    runs = [r for r in find_runs([FLAGS.logdir]) if r.path.name in names]
    nets = tuple(dict.fromkeys(c.net for c in cells))
    report = dict(bootstrap_reps=FLAGS.bootstrap_reps, nets=nets)
    explain_error = None
    if experiment.name == "minatar":  # each net explained on each game, then the report
        from drarl_tf.experiments import minatar_study

        try:
            for path in minatar_study.explain(cells, FLAGS.logdir, FLAGS.export_dir, nets,
                                              log=lambda line: print(line, flush=True)):
                print(f"wrote {path}")
        except DrarlError as e:
            explain_error = e  # raised once the report is written
        print("the random policy's scores (measured once)", flush=True)
        report.update(minatar_study.report_parts(runs, nets, FLAGS.logdir))
    for path in write_report(experiment, runs, FLAGS.logdir, **report):
        print(f"wrote {path}")
    if explain_error is not None:
        raise explain_error
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        raise DrarlError(f"{len(failed)} of {len(cells)} runs failed (the tables hold the "
                         f"others); first: {failed[0].cell.name}: {failed[0].message}")


def run():
    """The installed command's entry point (setup.py's console_scripts)."""
    start(main)


if __name__ == "__main__":
    run()
