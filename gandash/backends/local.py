"""This machine's backend: the runs folder's queue, whose dispatcher starts a waiting run's trainer when a slot frees,
and Stop through the run's lock."""
from __future__ import annotations

import os
import signal
import socket
import time
from typing import Any

from gandash.backends import Backend, dispatch
from gandash.store import locks
from gandash.store.lifecycle import ACTIVE, LOST_WHY, State, Status, signal_target
from gandash.store.queue import RunQueue, cpu_cores, queue_of
from gandash.store.runs import Run, RunError, describe_trainer, read_json


class LocalBackend(Backend):
    """The runs folder's queue: N slots, a waiting run is a record, the dispatcher starts its trainer."""

    name = "local"

    def submit(self, run: Run) -> None:
        queue_of(run).enqueue(run.id)
        dispatch.ensure(run.dir.parent)

    def cancel(self, run: Run, wait: float = 0.0) -> str:
        return stop_by_lock(run, wait)

    def describe(self, max_age: float = 0.0) -> dict[str, Any]:
        return {"address": "local", "cpus": float(cpu_cores()), "gpus": 0.0}

    def slots(self, cfg, root, running: int = 0) -> int:
        return RunQueue(root).slots()


TAKE_OVER_S = 5.0  # how long Stop waits for a launcher or deleter that holds the run's lock to let go


def stop_by_lock(run: Run, wait: float = 0.0) -> str:
    """Stop a run through its lock: signal its trainer, or settle it when no trainer holds it.

    Only the run's own trainer is signalled (lifecycle.signal_target); a process that holds the
    lock to launch or delete the run is waited for, never signalled. With ``wait`` this returns once
    the lock is free (``stopping`` if it is still held then).
    """
    deadline = time.monotonic() + wait
    give_up = time.monotonic() + max(wait, TAKE_OVER_S)
    while True:
        prior = locks.last_record(run.lock_path)  # a trainer's last words, before our own record replaces them
        try:
            lock = run.take_trainer_lock(role="stopping")
        except RunError:
            lock = None
        if lock is not None:
            with lock:
                return settle(run, prior)
        holder = run.trainer()
        pid = signal_target(holder)
        if pid is not None:
            break
        if holder and holder.get("role", "trainer") == "trainer" and holder.get("host") not in (None, _host()):
            raise RunError(f"run {run.id} is trained on {holder['host']} (pid {holder.get('pid', '?')}); stop it "
                           f"there, with `python -m gandash stop {run.id}` on that host")
        if time.monotonic() > give_up:
            raise RunError(f"run {run.id} is held by another process ({describe_trainer(holder)}); "
                           f"try again in a moment")
        time.sleep(0.05)  # being launched, deleted or stopped by someone else: look again
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass  # it ended just now: the lock is about to be free
    while run.trainer() is not None:
        if time.monotonic() >= deadline:
            return State.STOPPING
        dispatch.reap()
        time.sleep(0.1)
    return settle(run)


def settle(run: Run, prior: dict[str, Any] | None = None) -> str:
    """No trainer holds the run: record an active state as what became of it; return the state."""
    data = read_json(run.status_path)
    status = Status.from_json(data)
    if status.active:
        last = prior if prior is not None else locks.last_record(run.lock_path)
        ended = (last.get("exit") or {}) if int(last.get("attempt") or 0) == status.attempt else {}
        queue_of(run).leave(run.id)
        if ended.get("state") in {str(s) for s in State} - {str(s) for s in ACTIVE}:
            run.write_status(state=ended["state"], error=str(ended.get("error", "")))  # its last status write failed
        elif status.state == State.QUEUED:
            run.write_status(state=State.STOPPED, error="cancelled while waiting in the queue", queue_position=None)
        else:
            run.write_status(state=State.STOPPED, error=status.error or LOST_WHY["trainer"])
    return str(run.status().state)


def _host() -> str:
    return socket.gethostname()
