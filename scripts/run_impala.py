"""Train IMPALA (V-trace) with a DRARL or IMPALA network.

  python scripts/run_impala.py --net=drarl --game=RoadRunner      # the paper's run
  python scripts/run_impala.py --game=Catch --total_frames=300000 # a CPU demo in minutes

Re-running the same command resumes from the run directory's last checkpoint.
"""

import dataclasses

from absl import app, flags

from drarl_tf.impala import ImpalaConfig, train  # noqa: E402  (after cli sets TF log level)
from drarl_tf.runtime.cli import run_main

_DEFAULTS = ImpalaConfig.__dataclass_fields__
FLAGS = flags.FLAGS
for _field in dataclasses.fields(ImpalaConfig):
    _default = _field.default
    _help = f"ImpalaConfig.{_field.name} (default {_default})"
    if isinstance(_default, bool):
        flags.DEFINE_boolean(_field.name, _default, _help)
    elif isinstance(_default, int):
        flags.DEFINE_integer(_field.name, _default, _help)
    elif isinstance(_default, float):
        flags.DEFINE_float(_field.name, _default, _help)
    else:
        flags.DEFINE_string(_field.name, _default, _help)


def main(argv):
    del argv
    config = ImpalaConfig(**{f.name: FLAGS[f.name].value for f in dataclasses.fields(ImpalaConfig)})
    result = train(config)
    print(f"done: {result.frames:,} frames, {result.updates:,} updates, "
          f"mean return {result.mean_return:.2f} over the last "
          f"{min(result.episodes, 100)} games; run directory {result.run_dir}")


if __name__ == "__main__":
    app.run(lambda argv: run_main(main, argv))
