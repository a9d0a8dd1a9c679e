"""Train runs as Ray tasks on a cluster (optional: imported only for ``--backend ray``).

Ray Core, not Ray Tune: each run is one task that executes the very ``worker RUN_DIR`` entry a
local run uses, in a fresh process, writing its run directory into the shared runs folder. Ray
places the tasks, queues them across the cluster and retries a task whose worker or node died;
the retry resumes from the run's ``checkpoint.npz``.

A task dies with the process that submitted it, so tasks are submitted by one detached actor,
``trainings`` in namespace ``gandash``, which outlives the CLI or dashboard that asked. It holds
each task's reference, so Stop from any shell can cancel it: a waiting task never starts, and a
training one gets SIGINT, which the trainer takes as a stop (it checkpoints and ends ``stopped``).

The address is Ray's own: ``RAY_ADDRESS``, else a cluster started on this machine with
``ray start --head``. Every node must see the runs folder and the data at the same paths.
"""
from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gandash.backends import Backend
from gandash.backends.dispatch import PACKAGE_ROOT
from gandash.backends.local import stop_by_lock
from gandash.store.lifecycle import ACTIVE, Status
from gandash.store.queue import CORES_PER_CPU_SLOT
from gandash.store.runs import Run, RunError, atomic_write_json, backend_file, read_json

NAMESPACE = "gandash"
SUPERVISOR = "trainings"
MAX_RETRIES = 3  # a task whose worker or node dies is started again this many times
VOUCH_EVERY_S = 10.0  # the actor says which runs it holds this often (lifecycle.BACKEND_STALE_S: lost after 60 s)
PASSED_ENV = ("GANDASH_DATA_DIR", "GANDASH_RUNS_DIR", "TF_CPP_MIN_LOG_LEVEL")
INSTALL_HINT = ("Ray is not installed: `pip install -r requirements-cluster.txt`, then point RAY_ADDRESS at the "
                "cluster's head (or run `ray start --head` here)")


def installed() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def session() -> Iterator[Any]:
    """Connected to the cluster for the length of a ``with``; yields the ``ray`` module. RunError when none answers.

    No process stays connected: Ray ends a connected process once its cluster has been gone for a
    minute, and the dashboard must outlive the cluster. Inside a Ray task the task's own
    connection is used and kept.
    """
    if not installed():
        raise RunError(INSTALL_HINT)
    import ray

    if ray.is_initialized():
        yield ray
        return
    address = os.environ.get("RAY_ADDRESS") or "auto"
    where = f"RAY_ADDRESS={address}" if address != "auto" else "this machine (RAY_ADDRESS is not set)"
    if address == "auto":
        address = _local_address()
        if address is None:
            raise RunError(f"no Ray cluster answers at {where}: none was started here (`ray start --head`)")
        where += f", whose last cluster was at {address}"
    if not _listens(address):  # Ray itself retries a silent address for minutes
        raise RunError(f"no Ray cluster answers at {where}: nothing listens there")
    try:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, logging_level="ERROR")
    except Exception as e:  # refused, timed out, or no token for an authenticated cluster
        raise RunError(f"no Ray cluster answers at {where}: {str(e).splitlines()[0][:200]} (a cluster with "
                       f"token authentication also needs RAY_AUTH_MODE=token and its token here)") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _local_address() -> str | None:
    """The address of the cluster last started on this machine, as Ray would find it for "auto" (its
    ``ray_current_cluster`` file, or a running GCS); None when there is none. It may be dead: probe it."""
    try:
        from ray._private.services import canonicalize_bootstrap_address

        return canonicalize_bootstrap_address("auto")
    except Exception:  # noqa: BLE001 - no cluster found, or Ray's private helper moved
        return None


def _listens(address: str, timeout: float = 3.0) -> bool:
    """Whether a ``host:port`` address accepts a connection (``ray://`` addresses are left to Ray)."""
    host, _, port = address.rpartition(":")
    if "://" in address or not port.isdigit():
        return True
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError:
        return False
    return True


_described: dict[str, tuple[float, dict[str, Any]]] = {}


