"""Train PPO with a DRARL or IMPALA network.

  python scripts/run_ppo.py --net=drarl --game=Amidar
  python scripts/run_ppo.py --game=Catch --total_frames=60000

Every flag is a field of drarl_tf.ppo.PPOConfig, with the paper's defaults.
Re-running the same command resumes from the run directory's last checkpoint.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads


from drarl_tf.ppo import PPOConfig, train  # noqa: E402
from drarl_tf.runtime.cli import start, training_main  # noqa: E402

main = training_main(PPOConfig, train)

if __name__ == "__main__":
    start(main)
