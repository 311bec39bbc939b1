"""The networks' names and precisions, checked without TensorFlow (configs use these)."""

from __future__ import annotations

import difflib

from drarl_tf.errors import DrarlError

NET_NAMES = ("impala", "drarl", "simple_drarl", "large_impala")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def check_net_name(name: str) -> str:
    """Returns `name` if it is a known network, else raises a one-line DrarlError."""
    if name in NET_NAMES:
        return name
    close = difflib.get_close_matches(str(name).lower(), NET_NAMES, n=3, cutoff=0.4)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise DrarlError(f"unknown net '{name}'; choose one of {', '.join(NET_NAMES)}.{hint}")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise DrarlError(f"unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}")
    return precision
