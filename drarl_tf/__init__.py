"""drarl_tf: Deep Residual Attention Reinforcement Learning (Zhu & Kaneko) in TensorFlow 2."""

import os as _os

# TensorFlow uses its oneDNN kernels by default only on CPUs with AVX-512 VNNI/BF16 or
# AMX. On other x86 CPUs (AVX2) its own kernels are much slower for these networks: the
# max-pool gradient ~10x, the whole train step ~2x (scripts/benchmark.py --mode=onednn,
# docs/benchmarks.md). So drarl_tf turns oneDNN on unless TF_ENABLE_ONEDNN_OPTS is set
# (=0 turns it off). Only effective when drarl_tf is imported before TensorFlow.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
