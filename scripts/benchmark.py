"""Speed benchmarks; prints Markdown tables and writes JSON.

  python scripts/benchmark.py --mode=env      # drarl_tf Atari env vs raw ale_py
  python scripts/benchmark.py --mode=nets     # forward / train-step samples/s per net
  python scripts/benchmark.py --mode=onednn   # the same with TensorFlow's oneDNN off and on
  python scripts/benchmark.py --mode=impala   # end to end vs the compute bound (docs/design.md#performance-model),
                                             # inference on the actors and on the learner
  python scripts/benchmark.py --mode=transport  # an unroll's way to the learner: pickled vs shared slot
  python scripts/benchmark.py --mode=a2c      # likewise for A2C (and --mode=ppo)
  python scripts/benchmark.py --mode=torch_ppo  # PPO frames/s vs Stable-Baselines3 (PyTorch),
                                               # same net; needs pip install -e .[compare]
  python scripts/benchmark.py --mode=minatar  # PPO with the MinAtar study's settings: one run
      # with all cores, one with the study's threads, two at once, and Stable-Baselines3 with
      # the same settings and IMPALA torso; --game defaults to MinAtarBreakout here;
      # needs pip install -e '.[compare,minatar]'
"""

import json

from absl import flags

from drarl_tf.cli.flags import load_tensorflow, start
from drarl_tf.configs import ImpalaConfig
from drarl_tf.errors import DrarlError
from drarl_tf.training.hardware import cpu_description

MINATAR_DEFAULT_GAME = "MinAtarBreakout"  # --mode=minatar's game unless --game is given

flags.DEFINE_enum("mode", "all", ["env", "nets", "onednn", "precision", "impala", "scaling", "a2c", "ppo",
                   "transport", "all", "torch_ppo", "minatar"],
                  "What to measure.")
flags.DEFINE_string("game", "Pong", "Atari game for the env and end-to-end measurements; "
                    f"--mode=minatar: a MinAtar game, {MINATAR_DEFAULT_GAME} unless given.")
flags.DEFINE_list("nets", ["impala", "drarl"], "Networks to measure (--mode=minatar: impala "
                  "unless given).")
flags.DEFINE_integer("num_envs", 32, "Envs for the env benchmark.")
flags.DEFINE_integer("num_actors", 2, "IMPALA actor processes (end to end).")
flags.DEFINE_integer("envs_per_actor", 16, "Envs per actor (end to end).")
flags.DEFINE_list("actor_counts", ["1", "2", "4"], "Actor counts for --mode=scaling.")
flags.DEFINE_float("seconds", 10.0, "Seconds per measurement.")
flags.DEFINE_string("precision", "float32", "Learner precision of the end-to-end modes "
                    "(impala, scaling, a2c, ppo): float32, mixed_bfloat16, mixed_float16 or "
                    "auto; --mode=precision compares them on the train step alone.")
flags.DEFINE_list("inference_modes", ["actor", "learner"], "--mode=impala and scaling: "
                  "where the policy acts (ImpalaConfig.inference), each measured.")
flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"], "--mode=precision: the "
                  "precisions to compare (the first is the reference); add mixed_float16 on "
                  "a GPU.")
flags.DEFINE_string("strategy", "default", "Learner strategy of --mode=impala (mirrored: "
                    "all local GPUs).")
flags.DEFINE_string("output_json", "", "Also write the results here.")
FLAGS = flags.FLAGS


