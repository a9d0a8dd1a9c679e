"""Start, stop and resume trainer processes (each in its own session, outliving the caller).

A started trainer waits in the runs folder's queue (run_queue.py) for a slot before it trains;
stopping a queued run cancels its wait.

The launcher takes the run's trainer lock itself and hands it to the child as an inherited
descriptor, so "is a trainer alive?" and "start one" are one atomic step: two resumes pressed
at once start exactly one trainer, and the other gets a clear message.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from gandash.config import RunConfig
from gandash.locks import Lock
from gandash.run_queue import queue_of
from gandash.runs import ACTIVE_STATES, Run, RunError, RunStore, describe_trainer, read_json, trainer_record

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
_children: list[subprocess.Popen] = []


def _reap() -> None:
    """Collect exited children so they do not linger as zombies."""
    _children[:] = [p for p in _children if p.poll() is None]


def spawn(run: Run, lock: Lock) -> int:
    """Start ``python -m gandash worker RUN_DIR`` detached, handing it ``lock``; return its pid.

    Our own descriptor of the lock is closed either way: the child's copy then holds it alone.
    """
    _reap()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with open(run.log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gandash", "worker", str(run.dir), "--lock-fd", str(lock.fd)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, pass_fds=(lock.fd,),
                cwd=str(PACKAGE_ROOT), env=env, start_new_session=True,
            )
        lock.write(trainer_record(proc.pid))
    finally:
        lock.release()
    _children.append(proc)
    return proc.pid


def start(store: RunStore, cfg: RunConfig, backend: str = "local") -> Run:
    """Create a run directory for a validated config and start its trainer (here, or as a Ray task)."""
    if backend == "ray":
        from gandash import cluster

        with cluster.session():  # no cluster: RunError before anything is created
            run = store.create(cfg)
            cluster.submit(run)
        return run
    run = store.create(cfg)
    lock = run.take_trainer_lock()
    queue_of(run).enqueue(run.id)  # its place in line is the moment of the click
    spawn(run, lock)
    return run


def stop(run: Run, wait: float = 0.0) -> str:
    """Ask the run's trainer to stop (it checkpoints first); return the state afterwards.

    The trainer is the lock's holder. With ``wait`` the call returns ``stopped`` (or the state
    the trainer ended in) only once the lock is free, and ``stopping`` if it is still held then.
    A run whose trainer is gone is marked stopped. A trainer on another host cannot be signalled
    from here: RunError says where it runs, and the state is left alone. A Ray run's task is
    cancelled through Ray, wherever it runs.
    """
    _reap()
    status = run.status()
    if status.get("backend") == "ray" and status.get("state") in ACTIVE_STATES:
        from gandash import cluster

        return cluster.cancel(run, wait=wait)
    holder = run.trainer()
    if holder is None:
        return _mark_stopped_if_active(run)
    holder = _wait_for_pid(run, holder)
    pid, host = holder.get("pid"), holder.get("host")
    if host != socket.gethostname():
        raise RunError(f"run {run.id} is trained on {host} (pid {pid}); stop it there, "
                       f"with `python -m gandash stop {run.id}` on that host")
    if not isinstance(pid, int) or pid <= 0:
        raise RunError(f"run {run.id} has a trainer that has not said its pid; try again in a moment")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass  # it ended just now: the lock is about to be free
    deadline = time.monotonic() + wait
    while run.trainer() is not None:
        if time.monotonic() >= deadline:
            return "stopping"
        _reap()
        time.sleep(0.1)
    return _mark_stopped_if_active(run)


def _wait_for_pid(run: Run, holder: dict, timeout: float = 5.0) -> dict:
    """The holder's record once it names a pid (a launcher writes it right after starting)."""
    deadline = time.monotonic() + timeout
    while not isinstance(holder.get("pid"), int) and time.monotonic() < deadline:
        time.sleep(0.05)
        holder = run.trainer() or holder
    return holder


def _mark_stopped_if_active(run: Run) -> str:
    """No trainer holds the run: record an active state as what became of it."""
    if (read_json(run.status_path) or {}).get("state") in ACTIVE_STATES:
        seen = run.status()
        if seen.get("lost"):
            run.write_status(state="stopped", lost=False, error=seen.get("error", ""))
        elif seen.get("state") in ACTIVE_STATES:  # created a moment ago; no trainer ever ran
            run.write_status(state="stopped", error="stopped before training began")
        else:  # the trainer's exit state, kept in its lock record when status.json could not be written
            run.write_status(state=seen["state"], error=seen.get("error", ""))
    return run.status().get("state", "stopped")


def resume(run: Run, backend: str | None = None) -> int | None:
    """Start the trainer of an existing run again; it continues from its checkpoint.

    ``backend`` is where: ``local`` or ``ray``; by default where the run last trained. Returns the
    local trainer's pid (None for Ray).
    """
    status = run.status()
    if status.get("state") in ACTIVE_STATES:
        raise RunError(f"run {run.id} is already {status['state']} ({describe_trainer(run.trainer())})")
    run.config()  # refuse a run whose config is damaged before starting anything
    if (backend or status.get("backend") or "local") == "ray":
        from gandash import cluster

        if run.trainer() is not None:
            raise RunError(f"run {run.id} already has a trainer ({describe_trainer(run.trainer())})")
        cluster.submit(run)
        return None
    lock = run.take_trainer_lock()  # atomic: of two resumes at once, one gets here
    try:
        run.write_status(state="queued", error="", lost=False, pid=None, backend="local")
        queue_of(run).enqueue(run.id)
    except BaseException:
        lock.release()
        raise
    return spawn(run, lock)


def stop_then_delete(store: RunStore, run: Run, wait: float = 60.0) -> None:
    """Stop the run's trainer, wait for it to let go, then delete the run."""
    if stop(run, wait=wait) == "stopping":
        raise RunError(f"run {run.id}: the trainer did not stop within {wait:.0f} s; nothing was deleted")
    store.delete(run.id)
