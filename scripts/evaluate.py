"""Evaluate a SavedModel by the paper's test protocol (full lives, 30 no-ops, 200 games).

  python scripts/evaluate.py --saved_model=saved_models/demo-impala-drarl-Catch --episodes=200

Writes eval.json (per-game scores, mean, std, median, frames, and the model it scored:
its absolute path and a fingerprint of its weights) and prints a summary. By default
eval.json goes into the model's own run directory (runs/<run>/eval.json for
runs/<run>/saved_model); a model outside any run (the shipped demo) writes
./eval-<model directory>.json. An eval.json of another model is never replaced.
"""

import json
from pathlib import Path

from absl import flags

from drarl_tf.bookkeeping.lock import lock_enclosing_run
from drarl_tf.bookkeeping.paths import check_output_file, check_saved_model_dir
from drarl_tf.bookkeeping.results import (
    check_not_another_models,
    default_output,
    model_record,
    read_json_record,
)
from drarl_tf.cli.flags import load_tensorflow, start
from drarl_tf.configs import MAX_SEED
from drarl_tf.envs import check_game, make_vector_env
from drarl_tf.errors import DrarlError

flags.DEFINE_string("saved_model", None, "SavedModel directory written by a run or export.py.")
flags.DEFINE_integer("episodes", 200, "Full games to play (the paper: 200).")
flags.DEFINE_integer("num_envs", 8, "Games played in parallel.")
flags.DEFINE_boolean("greedy", False, "Take the most likely action instead of sampling.")
flags.DEFINE_integer("seed", 0, "Seed of the envs and the action sampling.", lower_bound=0,
                     upper_bound=MAX_SEED)
flags.DEFINE_string("game", None, "Game to play (default: the model's own).")
flags.DEFINE_string("output", None, "eval.json path (default: eval.json in the model's run "
                    "directory, else ./eval-<model directory>.json).")
flags.mark_flag_as_required("saved_model")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    if FLAGS.episodes < 1:
        raise DrarlError(f"--episodes must be >= 1, got {FLAGS.episodes}")
    if FLAGS.num_envs < 1:
        raise DrarlError(f"--num_envs must be >= 1, got {FLAGS.num_envs}")
    if FLAGS.game is not None:
        check_game(FLAGS.game)  # before TensorFlow loads ('' is no game either)
    saved_model = check_saved_model_dir(FLAGS.saved_model)
    models = [model_record(saved_model)]
    if FLAGS.output:
        output, where = Path(FLAGS.output), None
    else:
        output, where = default_output(saved_model, "eval.json")
    output = check_output_file(output, "--output")
    check_not_another_models(output, read_json_record(output), models)
    lock_enclosing_run(output)  # a run's eval.json: one writer of the run at a time
    load_tensorflow()
    from drarl_tf.bookkeeping.export import LoadedPolicy
    from drarl_tf.training.evaluation import evaluate

    policy = LoadedPolicy(saved_model)
    game = FLAGS.game or policy.metadata["game"]
    env = make_vector_env(game, min(FLAGS.num_envs, FLAGS.episodes), training=False)
    policy.check_env(env)
    result = evaluate(policy, env, FLAGS.episodes, greedy=FLAGS.greedy, seed=FLAGS.seed)
    env.close()
    result.update(saved_model=models[0]["path"], model_fingerprint=models[0]["fingerprint"],
                  models=models, net=policy.metadata["net"],
                  algo=policy.metadata["algo"], trained_frames=policy.metadata["frames"],
                  protocol=f"{env.protocol}; {'greedy' if FLAGS.greedy else 'sampled'} actions")
    check_not_another_models(output, read_json_record(output), models)  # still ours?
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{game}: mean {result['mean']:.2f} (std {result['std']:.2f}, median "
          f"{result['median']:.2f}) over {result['episodes']} games, {result['frames']:,} "
          f"frames; written to {output}" + (f", {where}" if where else ""))


def run():
    """The installed command's entry point (setup.py's console_scripts)."""
    start(main)


if __name__ == "__main__":
    run()
