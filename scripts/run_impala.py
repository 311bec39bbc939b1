"""Train IMPALA (V-trace) with a DRARL or IMPALA network.

  python scripts/run_impala.py --net=drarl --game=RoadRunner       # the paper's run
  python scripts/run_impala.py --game=Catch --total_frames=200000  # a CPU demo in minutes

Every flag but --list_games is a field of drarl_tf.configs.ImpalaConfig, with the paper's
defaults; the flags and config are checked before TensorFlow loads. TensorFlow's
start-up and C++ log lines are hidden unless TF_CPP_MIN_LOG_LEVEL is set (0: show all).
Re-running the same command resumes from the run directory's last checkpoint.
"""

# No TensorFlow here: it loads once the flags and the config are checked.
from drarl_tf.cli.flags import start, training_main
from drarl_tf.configs import ImpalaConfig

main = training_main(ImpalaConfig, "drarl_tf.impala")

def run():
    """The installed command's entry point (setup.py's console_scripts)."""
    start(main)


if __name__ == "__main__":
    run()