def _table(rows: list[dict]) -> str:
    keys = list(rows[0])
    fmt = lambda v: f"{v:,.2f}" if isinstance(v, float) and v < 10 else (  # noqa: E731
        f"{v:,.0f}" if isinstance(v, float) else str(v))
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main(argv):
    del argv
    load_tensorflow()
    from drarl_tf.experiments import benchmark

    results = {"machine": cpu_description()}
    print(f"machine: {results['machine']}")
    if FLAGS.mode in ("env", "all"):
        results["env"] = benchmark.env_rates(FLAGS.game, FLAGS.num_envs, FLAGS.seconds)
        print("\n## Env steps/s (agent steps, all envs)\n\n" + _table([results["env"]]))
    if FLAGS.mode in ("nets", "all"):
        results["nets"] = benchmark.nets_rates(FLAGS.nets, seconds=FLAGS.seconds)
        print("\n## Networks, float32, 84x84x4\n\n" + _table(results["nets"]))
    if FLAGS.mode in ("onednn", "all"):
        results["onednn"] = benchmark.onednn_rates(FLAGS.nets, seconds=FLAGS.seconds)
        print("\n## TensorFlow's oneDNN kernels off / on (samples/s: forward batch 256, IMPALA "
              "train step 20 x 32)\n\n" + _table(results["onednn"]))
    if FLAGS.mode in ("precision", "all"):
        results["precision"] = benchmark.precision_rates(FLAGS.nets, seconds=FLAGS.seconds,
                                                         precisions=FLAGS.precisions)
        print("\n## IMPALA train step by precision and XLA, 84x84x4, 20 x 32\n\n"
              + _table(results["precision"]))
    if FLAGS.mode in ("impala", "all"):
        configs = [ImpalaConfig(net=net, game=FLAGS.game, num_actors=FLAGS.num_actors,
                                envs_per_actor=FLAGS.envs_per_actor, precision=FLAGS.precision,
                                inference=mode, strategy=FLAGS.strategy)
                   for net in FLAGS.nets for mode in FLAGS.inference_modes]  # checked first
        rows = [benchmark.impala_end_to_end(config, FLAGS.seconds) for config in configs]
        results["impala"] = rows
        print("\n## IMPALA end to end (samples = agent steps)\n\n" + _table(rows))
    if FLAGS.mode in ("scaling", "all"):
        counts = [int(c) for c in FLAGS.actor_counts]
        if any(c < 1 for c in counts):
            raise DrarlError(f"--actor_counts must be >= 1, got {FLAGS.actor_counts}")
        results["scaling"] = [row for net in FLAGS.nets for mode in FLAGS.inference_modes
                              for row in benchmark.impala_scaling(
                                  net, FLAGS.game, counts, FLAGS.envs_per_actor, FLAGS.seconds,
                                  FLAGS.precision, mode)]
        print("\n## IMPALA end to end by number of actors (batch 32 unrolls)\n\n"
              + _table(results["scaling"]))
    if FLAGS.mode in ("transport", "all"):
        from drarl_tf.experiments.transport import handover_rates

        results["transport"] = handover_rates(seconds=FLAGS.seconds)
        print("\n## An Atari unroll (20 x 16 envs, 84x84x4) from an actor process into the "
              "learner's batch\n\n" + _table(results["transport"]))
    for algo in ("a2c", "ppo"):
        if FLAGS.mode not in (algo, "all"):
            continue
        module = __import__(f"drarl_tf.{algo}", fromlist=["train"])
        cls = module.A2CConfig if algo == "a2c" else module.PPOConfig
        results[algo] = [benchmark.on_policy_end_to_end(
            algo, cls(net=net, game=FLAGS.game, precision=FLAGS.precision), FLAGS.seconds)
            for net in FLAGS.nets]
        print(f"\n## {algo.upper()} end to end (paper defaults; samples = agent steps)\n\n"
              + _table(results[algo]))
    if FLAGS.mode == "torch_ppo":  # not in "all": it needs the optional torch packages
        from drarl_tf.experiments import torch_reference

        torch_reference.require()  # before a minute of training
        # SB3 first, in its own process (no TensorFlow there), then drarl_tf here.
        theirs = torch_reference.sb3_ppo_rate_in_process(FLAGS.game)
        ours = torch_reference.drarl_ppo_rate(FLAGS.game, precision=FLAGS.precision)
        for row in (ours, theirs):
            row["ratio_to_sb3"] = row["frames_per_s"] / theirs["frames_per_s"]
        results["torch_ppo"] = [ours, theirs]
        print(f"\n## PPO on {FLAGS.game}, impala net, 8 envs x 128 steps, 4 epochs x 4 "
              "minibatches (frames/s after one warm-up update)\n\n" + _table([ours, theirs]))
    if FLAGS.mode == "minatar":  # not in "all": it needs the optional torch packages
        results["minatar"] = _minatar()
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as f:
            json.dump(results, f, indent=2)


def _minatar() -> dict:
    """--mode=minatar: `benchmark.minatar_rates` on --game (MinAtarBreakout unless given)
    with --nets (impala unless given), in the study's own precision (its train_flags'
    --precision, not this script's), printed as one table with each row's end-to-end
    steps/s over SB3's."""
    from drarl_tf.envs import check_game
    from drarl_tf.envs.minatar import is_minatar
    from drarl_tf.experiments import benchmark, torch_reference

    game = check_game(FLAGS.game if FLAGS["game"].present else MINATAR_DEFAULT_GAME)
    if not is_minatar(game):
        raise DrarlError(f"--mode=minatar needs a MinAtar game (e.g. {MINATAR_DEFAULT_GAME}), "
                         f"got {game}")
    nets = FLAGS.nets if FLAGS["nets"].present else ["impala"]
    torch_reference.require("minatar")  # before any measurement
    results = benchmark.minatar_rates(game, nets, FLAGS.seconds)
    results["table"] = benchmark.minatar_table(results)
    print(f"\n## PPO on {game}, the MinAtar study's settings ({' '.join(results['train_flags'])}"
          f"; precision {results['precision']}), SB3 with the same settings and IMPALA torso "
          f"(steps/s = frames/s; SB3's after one warm-up update); {cpu_description()}\n\n"
          + _table(results["table"]))
    return results


def run():
    """The installed command's entry point (setup.py's console_scripts)."""
    start(main)


if __name__ == "__main__":
    run()
