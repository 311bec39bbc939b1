"""Learning curves (paper Fig. 4): mean and spread over seeds of episode return vs frames.

  python scripts/plot_curves.py --runs=runs/impala-drarl-Catch-s0,runs/impala-impala-Catch-s0 \
      --output=curves.png

Runs that differ only in their seed are one curve (mean line, std band).
"""

import re
from pathlib import Path

from absl import flags

from drarl_tf.cli.flags import load_tensorflow, start
from drarl_tf.errors import DrarlError

flags.DEFINE_list("runs", None, "Run directories (runs/<algo>-<net>-<game>-s<seed>).")
flags.DEFINE_string("output", "curves.png", "PNG to write.")
flags.DEFINE_string("title", "", "Figure title.")
flags.DEFINE_string("output_csv", "", "Also write the plotted points here (run, frames, "
                    "episode_return: the mean return of the games that ended in that update).")
flags.mark_flag_as_required("runs")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    for run in FLAGS.runs:
        if not (Path(run) / "tb").is_dir():
            raise DrarlError(f"{run} is not a run directory (no {Path(run) / 'tb'})")
    load_tensorflow()
    from drarl_tf.viz.curves import plot_learning_curves, read_returns

    groups: dict = {}
    rows = ["run,frames,episode_return"]
    for run in FLAGS.runs:
        frames, returns = read_returns(Path(run) / "tb")
        if len(frames) < 2:
            raise DrarlError(f"{run} has fewer than 2 logged episode returns to plot")
        rows += [f"{Path(run).name},{f:.0f},{r:.6g}" for f, r in zip(frames, returns, strict=True)]
        label = re.sub(r"-s\d+$", "", Path(run).name)
        groups.setdefault(label, []).append((frames, returns))
    path = plot_learning_curves(groups, FLAGS.output, FLAGS.title)
    if FLAGS.output_csv:
        Path(FLAGS.output_csv).write_text("\n".join(rows) + "\n")
        print(f"wrote {FLAGS.output_csv} ({len(rows) - 1} points)")
    print(f"wrote {path} ({', '.join(f'{k}: {len(v)} runs' for k, v in sorted(groups.items()))})")


def run():
    """The installed command's entry point (setup.py's console_scripts)."""
    start(main)


if __name__ == "__main__":
    run()
