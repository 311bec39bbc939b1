"""Play one game with a SavedModel and write a GIF, optionally with an attention mask overlaid.

  python scripts/play.py --saved_model=saved_models/demo-impala-drarl-Catch --mask=mask_section0
"""

from absl import flags

from drarl_tf.configs import MAX_SEED
from drarl_tf.envs import make_vector_env
from drarl_tf.runtime.cli import load_tensorflow, start
from drarl_tf.runtime.paths import check_output_file

flags.DEFINE_string("saved_model", None, "SavedModel directory.")
flags.DEFINE_string("output", "episode.gif", "GIF to write.")
flags.DEFINE_string("mask", None, "Overlay this attention mask, e.g. mask_section0.")
flags.DEFINE_integer("max_steps", 4500, "Stop after this many agent steps.")
flags.DEFINE_boolean("greedy", False, "Take the most likely action instead of sampling.")
flags.DEFINE_integer("seed", 0, "Seed.", lower_bound=0, upper_bound=MAX_SEED)
flags.DEFINE_integer("fps", 15, "Frames per second of the GIF.", lower_bound=1, upper_bound=100)
flags.mark_flag_as_required("saved_model")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    output = check_output_file(FLAGS.output, "--output", suffixes=(".gif",))
    load_tensorflow()
    from drarl_tf.runtime.export import LoadedPolicy
    from drarl_tf.viz.video import play_episode, write_gif

    policy = LoadedPolicy(FLAGS.saved_model)
    env = make_vector_env(policy.metadata["game"], 1, training=False)
    policy.check_env(env)
    frames, score = play_episode(policy, env, FLAGS.max_steps, FLAGS.greedy, FLAGS.seed,
                                 FLAGS.mask)
    env.close()
    path = write_gif(frames, output, fps=FLAGS.fps)
    print(f"{len(frames)} frames, score {score:g}; written to {path}")


if __name__ == "__main__":
    start(main)