def describe(max_age: float = 0.0) -> dict[str, Any]:
    """The cluster as the forms show it: nodes, total and free CPUs and GPUs (one seen less than
    ``max_age`` seconds ago is reused: a page that refreshes every few seconds connects less often)."""
    address = os.environ.get("RAY_ADDRESS") or "local"
    seen = _described.get(address)
    if seen and time.monotonic() - seen[0] < max_age:
        return seen[1]
    with session() as ray:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        total, free = ray.cluster_resources(), ray.available_resources()
    _described[address] = (time.monotonic(), _summary(address, nodes, total, free))
    return _described[address][1]


def _summary(address: str, nodes: list[dict[str, Any]], total: dict[str, float], free: dict[str, float]):
    return {"address": address, "nodes": len(nodes),
            "hosts": sorted({n.get("NodeManagerHostname", "?") for n in nodes}),
            "cpus": total.get("CPU", 0.0), "gpus": total.get("GPU", 0.0),
            "free_cpus": free.get("CPU", 0.0), "free_gpus": free.get("GPU", 0.0),
            "node_cpus": max((n.get("Resources", {}).get("CPU", 0.0) for n in nodes), default=0.0),
            "node_gpus": max((n.get("Resources", {}).get("GPU", 0.0) for n in nodes), default=0.0)}


def resources(cfg, cluster: dict[str, Any]) -> dict[str, float]:
    """What one run asks Ray for: a GPU where the cluster has them (all of a node's for mirrored),
    else its share of the cores, the same share a local slot gets."""
    if cluster["gpus"] >= 1:
        gpus = max(1.0, cluster["node_gpus"]) if cfg.distribute == "mirrored" else 1.0
        return {"num_gpus": gpus, "num_cpus": 1.0}
    return {"num_cpus": float(max(1, min(CORES_PER_CPU_SLOT, int(cluster["node_cpus"]) or 1)))}


def fitting(cfg, cluster: dict[str, Any] | None = None, running: int = 0) -> int:
    """How many runs like ``cfg`` train at once: those training now plus what fits in Ray's free resources."""
    cluster = cluster or describe()
    need = resources(cfg, cluster)
    fits = [math.floor(cluster["free_gpus" if k == "num_gpus" else "free_cpus"] / v) for k, v in need.items() if v]
    return max(1, running + max(0, min(fits, default=0)))


# -- the driver side: submit, cancel --------------------------------------------------------------
def _supervisor(ray):
    return _Trainings.options(name=SUPERVISOR, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
                              runtime_env=_runtime_env()).remote()


