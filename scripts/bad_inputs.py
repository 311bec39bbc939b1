"""Run every bad input of drarl_tf.experiments.bad_inputs and print what the user sees.

  python scripts/bad_inputs.py                      # the Markdown table on stdout
  python scripts/bad_inputs.py --output=table.md    # also written to a file

Exits 1 if any case misses the promise (exit code 2, one `error:` line naming the
problem, no traceback).
"""

import sys
import tempfile
from pathlib import Path

from absl import flags

from drarl_tf.cli.flags import start
from drarl_tf.experiments.bad_inputs import markdown_table, run_all

flags.DEFINE_string("output", "", "Also write the table to this file.")
flags.DEFINE_integer("parallel", 2, "Cases run at once.")


def main(argv):
    with tempfile.TemporaryDirectory() as tmp:
        outcomes = run_all(Path(tmp), flags.FLAGS.parallel)
    table = markdown_table(outcomes)
    print(table)
    if flags.FLAGS.output:
        Path(flags.FLAGS.output).write_text(table)
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        print(f"MISSED: {o.case.script} {' '.join(o.case.args)}: exit {o.returncode}, "
              f"{len(o.error_lines)} error lines, traceback={o.traceback}", file=sys.stderr)
    print(f"{len(outcomes) - len(failed)}/{len(outcomes)} cases keep the promise")
    if failed:
        sys.exit(1)


def run():
    """The installed command's entry point (setup.py's console_scripts)."""
    start(main)


if __name__ == "__main__":
    run()
