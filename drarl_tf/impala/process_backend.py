"""The default actor backend: spawned processes, each sending unrolls down its own pipe."""

from __future__ import annotations

import multiprocessing as mp
import time
from multiprocessing import connection as mp_connection

from drarl_tf.impala.actor import run_actor
from drarl_tf.impala.config import ImpalaConfig
from drarl_tf.impala.supervision import RestartBudget, actor_seed, describe_exit, warn
from drarl_tf.impala.transport import SharedWeights, StopFlag


class ActorPool:
    """Actor processes (start method spawn), each sending unrolls down its own pipe.

    A dead actor is seen at once (its pipe reaches end of file; the complete unrolls
    it sent before are still read) and restarted with a fresh seed while the others
    keep feeding the learner.
    """

    def __init__(self, config: ImpalaConfig, env_fn, weights_shapes, seed: int, warn=warn):
        self.config, self.env_fn, self.seed = config, env_fn, seed
        self.ctx = mp.get_context("spawn")
        self.stop = StopFlag(self.ctx)
        self.weights = SharedWeights(self.ctx, weights_shapes)
        self.capacity = max(1, config.queue_size // config.num_actors)  # unrolls per actor
        self.budget = RestartBudget(config.num_actors, config.max_actor_restarts, warn)
        n = config.num_actors
        self.processes: list = [None] * n
        self.connections: list = [None] * n
        self.starts = [0] * n
        self._next = 0  # the actor served first when several are ready

    @property
    def restarts(self) -> int:
        return self.budget.total

    def publish(self, weights, version: int) -> None:
        self.weights.publish(weights, version)

    def _spawn(self, i: int) -> None:
        reader, writer = self.ctx.Pipe(duplex=False)
        process = self.ctx.Process(
            target=run_actor,
            args=(i, self.config, self.env_fn, writer, self.weights, self.stop,
                  actor_seed(self.seed, i, self.starts[i]), self.capacity),
            name=f"drarl-actor-{i}", daemon=True)
        process.start()
        writer.close()  # the actor holds the only writer: its death ends the pipe
        self.processes[i], self.connections[i] = process, reader
        self.starts[i] += 1

    def start(self) -> None:
        for i in range(self.config.num_actors):
            self._spawn(i)

    def _replace(self, i: int) -> None:
        process = self.processes[i]
        process.join(timeout=5)
        if process.is_alive():  # closed its pipe but hangs: not an actor we can trust
            process.kill()
            process.join()
            how = "stopped sending, killed"
        else:
            how = describe_exit(process.exitcode)
        self.connections[i].close()
        self.budget.died(i, how)
        self._spawn(i)

    def get(self, timeout: float = 0.5) -> dict:
        """The next unroll, taking ready actors in turn; restarts actors that died meanwhile.

        One message is read per call, so each actor's pipe and outbox stay the only
        buffers: actors block when they are `capacity` unrolls ahead of the learner.
        """
        while True:
            ready = mp_connection.wait(self.connections, timeout)
            if not ready:
                continue
            # Round robin over the ready actors, from the one after the last served.
            n = len(self.connections)
            order = sorted(ready, key=lambda c: (self.connections.index(c) - self._next) % n)
            i = self.connections.index(order[0])
            self._next = (i + 1) % n
            try:
                item = self.connections[i].recv()
            except (EOFError, OSError):
                self._replace(i)
                continue
            self.budget.delivered(i)
            return item

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        deadline = time.monotonic() + timeout
        for process in self.processes:
            if process is None:
                continue
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for conn in self.connections:
            if conn is not None:
                conn.close()
