"""Entry-point wrapper for scripts: user errors become one line and exit code 2."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_main(main, argv) -> None:
    """Calls `main(argv)`; a DrarlError or ValueError from a config prints `error: ...`, exits 2."""
    from absl import logging

    from drarl_tf.errors import DrarlError

    logging.set_verbosity(logging.WARNING)  # keep TensorFlow's INFO lines off the terminal
    try:
        main(argv)
    except DrarlError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
