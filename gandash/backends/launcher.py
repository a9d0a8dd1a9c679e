"""Start, stop, resume and delete runs: the lifecycle's operations, on whichever backend a run uses.

A start creates the run directory and hands it to a backend (see the package's interface): locally it becomes a
record in the runs folder's queue and the queue's dispatcher starts its trainer when a slot frees;
on Ray it becomes a task. Nothing trains in the caller, so the dashboard and the CLI return at once.
"""
from __future__ import annotations

import shutil
import time

from gandash import backends
from gandash.backends import local
from gandash.config import RunConfig
from gandash.store.lifecycle import State, Status
from gandash.store.runs import Run, RunError, RunStore, describe_trainer, read_json


def start(store: RunStore, cfg: RunConfig, backend: str = "local") -> Run:
    """Create a run directory for a validated config and queue it on ``backend``.

    A start that fails after the folder exists removes it: no run is left claiming to be queued.
    """
    where = backends.get(backend)
    run = store.create(cfg)
    try:
        run.write_status(backend=where.name)
        where.submit(run)
    except BaseException:
        shutil.rmtree(run.dir, ignore_errors=True)
        raise
    return run


def stop(run: Run, wait: float = 0.0) -> str:
    """Stop the run wherever it trains (its trainer checkpoints first); return the state afterwards.

    With ``wait`` the call returns ``stopped`` (or the state the trainer ended in) only once its
    trainer has let go, and ``stopping`` if it still holds the run then. A run its backend has lost
    is settled here. RunError when the trainer runs on another host that cannot be reached.
    """
    status = run.status()
    if status.state == State.LOST or not status.active:
        return local.stop_by_lock(run, wait)
    return backends.of(status).cancel(run, wait=wait)


def resume(run: Run, backend: str | None = None) -> None:
    """Queue an ended (or lost) run again; it continues from its checkpoint.

    ``backend`` is where; by default where the run last trained. Holding the run's lock while it is
    re-queued makes "is it active?" and "queue it" one step: of two resumes at once, one queues it.
    """
    run.config()  # refuse a run whose config is damaged before queuing anything
    before = run.status()
    if before.active and before.state != State.LOST:
        raise RunError(f"run {run.id} is already {before.state} ({describe_trainer(run.trainer())})")
    lock = run.take_trainer_lock(role="launching")
    try:
        now = Status.from_json(read_json(run.status_path))
        if now.attempt != before.attempt:  # another resume got here first
            raise RunError(f"run {run.id} is already {now.state}: someone else resumed it just now")
        where = backends.get(backend or before.backend)
        run.write_status(state=State.QUEUED, error="", lost=False, pid=None, queue_position=None,
                         backend=where.name, attempt=before.attempt + 1, queued_at=time.time())
    finally:
        lock.release()
    try:
        where.submit(run)
    except BaseException as e:
        run.write_status(state=State.STOPPED, error=f"could not be queued: {e}")
        raise


def stop_then_delete(store: RunStore, run: Run, wait: float = 60.0) -> None:
    """Stop the run's trainer, wait for it to let go, then delete the run."""
    if stop(run, wait=wait) == State.STOPPING:
        raise RunError(f"run {run.id}: the trainer did not stop within {wait:.0f} s; nothing was deleted")
    store.delete(run.id)
