"""What to say about a batch whose loss or gradients were not finite."""

from __future__ import annotations

import numpy as np


def batch_statistics(batch) -> str:
    """One line: each numeric array of `batch` (an `Unroll` or a dict) with its finite
    range and its count of NaN/inf entries, the arrays holding non-finite values first."""
    entries = []
    fields = batch._asdict() if hasattr(batch, "_asdict") else batch
    for key, value in fields.items():
        value = np.asarray(value)
        if value.dtype.kind not in "fiu" or value.size == 0:
            continue
        as_float = value.astype(np.float64)
        finite = np.isfinite(as_float)
        bad = int(value.size - finite.sum())
        text = key + (f" [{as_float[finite].min():.4g}, {as_float[finite].max():.4g}]"
                      if finite.any() else " [no finite value]")
        if bad:
            text += f" with {bad} non-finite of {value.size}"
        entries.append((bad == 0, key, text))
    return "; ".join(text for _, _, text in sorted(entries))
