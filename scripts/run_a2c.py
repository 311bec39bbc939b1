"""Train A2C with a DRARL or IMPALA network.

  python scripts/run_a2c.py --net=drarl --game=Krull
  python scripts/run_a2c.py --game=Catch --total_frames=150000

Every flag is a field of drarl_tf.a2c.A2CConfig, with the paper's defaults.
Re-running the same command resumes from the run directory's last checkpoint.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads


from drarl_tf.a2c import A2CConfig, train  # noqa: E402
from drarl_tf.runtime.cli import start, training_main  # noqa: E402

main = training_main(A2CConfig, train)

if __name__ == "__main__":
    start(main)
