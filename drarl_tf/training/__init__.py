"""The training core: unrolls, the rollout collector, the learner skeleton and its
optimiser parts, the shared training loop, seeds, evaluation, and `precision=auto`."""
