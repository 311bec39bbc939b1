"""Evaluate a SavedModel by the paper's test protocol (full lives, 30 no-ops, 200 games).

  python scripts/evaluate.py --saved_model=saved_models/demo-impala-drarl-Catch --episodes=200

Writes eval.json (per-game scores, mean, std, median, frames) and prints a summary.
"""

import json
from pathlib import Path

from absl import flags

from drarl_tf.configs import MAX_SEED
from drarl_tf.envs import check_game, make_vector_env
from drarl_tf.errors import DrarlError
from drarl_tf.runtime.cli import load_tensorflow, start
from drarl_tf.runtime.paths import check_output_file

flags.DEFINE_string("saved_model", None, "SavedModel directory written by a run or export.py.")
flags.DEFINE_integer("episodes", 200, "Full games to play (the paper: 200).")
flags.DEFINE_integer("num_envs", 8, "Games played in parallel.")
flags.DEFINE_boolean("greedy", False, "Take the most likely action instead of sampling.")
flags.DEFINE_integer("seed", 0, "Seed of the envs and the action sampling.", lower_bound=0,
                     upper_bound=MAX_SEED)
flags.DEFINE_string("game", None, "Game to play (default: the model's own).")
flags.DEFINE_string("output", None, "eval.json path (default runs/<run>/eval.json).")
flags.DEFINE_string("logdir", "runs", "Where the default output's run directory is.")
flags.mark_flag_as_required("saved_model")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    if FLAGS.episodes < 1:
        raise DrarlError(f"--episodes must be >= 1, got {FLAGS.episodes}")
    if FLAGS.num_envs < 1:
        raise DrarlError(f"--num_envs must be >= 1, got {FLAGS.num_envs}")
    if FLAGS.game:
        check_game(FLAGS.game)  # before TensorFlow loads
    load_tensorflow()
    from drarl_tf.runtime.evaluation import evaluate
    from drarl_tf.runtime.export import LoadedPolicy

    policy = LoadedPolicy(FLAGS.saved_model)
    output = check_output_file(
        FLAGS.output or Path(FLAGS.logdir) / policy.metadata["run"] / "eval.json", "--output")
    game = FLAGS.game or policy.metadata["game"]
    env = make_vector_env(game, min(FLAGS.num_envs, FLAGS.episodes), training=False)
    policy.check_env(env)
    result = evaluate(policy, env, FLAGS.episodes, greedy=FLAGS.greedy, seed=FLAGS.seed)
    env.close()
    result.update(saved_model=str(FLAGS.saved_model), net=policy.metadata["net"],
                  algo=policy.metadata["algo"], trained_frames=policy.metadata["frames"],
                  protocol=f"{env.protocol}; {'greedy' if FLAGS.greedy else 'sampled'} actions")
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{game}: mean {result['mean']:.2f} (std {result['std']:.2f}, median "
          f"{result['median']:.2f}) over {result['episodes']} games, {result['frames']:,} "
          f"frames; written to {output}")


if __name__ == "__main__":
    start(main)
