"""Run-time services shared by every trainer: run directories, checkpoints, progress, CLI."""
