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
over states with a 95 % bootstrap interval), faithfulness.json and faithfulness.png.
A faithful map has a deletion area well below the random map's and an insertion area
well above it.
"""

from absl import flags

from drarl_tf.configs import MAX_SEED
from drarl_tf.runtime.cli import load_tensorflow, start

flags.DEFINE_list("saved_model", None, "SavedModel directory, or several (comma-separated) "
                  "to compare.")
flags.DEFINE_integer("states", 32, "States per model, drawn from its own play.", lower_bound=1)
flags.DEFINE_integer("steps", 20, "Steps from 0 to 100 % of the pixels.", lower_bound=2)
flags.DEFINE_integer("play_steps", 2000, "Agent steps played (game after game) to draw the "
                     "states from.", lower_bound=1)
flags.DEFINE_string("output_dir", "faithfulness", "Where the table, JSON and plot go.")
flags.DEFINE_integer("seed", 0, "Seed (play, tie-breaking, random map, bootstrap).",
                     lower_bound=0, upper_bound=MAX_SEED)
flags.mark_flag_as_required("saved_model")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    load_tensorflow()
    from drarl_tf.runtime.export import LoadedPolicy
    from drarl_tf.runtime.paths import probe_writable
    from drarl_tf.viz import faithfulness

    probe_writable(FLAGS.output_dir, f"--output_dir {FLAGS.output_dir}")
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
    for path in faithfulness.report(results, FLAGS.output_dir, FLAGS.steps, FLAGS.seed):
        print(f"wrote {path}")


if __name__ == "__main__":
    start(main)
