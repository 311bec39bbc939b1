"""Keeping actors alive: how a death is described, seeds of restarted actors, and the
bound on restarts. Shared by the process and Ray backends."""

from __future__ import annotations

import signal
import sys

from drarl_tf.errors import DrarlError
from drarl_tf.training.seeds import run_seed


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def describe_exit(code: int | None) -> str:
    if code is None:
        return "unresponsive"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def actor_seed(seed: int, actor_id: int, start: int) -> int:
    """Seed of actor `actor_id`'s `start`-th process (0 first, then one per restart) in a
    pool seeded with `seed`."""
    return run_seed(seed, "actor", actor_id, start)


class RestartBudget:
    """Restarts a dead actor unless it died `bound` times in a row without delivering
    an unroll in between (an actor that keeps failing at start-up, say a broken env);
    then stops the run with one line."""

    def __init__(self, num_actors: int, bound: int, warn=warn):
        self.bound = bound
        self.warn = warn
        self.in_a_row = [0] * num_actors
        self.total = 0

    def delivered(self, actor_id: int) -> None:
        self.in_a_row[actor_id] = 0

    def died(self, actor_id: int, how: str) -> None:
        """Call when actor `actor_id` has died; raises DrarlError when over the bound."""
        self.in_a_row[actor_id] += 1
        if self.in_a_row[actor_id] > self.bound:
            raise DrarlError(
                f"actor {actor_id} died {self.in_a_row[actor_id]} times in a row without "
                f"delivering an unroll (last: {how}); any error it printed is above. The "
                "learner's state is checkpointed; fix the cause and rerun the command to resume")
        self.total += 1
        self.warn(f"actor {actor_id} died ({how}); restarting it (restart {self.total} of "
                  f"the run; {self.in_a_row[actor_id]}/{self.bound} in a row for this actor)")
