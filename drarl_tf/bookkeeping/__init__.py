"""Run bookkeeping: the run directory and its lock, checkpoints, progress, the
SavedModel export and where results go."""
