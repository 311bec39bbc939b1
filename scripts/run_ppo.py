"""Train PPO with a DRARL or IMPALA network.

  python scripts/run_ppo.py --net=drarl --game=Amidar
  python scripts/run_ppo.py --game=Catch --total_frames=60000

Every flag but --list_games is a field of drarl_tf.configs.PPOConfig, with the paper's
defaults; the flags and config are checked before TensorFlow loads. TensorFlow's
start-up and C++ log lines are hidden unless TF_CPP_MIN_LOG_LEVEL is set (0: show all).
Re-running the same command resumes from the run directory's last checkpoint.
"""

# No TensorFlow here: it loads once the flags and the config are checked.
from drarl_tf.cli.flags import start, training_main
from drarl_tf.configs import PPOConfig

main = training_main(PPOConfig, "drarl_tf.ppo")

def run():
    """The installed command's entry point (setup.py's console_scripts)."""
    start(main)


if __name__ == "__main__":
    run()
