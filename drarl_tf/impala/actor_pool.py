"""The default actor backend: spawned actor processes, each connected to the learner by
its own unroll channel (`drarl_tf.impala.channel`), restarted when they die or stall."""

from __future__ import annotations

import multiprocessing as mp
import time

from drarl_tf.configs import ImpalaConfig
from drarl_tf.envs import EnvSpec, describe
from drarl_tf.errors import DrarlError
from drarl_tf.impala.actor import run_actor
from drarl_tf.impala.channel import LearnerEnd, Request, StopWaiting, UnrollSlots
from drarl_tf.impala.inference import InferenceBuffers
from drarl_tf.impala.supervision import RestartBudget, actor_seed, describe_exit, warn
from drarl_tf.impala.weights_and_stop import SharedWeights, StopFlag
from drarl_tf.training.unroll import ActorMessage

__all__ = ["ActorPool", "StopWaiting", "process_state"]


class ActorPool:
    """Actor processes (start method spawn), each with its own channel to the learner.

    `get` returns the next actor's message with views of its slot, and `release` gives
    the slot back once the learner has copied it (`LearnerEnd`). A dead actor is seen at
    once (its pipe ends); one that delivers nothing for `config.actor_timeout_seconds`
    (stopped, or stuck) is named in one line and killed; both are restarted with a
    fresh seed and the slots the learner does not hold, while the others keep feeding
    the learner.

    With `config.inference == "learner"` the actors send "act" requests too: they
    wait in `requests` for an `InferenceServer`, which answers with `answer`.
    """

    STUCK_WARNING_SECONDS = 60.0  # no unroll from any actor for this long: say who is stuck
    # A new process imports TensorFlow and builds its envs before its first unroll: on a
    # loaded machine that takes a while, which does not count as a stall.
    STARTUP_SECONDS = 120.0

    def __init__(self, config: ImpalaConfig, env_fn, weights_shapes, seed: int, warn=warn,
                 spec: EnvSpec | None = None):
        self.config, self.env_fn, self.seed = config, env_fn, seed
        self.warn = warn
        self.ctx = mp.get_context("spawn")
        self.stop = StopFlag(self.ctx)
        self.learner_inference = config.inference == "learner"
        self.weights = None if self.learner_inference else SharedWeights(self.ctx,
                                                                         weights_shapes)
        self.capacity = max(1, config.queue_size // config.num_actors)  # unrolls per actor
        self.budget = RestartBudget(config.num_actors, config.max_actor_restarts, warn)
        n = config.num_actors
        spec = spec or describe(config.game, env_fn)
        # Per actor: one slot being written, `capacity` sent ahead of the learner, and
        # the learner's batch, which an actor may have to fill alone.
        self.channel = LearnerEnd(self.ctx, [
            UnrollSlots(self.ctx, self.capacity + config.messages_per_batch + 1,
                        config.unroll_length, config.envs_per_actor, spec.obs_shape,
                        spec.num_actions) for _ in range(n)])
        self.buffers = [InferenceBuffers(self.ctx, config.envs_per_actor, spec.obs_shape,
                                         spec.num_actions) for _ in range(n)
                        ] if self.learner_inference else None
        self.processes: list = [None] * n
        self.starts = [0] * n
        self._warned_stuck = False

    @property
    def restarts(self) -> int:
        return self.budget.total

    @property
    def slots(self) -> list[UnrollSlots]:
        return self.channel.slots

    @property
    def requests(self):
        return self.channel.requests

    def is_current(self, request: Request) -> bool:
        return self.channel.is_current(request)

    def answer(self, request: Request, version: int) -> None:
        self.channel.answer(request, version)

    def publish(self, weights, version: int) -> None:
        """Weights for the actors' own networks (nothing to do with learner inference)."""
        if self.weights is not None:
            self.weights.publish(weights, version)

    def _spawn(self, i: int) -> None:
        theirs, free = self.channel.connect(i)
        process = self.ctx.Process(
            target=run_actor,
            args=(i, self.config, self.env_fn, theirs, self.weights, self.stop,
                  actor_seed(self.seed, i, self.starts[i]), self.channel.slots[i], free,
                  self.buffers[i] if self.buffers else None),
            name=f"drarl-actor-{i}", daemon=True)
        try:
            process.start()
        except OSError as e:  # e.g. out of processes or memory
            raise DrarlError(f"could not start actor {i} ({e.strerror or e}); lower "
                             "--num_actors or --envs_per_actor") from None
        finally:
            theirs.close()  # the actor holds the only other end: its death ends the pipe
        self.processes[i] = process
        self.starts[i] += 1

    def start(self) -> None:
        for i in range(self.config.num_actors):
            self._spawn(i)

    def _replace(self, i: int, how: str | None = None) -> None:
        """Restarts actor `i`: after its death (`how` None: its exit is described) or,
        given `how`, after killing it."""
        process = self.processes[i]
        if how is None:
            process.join(timeout=5)
            if process.is_alive():  # closed its pipe but hangs: not an actor we can trust
                how = "stopped sending, killed"
            else:
                how = describe_exit(process.exitcode)
        if process.is_alive():
            process.kill()
            process.join()
        self.channel.disconnect(i)
        self.budget.died(i, how)
        self._spawn(i)

    def _check_stalls(self, waited: float) -> None:
        """While the learner waits: kills and restarts an actor that delivered nothing
        for too long; once, names what every actor is doing."""
        now, channel = time.monotonic(), self.channel
        for i, process in enumerate(self.processes):
            timeout = self.config.actor_timeout_seconds + (
                0.0 if channel.started[i] else self.STARTUP_SECONDS)
            if (process.is_alive() and channel.inboxes[i].empty()
                    and now - channel.last_seen[i] > timeout):
                self.warn(f"actor {i} (pid {process.pid}, {process_state(process.pid)}) "
                          f"delivered no unroll for {now - channel.last_seen[i]:.0f} s "
                          f"(--actor_timeout_seconds={self.config.actor_timeout_seconds:g}"
                          f"{'' if channel.started[i] else ', after a start-up allowance'}); "
                          "killing it")
                self._replace(i, f"no unroll for {now - channel.last_seen[i]:.0f} s, killed")
        if not self._warned_stuck and waited > self.STUCK_WARNING_SECONDS:
            self._warned_stuck = True
            states = "; ".join(f"actor {i} (pid {p.pid}): {process_state(p.pid)}"
                               for i, p in enumerate(self.processes))
            self.warn(f"no unroll from any actor for {waited:.0f} s; the learner is waiting "
                      f"for them ({states}); an actor is restarted after "
                      f"--actor_timeout_seconds={self.config.actor_timeout_seconds:g} s "
                      "without one")

    def get(self, timeout: float = 0.5, should_stop=None) -> ActorMessage:
        """The next actor's `ActorMessage` (its unroll: views of a slot, valid until
        `release`), taking ready actors in turn; restarts actors that died or stalled
        meanwhile. Raises `StopWaiting` as soon as `should_stop()` is true.

        One message per actor is handed over at a time; an actor blocks when the learner
        holds all its slots but the one it writes (`capacity` unrolls ahead, plus a batch).
        """
        self._warned_stuck = False
        message = self.channel.get(self._replace, self._check_stalls, timeout, should_stop)
        self.budget.delivered(message.actor_id)
        return message

    def release(self, messages) -> None:
        """Gives the slots of `messages` back to their actors (see `LearnerEnd.release`)."""
        self.channel.release(messages)

    def close(self, timeout: float = 3.0) -> None:
        """Stops the actors: they see the stop flag within a step; one that has not
        exited after `timeout` seconds (stopped, stuck) is killed."""
        self.stop.set()
        deadline = time.monotonic() + timeout
        for process in self.processes:
            if process is None:
                continue
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        self.channel.close()


def process_state(pid: int) -> str:
    """What Linux says a process is doing (`stopped` for SIGSTOP), for messages."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            code = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "state unknown"
    return {"R": "running", "S": "sleeping", "D": "waiting on I/O", "T": "stopped",
            "t": "stopped by a debugger", "Z": "exited"}.get(code, f"state {code}")
