"""Learning curves (paper Fig. 4): mean and spread over seeds of episode return vs frames.

  python scripts/plot_curves.py --runs=runs/impala-drarl-Catch-s0,runs/impala-impala-Catch-s0 \
      --output=curves.png

Runs that differ only in their seed are one curve (mean line, std band).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import re  # noqa: E402
from pathlib import Path  # noqa: E402

from absl import flags  # noqa: E402

from drarl_tf.errors import DrarlError  # noqa: E402
from drarl_tf.runtime.cli import start  # noqa: E402
from drarl_tf.viz.statistics import plot_learning_curves, read_returns  # noqa: E402

flags.DEFINE_list("runs", None, "Run directories (runs/<algo>-<net>-<game>-s<seed>).")
flags.DEFINE_string("output", "curves.png", "PNG to write.")
flags.DEFINE_string("title", "", "Figure title.")
flags.DEFINE_string("output_csv", "", "Also write the plotted points here (run, frames, "
                    "episode_return: the mean return of the games that ended in that update).")
flags.mark_flag_as_required("runs")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    groups: dict = {}
    rows = ["run,frames,episode_return"]
    for run in FLAGS.runs:
        tb = Path(run) / "tb"
        if not tb.is_dir():
            raise DrarlError(f"{run} is not a run directory (no {tb})")
        frames, returns = read_returns(tb)
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


if __name__ == "__main__":
    start(main)