def _runtime_env() -> dict[str, Any]:
    env = {k: os.environ[k] for k in PASSED_ENV if os.environ.get(k)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return {"env_vars": env}


class RayBackend(Backend):
    """Runs as Ray tasks; a waiting run is vouched for by the actor that holds its task."""

    name = "ray"

    def describe(self, max_age: float = 0.0) -> dict[str, Any]:
        return describe(max_age)

    def connected(self):
        return session()

    def probe(self) -> tuple[dict[str, Any] | None, str]:
        if not installed():
            return None, INSTALL_HINT
        return super().probe()

    def slots(self, cfg, root, running: int = 0) -> int:
        return fitting(cfg, self.describe(max_age=15.0), running)

    def waiting_text(self, status: Status) -> str:
        return "with the Ray cluster: waiting for its resources, or for a retry"

    def submit(self, run: Run) -> None:
        """Hand a run to Ray: it waits (``queued``) until the cluster has its resources, then trains."""
        with session() as ray:
            need = resources(run.config(), describe())
            try:
                taken = ray.get(_supervisor(ray).submit.remote(str(run.dir), need, _runtime_env()), timeout=60)
            except Exception as e:  # noqa: BLE001 - whatever Ray raised, say it in one line
                raise RunError(f"run {run.id}: Ray did not take it ({str(e).splitlines()[0][:200]})") from None
        if not taken:
            raise RunError(f"run {run.id} is already queued or training on the Ray cluster")

    def cancel(self, run: Run, wait: float = 0.0) -> str:
        """Cancel the run's task (a training one stops with its checkpoint). With no cluster to ask, the
        run is stopped through its lock like a local one: a trainer here is signalled, a waiting run settled."""
        try:
            with session() as ray:
                ray.get(_supervisor(ray).cancel.remote(str(run.dir)), timeout=60)
        except Exception:  # noqa: BLE001 - the cluster is gone or does not answer
            return stop_by_lock(run, wait)
        deadline = time.monotonic() + wait
        while run.status().state in ACTIVE and time.monotonic() < deadline:
            time.sleep(0.2)
        if run.trainer() is None and run.status().state in ACTIVE:
            return stop_by_lock(run, 0.0)  # its task is gone (the cluster restarted?)
        state = run.status().state
        return "stopping" if state in ACTIVE else str(state)


# -- the cluster side: the task and the actor that owns it --------------------------------------------
def in_task() -> dict[str, Any]:
    """Inside a Ray task: the cores Ray gave it and the node it runs on."""
    import ray

    context = ray.get_runtime_context()
    cpus = context.get_assigned_resources().get("CPU")
    node = next((n for n in ray.nodes() if n.get("NodeID") == context.get_node_id()), {})
    name = node.get("NodeManagerHostname") or os.uname().nodename
    address = node.get("NodeManagerAddress")
    return {"threads": max(1, int(cpus)) if cpus else None,
            "node": f"{name} ({address})" if address and address != name else name}


def _train(run_dir: str) -> int:
    """The task: the trainer's own entry (train.work) in this Ray worker, logging to the run's train.log."""
    from gandash.engine.train import work

    log = os.open(Run(Path(run_dir)).log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    state = work(run_dir, placement={"queued": False, **in_task()})  # Ray queued it and gave it its cores
    return 0 if state in ("finished", "stopped", "diverged") else 1


class Trainings:
    """The detached actor that submits every run's task and keeps its reference until it ends."""

    def __init__(self):
        self.tasks: dict[str, Any] = {}
        self.vouching = False

    async def submit(self, run_dir: str, need: dict[str, float], runtime_env: dict[str, Any]) -> bool:
        if run_dir in self.tasks:
            return False
        Run(Path(run_dir)).write_status(state="queued", backend="ray", error="", lost=False, pid=None,
                                        queue_position=None, ray_resources=need)  # before the task can start
        ref = _train_task.options(**need, runtime_env=runtime_env).remote(run_dir)
        self.tasks[run_dir] = ref
        self._vouch()
        asyncio.get_running_loop().create_task(self._watch(run_dir, ref))
        if not self.vouching:
            self.vouching = True
            asyncio.get_running_loop().create_task(self._vouch_forever())
        return True

    def _vouch(self) -> None:
        """Say in each runs folder which of its runs we hold: a run nobody vouches for becomes lost."""
        now, folders = time.time(), {}
        for run_dir in self.tasks:
            folders.setdefault(Path(run_dir).parent, {})[Path(run_dir).name] = now
        for folder, runs in folders.items():
            try:
                atomic_write_json(backend_file(folder, "ray"), {"vouched": runs, "updated": now})
            except OSError:
                pass  # the shared folder is unreachable from here: its runs go lost, which is the truth

    async def _vouch_forever(self) -> None:
        while True:
            self._vouch()
            await asyncio.sleep(VOUCH_EVERY_S)

    async def _watch(self, run_dir: str, ref) -> None:
        """When the task is over: settle a run its trainer could not (cancelled before it began, or given up)."""
        import ray

        try:
            await ref
        except ray.exceptions.TaskCancelledError:
            _settle(Run(Path(run_dir)), "stopped", "cancelled before it began training")
        except Exception as e:  # noqa: BLE001 - the trainer's process or node died more often than Ray retries
            _settle(Run(Path(run_dir)), "failed",
                    f"Ray gave up after {MAX_RETRIES} retries: {type(e).__name__}: {str(e).splitlines()[0][:300]}")
        finally:
            self.tasks.pop(run_dir, None)

    async def cancel(self, run_dir: str) -> bool:
        import ray

        ref = self.tasks.get(run_dir)
        if ref is None:
            return False
        ray.cancel(ref)  # waiting: never starts; training: SIGINT, which the trainer takes as Stop
        return True


def _settle(run: Run, state: str, error: str) -> None:
    if run.dir.is_dir() and run.trainer() is None and Status.from_json(read_json(run.status_path)).active:
        run.write_status(state=state, error=error)


def _remote() -> None:
    """Declare the task and the actor (only once Ray is imported, so gandash without Ray never imports it)."""
    global _train_task, _Trainings
    import ray

    # max_calls=1: a fresh process per run, as locally (TensorFlow fixes its thread pools per process)
    _train_task = ray.remote(max_calls=1, max_retries=MAX_RETRIES, retry_exceptions=False)(_train)
    _Trainings = ray.remote(num_cpus=0, max_restarts=-1)(Trainings)


if installed():
    _remote()
