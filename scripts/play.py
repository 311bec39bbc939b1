"""Play one game with a SavedModel and write a GIF, optionally with an attention mask
beside each frame (on its absolute scale 0-1, with a colour bar).

  python scripts/play.py --saved_model=saved_models/demo-impala-drarl-Catch --mask=mask_section0

The GIF goes into the model's own run directory (runs/<run>/episode.gif for
runs/<run>/saved_model), or, for a model outside any run (the shipped demo), to
./episode-<model directory>.gif; --output chooses. The GIF's comment records the model
(path and weights' fingerprint): a GIF of another model is never replaced.
"""

import json

from absl import flags

from drarl_tf.bookkeeping.lock import lock_enclosing_run
from drarl_tf.bookkeeping.paths import check_output_file, check_saved_model_dir
from drarl_tf.bookkeeping.results import (
    check_not_another_models,
    default_output,
    model_record,
    recorded_models,
)
from drarl_tf.cli.flags import load_tensorflow, start
from drarl_tf.configs import MAX_SEED
from drarl_tf.envs import make_vector_env

flags.DEFINE_string("saved_model", None, "SavedModel directory.")
flags.DEFINE_string("output", None, "GIF to write (default: episode.gif in the model's run "
                    "directory, else ./episode-<model directory>.gif).")
flags.DEFINE_string("mask", None, "Show this attention mask beside each frame, e.g. "
                    "mask_section0.")
flags.DEFINE_integer("max_steps", 4500, "Stop after this many agent steps.")
flags.DEFINE_boolean("greedy", False, "Take the most likely action instead of sampling.")
flags.DEFINE_integer("seed", 0, "Seed.", lower_bound=0, upper_bound=MAX_SEED)
flags.DEFINE_integer("fps", 15, "Frames per second of the GIF.", lower_bound=1, upper_bound=100)
flags.mark_flag_as_required("saved_model")
FLAGS = flags.FLAGS


def _recorded(gif) -> list[dict] | None:
    """The models an existing GIF records in its comment (None: no GIF or no record)."""
    from PIL import Image

    try:
        with Image.open(gif) as image:
            return recorded_models(json.loads(image.info.get("comment", b"")))
    except (OSError, ValueError):
        return None


def main(argv):
    del argv
    saved_model = check_saved_model_dir(FLAGS.saved_model)
    models = [model_record(saved_model)]
    output = FLAGS.output or default_output(saved_model, "episode.gif")[0]
    output = check_output_file(output, "--output", suffixes=(".gif",))
    check_not_another_models(output, _recorded(output), models)
    lock_enclosing_run(output)
    load_tensorflow()
    from drarl_tf.bookkeeping.export import LoadedPolicy
    from drarl_tf.viz.video import play_episode, write_gif

    policy = LoadedPolicy(saved_model)
    env = make_vector_env(policy.metadata["game"], 1, training=False)
    policy.check_env(env)
    frames, score = play_episode(policy, env, FLAGS.max_steps, FLAGS.greedy, FLAGS.seed,
                                 FLAGS.mask)
    env.close()
    check_not_another_models(output, _recorded(output), models)  # still ours after playing?
    path = write_gif(frames, output, fps=FLAGS.fps, comment=json.dumps({"models": models}))
    print(f"{len(frames)} frames, score {score:g}; written to {path}")
    from drarl_tf.envs.minatar import object_channels
    from drarl_tf.viz.overlay import legend

    if object_channels(policy.metadata["game"]):
        print(legend(object_channels(policy.metadata["game"])))


def run():
    """The installed command's entry point (setup.py's console_scripts)."""
    start(main)


if __name__ == "__main__":
    run()
