"""Which worker this process is, for a learner spread over machines (`--strategy=multi_worker`).

The cluster comes from the `TF_CONFIG` environment variable, as for any
`tf.distribute.MultiWorkerMirroredStrategy` job: every worker runs the same
`run_impala.py` command with its own `TF_CONFIG`, e.g. for the second of two

    TF_CONFIG='{"cluster": {"worker": ["host0:2222", "host1:2222"]},
                "task": {"type": "worker", "index": 1}}'

Worker 0 is the chief: it owns the run directory's checkpoints, TensorBoard
and SavedModel; the others log under `<logdir>/worker<i>/`.
"""

from __future__ import annotations

import dataclasses
import json
import os

from drarl_tf.errors import DrarlError


@dataclasses.dataclass(frozen=True)
class WorkerInfo:
    num_workers: int = 1
    index: int = 0

    @property
    def is_chief(self) -> bool:
        return self.index == 0


def worker_info(strategy: str, environ=None) -> WorkerInfo:
    """This process's place in the cluster: one worker unless `strategy` is
    "multi_worker", whose `TF_CONFIG` is checked here with one-line errors."""
    if strategy != "multi_worker":
        return WorkerInfo()
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    if not raw:
        raise DrarlError("--strategy=multi_worker needs TF_CONFIG, e.g. "
                         '{"cluster": {"worker": ["host0:2222", "host1:2222"]}, '
                         '"task": {"type": "worker", "index": 0}}')
    try:
        spec = json.loads(raw)
        workers = spec["cluster"]["worker"]
        task_type, index = spec["task"]["type"], int(spec["task"]["index"])
    except (ValueError, KeyError, TypeError) as e:
        raise DrarlError(f"TF_CONFIG is not a worker cluster spec ({e!r}); expected "
                         '{"cluster": {"worker": [...]}, "task": {"type": "worker", '
                         '"index": i}}') from None
    if set(spec["cluster"]) - {"worker"} or task_type != "worker":
        raise DrarlError("TF_CONFIG: --strategy=multi_worker uses workers only (worker 0 is "
                         f"the chief), got cluster jobs {sorted(spec['cluster'])} and task "
                         f"type '{task_type}'")
    if not isinstance(workers, list) or not workers:
        raise DrarlError("TF_CONFIG: cluster.worker must be a non-empty list of host:port")
    if not 0 <= index < len(workers):
        raise DrarlError(f"TF_CONFIG: task index {index} is not one of the "
                         f"{len(workers)} workers")
    return WorkerInfo(len(workers), index)
