"""Experiments: speed benchmarks (and, later, the paper's grids and tables)."""
