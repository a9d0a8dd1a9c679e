"""The queue's dispatcher: one light process per runs folder that starts a waiting run's trainer when a slot frees.

A waiting run is a ticket (run_queue.py), not a process, so a study of 150 runs costs 150 small
files and this one process, which imports no TensorFlow. Whoever queues a run calls
:func:`ensure`; the dispatcher holds ``_queue/dispatcher.lock`` while it lives, so at most one runs
per folder, and it exits once nothing waits. For the first record in line and a free slot K it
takes the run's trainer lock and slot K's lock and hands both to a new trainer process
(``python -m gandash worker RUN_DIR --lock-fd A --slot-fd B``): the child holds them from its first
instant, so Stop can never find the run between owners, and ``kill -9`` of either process frees
exactly what it held.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from gandash.store import locks
from gandash.store.lifecycle import State, trainer_record
from gandash.store.queue import POLL_S, RunQueue
from gandash.store.runs import Run, atomic_write_json, read_json

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
IDLE_EXIT_S = 2.0  # with nothing in line for this long, the dispatcher exits (the next start starts another)
_children: list[subprocess.Popen] = []


def child_env() -> dict[str, str]:
    """The environment of a process we start: gandash importable from anywhere, TensorFlow quiet."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def reap() -> None:
    """Collect our exited children so they do not linger as zombies."""
    _children[:] = [p for p in _children if p.poll() is None]


def popen(argv: list[str], log: Path, pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
    """Start ``python ARGV`` detached (its own session: it outlives us and our terminal)."""
    reap()
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, *argv], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, pass_fds=pass_fds, cwd=str(PACKAGE_ROOT),
                                env=child_env(), start_new_session=True)
    _children.append(proc)
    return proc


def ensure(root: Path | str) -> None:
    """Make sure a dispatcher serves the runs folder ``root`` (start one unless one lives).

    Like a trainer's locks, the dispatcher's lock is taken here and handed to the new process, so
    starts racing each other start exactly one dispatcher.
    """
    queue = RunQueue(root)
    if queue.dispatcher_alive():
        return
    queue.dir.mkdir(parents=True, exist_ok=True)
    lock = locks.Lock.acquire(queue.dispatcher_path, trainer_record(role="dispatcher"))
    if lock is None:
        return  # another start began one a moment ago
    try:
        proc = popen(["-m", "gandash.backends.dispatch", str(queue.root), str(lock.fd)], queue.dir / "dispatcher.log",
                      (lock.fd,))
        lock.write(trainer_record(proc.pid, role="dispatcher"))
    finally:
        lock.release()


def spawn_trainer(run: Run, lock: locks.Lock, slot: locks.Lock | None = None, k: int | None = None) -> int:
    """Start the run's trainer, handing it the run's lock (and slot K's); return its pid.

    Our descriptors are closed either way: the child's copies then hold the locks alone.
    """
    argv = ["-m", "gandash", "worker", str(run.dir), "--lock-fd", str(lock.fd), "--since", f"{time.time():.3f}"]
    fds = [lock.fd]
    if slot is not None:
        argv += ["--slot-fd", str(slot.fd), "--slot", str(k)]
        fds.append(slot.fd)
    try:
        proc = popen(argv, run.log_path, tuple(fds))
        lock.write(trainer_record(proc.pid))
        if slot is not None:
            slot.write(trainer_record(proc.pid, role="slot", run=run.id, slot=k))
    finally:
        lock.release()
        if slot is not None:
            slot.release()
    return proc.pid


def claim(queue: RunQueue, run: Run) -> locks.Lock | None:
    """The run's lock, taken to start it from the line; None when it is not ours to start (being stopped,
    deleted or started by someone else: look again next time)."""
    lock = locks.Lock.acquire(run.lock_path, trainer_record(role="launching", run=run.id)) \
        if run.dir.is_dir() else None
    if lock is not None and (read_json(run.status_path) or {}).get("state") != State.QUEUED:
        queue.leave(run.id)  # stopped while it waited
        lock.release()
        return None
    return lock


def begin(queue: RunQueue, run: Run, k: int) -> None:
    """A claimed run leaves the line for slot K: it is running (starting up) from here, whatever its start-up takes."""
    queue.leave(run.id)
    run.write_status(state=State.RUNNING, queue_position=None, slot=k)


class Dispatcher:
    """Starts the first waiting records' trainers while slots are free."""

    def __init__(self, root: Path | str):
        self.queue = RunQueue(root)
        self.seen_line: list[str] | None = None

    def once(self) -> int:
        """One look at the line: start what may start; return how many tickets are in line."""
        line = self.queue.waiting()
        free = self.queue.free_slots()
        started, warm = [], len(self.queue.warm())  # the first records in line are a warm slot's to take
        for run_id in line[warm:warm + len(free)]:
            if not free:
                break
            ticket = read_json(self.queue.tickets_dir / f"{run_id}.json") or {}
            if ticket.get("kind") == "record" and self._start(Run(self.queue.root / run_id), free[0]):
                free.pop(0)
                started.append(run_id)
        line = [run_id for run_id in line if run_id not in started]
        if line != self.seen_line:  # the places readers show
            atomic_write_json(self.queue.line_path, {"line": line, "updated": time.time()})
            self.seen_line = line
        return len(line) + len(started)

    def _start(self, run: Run, k: int) -> bool:
        """Hand one waiting record and slot K to a new trainer; False when it is not ours to start."""
        lock = claim(self.queue, run)
        if lock is None:
            return False
        try:
            slot = self.queue.take_slot(k, run.id)
            if slot is None:
                return False
            begin(self.queue, run, k)
            try:
                spawn_trainer(run, lock, slot, k)  # the child holds both locks from here on
            except OSError as e:  # no process could be started (out of memory, ...): say so on the run
                run.write_status(state=State.FAILED, error=f"its trainer could not be started: {e}")
            return True
        finally:
            lock.release()  # a no-op once handed to the child

    def serve(self, lock_fd: int | None = None) -> None:
        """Dispatch until nothing has waited for :data:`IDLE_EXIT_S`, holding the dispatcher lock (handed
        down as ``lock_fd``, or taken here)."""
        if lock_fd is not None:
            me = locks.Lock.adopt(self.queue.dispatcher_path, lock_fd)
        else:
            me = locks.Lock.acquire(self.queue.dispatcher_path, trainer_record(role="dispatcher"))
        if me is None:
            return  # another dispatcher serves this folder
        idle_since = None
        while True:
            if self.once():
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > IDLE_EXIT_S:
                me.release()
                # a run queued while we decided to go: its ensure() saw us alive, so look once more
                boot = locks.boot_id()
                if not any(t[2].get("kind") == "record" and t[2].get("boot") == boot for t in self.queue.tickets()):
                    return
                me = locks.Lock.acquire(self.queue.dispatcher_path, trainer_record(role="dispatcher"))
                if me is None:
                    return
                idle_since = None
            time.sleep(POLL_S)


if __name__ == "__main__":
    Dispatcher(sys.argv[1]).serve(int(sys.argv[2]) if len(sys.argv) > 2 else None)
