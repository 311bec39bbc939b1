"""The precisions a net can be built in (`build_network(precision=...)`), checked without
TensorFlow: float32 (the paper's), or the torso in bfloat16 / float16 with float32
variables and outputs."""

from __future__ import annotations

from drarl_tf.errors import DrarlError

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise DrarlError(f"unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}")
    return precision
