"""Train IMPALA (V-trace) with a DRARL or IMPALA network.

  python scripts/run_impala.py --net=drarl --game=RoadRunner       # the paper's run
  python scripts/run_impala.py --game=Catch --total_frames=400000  # a CPU demo in minutes

Every flag is a field of drarl_tf.impala.ImpalaConfig, with the paper's defaults.
Re-running the same command resumes from the run directory's last checkpoint.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import dataclasses  # noqa: E402

from absl import app, flags  # noqa: E402

from drarl_tf.impala import ImpalaConfig, train  # noqa: E402
from drarl_tf.runtime.cli import define_config_flags, run_main  # noqa: E402

FLAGS = flags.FLAGS
define_config_flags(ImpalaConfig)


def main(argv):
    del argv
    config = ImpalaConfig(**{f.name: FLAGS[f.name].value for f in dataclasses.fields(ImpalaConfig)})
    result = train(config)
    print(f"done: {result.frames:,} frames, {result.updates:,} updates, "
          f"mean return {result.mean_return:.2f} over the last "
          f"{min(result.episodes, 100)} games; run directory {result.run_dir}")


if __name__ == "__main__":
    app.run(lambda argv: run_main(main, argv))
