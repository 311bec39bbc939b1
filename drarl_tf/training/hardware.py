"""What the machine offers the learner: the CPU's bf16 instructions, and `--precision=auto`.

On a CPU with AVX512_BF16 or AMX-BF16, oneDNN runs the nets' bfloat16 convolutions
on those instructions: on a 2-core Xeon with AMX `mixed_bfloat16` made the train step
about 2x faster than float32 and training 1.5-1.7x faster end to end. On a CPU
without them (AVX2 only) the same setting is 14-16x slower, since every bf16
operation is emulated (scripts/benchmark.py --mode=precision, docs/benchmarks.md).
`auto` picks by that: bf16 only where the CPU has it and no GPU does the work.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

from drarl_tf.configs import AUTO
from drarl_tf.errors import DrarlError
from drarl_tf.networks.precision import PRECISIONS

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")  # as /proc/cpuinfo spells them


def parse_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """(model name, flags) of the first processor in a /proc/cpuinfo text."""
    model, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    return model, flags


@functools.cache
def cpu_info() -> tuple[str, frozenset[str]]:
    """(model name, flags) of this machine's CPU; ("", {}) where /proc/cpuinfo is missing."""
    try:
        return parse_cpuinfo(Path("/proc/cpuinfo").read_text())
    except OSError:
        return "", frozenset()


def bf16_cpu_flags(flags: frozenset[str] | None = None) -> tuple[str, ...]:
    """The bf16 instruction sets among `flags` (default: this CPU's)."""
    flags = cpu_info()[1] if flags is None else flags
    return tuple(f for f in BF16_CPU_FLAGS if f in flags)


def cpu_description() -> str:
    """One line for benchmark tables: model, cores, and the vector/bf16 extensions."""
    model, flags = cpu_info()
    simd = [f for f in ("avx2", "avx512f") if f in flags] + list(bf16_cpu_flags(flags))
    return f"{model or 'unknown CPU'}, {os.cpu_count()} cores, {' '.join(simd) or 'no AVX2'}"


def has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def auto_precision(has_bf16_cpu: bool, gpu: bool) -> str:
    """`auto`'s choice: bf16 on a CPU-only machine whose CPU has bf16 instructions; else
    float32 (the paper's; GPU precisions are chosen by hand, as neither was measured)."""
    return "mixed_bfloat16" if has_bf16_cpu and not gpu else "float32"


def resolve_precision(precision: str) -> str:
    """`auto` -> the precision for this machine; any other value is checked and kept."""
    if precision == AUTO:
        return auto_precision(bool(bf16_cpu_flags()), has_gpu())
    if precision not in PRECISIONS:
        raise DrarlError(f"unknown precision '{precision}'; choose one of "
                         f"{', '.join((AUTO,) + PRECISIONS)}")
    return precision


def resolved(config):
    """`config` with `precision="auto"` replaced by this machine's choice (any other
    config as it is)."""
    precision = resolve_precision(config.precision)
    if precision == config.precision:
        return config
    return dataclasses.replace(config, precision=precision)


def precision_hint(precision: str) -> str | None:
    """A line for the start of a float32 run on a CPU-only machine that has bf16."""
    found = bf16_cpu_flags()
    if precision != "float32" or not found or has_gpu():
        return None
    return (f"hint: this CPU has {'/'.join(found)}; --precision=auto (mixed_bfloat16) "
            "trained 1.5-1.7x faster on a 2-core Xeon with AMX, with the same learning on "
            "Catch (docs/benchmarks.md)")
