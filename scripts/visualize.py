"""PNGs of where the agent looks: frame stack (afterimage), attention masks, Grad-CAM.

  python scripts/visualize.py --saved_model=saved_models/demo-impala-drarl-Catch \
      --steps=0,4,8 --output_dir=viz
  python scripts/visualize.py --checkpoint=runs/impala-drarl-Catch-s0 --output_dir=viz

Plays one game with the SavedModel and, at each listed agent step, writes
<output_dir>/step<N>.png: [frames | mask_section0..2 (attention nets) | Grad-CAM];
then <output_dir>/gradient_histogram.png: the shares of |d logit / d pixel| per
interval over every step played (the paper's Fig. 8).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from drarl_tf.envs import make_vector_env  # noqa: E402
from drarl_tf.errors import DrarlError  # noqa: E402
from drarl_tf.runtime.cli import start  # noqa: E402
from drarl_tf.runtime.export import LoadedPolicy, export_checkpoint  # noqa: E402
from drarl_tf.runtime.rollout import sample_actions  # noqa: E402
from drarl_tf.viz.overlay import explanation_panel  # noqa: E402
from drarl_tf.viz.statistics import histogram_of, plot_gradient_histogram  # noqa: E402

flags.DEFINE_string("saved_model", None, "SavedModel directory.")
flags.DEFINE_string("checkpoint", None, "Or a run directory / checkpoint (exported first).")
flags.DEFINE_list("steps", ["0", "10", "20"], "Agent steps of the game to draw.")
flags.DEFINE_string("output_dir", "viz", "Where the PNGs go.")
flags.DEFINE_boolean("greedy", False, "Take the most likely action instead of sampling.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_integer("scale", 0, "Enlargement (default: to at least 168 pixels high).")
flags.mark_flags_as_mutual_exclusive(["saved_model", "checkpoint"], required=True)
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from PIL import Image

    try:
        steps = sorted({int(s) for s in FLAGS.steps})
    except ValueError:
        raise DrarlError(f"--steps must be integers, got {FLAGS.steps}") from None
    if not steps or steps[0] < 0:
        raise DrarlError("--steps must be >= 0")
    saved_model = FLAGS.saved_model
    if FLAGS.checkpoint:
        saved_model = export_checkpoint(FLAGS.checkpoint, Path(tempfile.mkdtemp()) / "model")
    policy = LoadedPolicy(saved_model)
    env = make_vector_env(policy.metadata["game"], 1, training=False)
    policy.check_env(env)
    scale = FLAGS.scale or max(1, int(np.ceil(168 / env.obs_shape[0])))
    out_dir = Path(FLAGS.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(FLAGS.seed)
    obs, written, gradients = env.reset(seed=FLAGS.seed), [], []
    for t in range(steps[-1] + 1):
        out = policy(obs)
        logits = out["policy_logits"]
        actions = (np.argmax(logits, -1).astype(np.int32) if FLAGS.greedy
                   else sample_actions(logits, rng))
        gradients.append(np.abs(policy.input_gradient(obs, actions)))
        if t in steps:
            cam = policy.grad_cam(obs, actions)[0]
            masks = {name: out[name][0] for name in policy.mask_names}
            path = out_dir / f"step{t}.png"
            Image.fromarray(explanation_panel(obs[0], masks, cam, scale)).save(path)
            written.append(str(path))
        obs = env.step(actions).obs
    env.close()
    hist = histogram_of(np.concatenate([g.ravel() for g in gradients]))
    written.append(plot_gradient_histogram(
        hist, out_dir / "gradient_histogram.png",
        f"{policy.metadata['net']} on {policy.metadata['game']}, {len(gradients)} states"))
    columns = ["frames", *policy.mask_names, "grad_cam"]
    print(f"wrote {', '.join(written)} (columns: {', '.join(columns)})")


if __name__ == "__main__":
    start(main)
