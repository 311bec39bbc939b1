"""Train IMPALA (V-trace) with a DRARL or IMPALA network.

  python scripts/run_impala.py --net=drarl --game=RoadRunner       # the paper's run
  python scripts/run_impala.py --game=Catch --total_frames=200000  # a CPU demo in minutes

Every flag is a field of drarl_tf.impala.ImpalaConfig, with the paper's defaults.
Re-running the same command resumes from the run directory's last checkpoint.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads


from drarl_tf.impala import ImpalaConfig, train  # noqa: E402
from drarl_tf.runtime.cli import start, training_main  # noqa: E402

main = training_main(ImpalaConfig, train)

if __name__ == "__main__":
    start(main)
