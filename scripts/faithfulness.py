"""Are the explanations faithful? Deletion and insertion curves of every explanation.

  python scripts/faithfulness.py --saved_model=saved_models/demo-impala-drarl-Catch
  # two nets side by side, on states each draws from its own play of the game
  python scripts/faithfulness.py --saved_model=runs/ppo-impala-Pong-s0/saved_model,runs/ppo-drarl-Pong-s0/saved_model

For each model: plays --play_steps agent steps (sampling its actions, game after
game), keeps --states diverse states among them,
and for each state and explanation (every attention mask, Grad-CAM, the input
gradient, a random map) removes (deletion) or reveals (insertion) the top pixels by
the map in --steps steps, recording the probability of the action the policy prefers
on the intact state. Writes <output_dir>/faithfulness.md (area under each curve, mean
over states with a 95 % bootstrap interval), faithfulness.json and faithfulness.png
(default <output_dir>: faithfulness/ in the model's run directory, else
./faithfulness-<model directory>/; for several models ./faithfulness/). The directory
records its models (drarl_models.json); one holding another model's result is refused.
A faithful map has a deletion area well below the random map's and an insertion area
well above it.
"""

from absl import flags

from drarl_tf.bookkeeping.lock import lock_enclosing_run
from drarl_tf.bookkeeping.paths import check_saved_model_dir, probe_writable
from drarl_tf.bookkeeping.results import claim_result_dir, default_output, model_record
from drarl_tf.cli.flags import load_tensorflow, start
from drarl_tf.configs import MAX_SEED

flags.DEFINE_list("saved_model", None, "SavedModel directory, or several (comma-separated) "
                  "to compare.")
flags.DEFINE_integer("states", 32, "States per model, drawn from its own play.", lower_bound=1)
flags.DEFINE_integer("steps", 20, "Steps from 0 to 100 % of the pixels.", lower_bound=2)
flags.DEFINE_integer("play_steps", 2000, "Agent steps played (game after game) to draw the "
                     "states from.", lower_bound=1)
flags.DEFINE_string("output_dir", None, "Where the table, JSON and plot go (default: "
                    "faithfulness/ in the model's run directory, else ./faithfulness-<model>/).")
flags.DEFINE_integer("seed", 0, "Seed (play, tie-breaking, random map, bootstrap).",
                     lower_bound=0, upper_bound=MAX_SEED)
flags.mark_flag_as_required("saved_model")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    paths = [check_saved_model_dir(path) for path in FLAGS.saved_model]  # before TensorFlow
    output_dir = FLAGS.output_dir
    if not output_dir:
        output_dir = (default_output(paths[0], "faithfulness")[0] if len(paths) == 1
                      else "faithfulness")
    probe_writable(output_dir, f"--output_dir {output_dir}")
    lock_enclosing_run(output_dir, "--output_dir")
    claim_result_dir(output_dir, [model_record(path) for path in paths])
    load_tensorflow()
    from drarl_tf.bookkeeping.export import LoadedPolicy
    from drarl_tf.viz import faithfulness

    policies = [LoadedPolicy(path) for path in FLAGS.saved_model]  # all readable first
    results = {}
    for path, policy in zip(FLAGS.saved_model, policies, strict=True):
        meta = policy.metadata
        label = f"{meta.get('net', '?')} {meta.get('game', '?')} {meta.get('frames', 0):,}f"
        if label in results:
            label = f"{label} ({path})"
        states = faithfulness.play_states(policy, FLAGS.states, FLAGS.seed, FLAGS.play_steps)
        print(f"{label}: {len(states)} states", flush=True)
        results[label] = faithfulness.evaluate(policy, states, FLAGS.steps, FLAGS.seed)
    for path in faithfulness.report(results, output_dir, FLAGS.steps, FLAGS.seed):
        print(f"wrote {path}")


def run():
    """The installed command's entry point (setup.py's console_scripts)."""
    start(main)


if __name__ == "__main__":
    run()
