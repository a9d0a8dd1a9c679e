"""Warm slots: a trainer process that keeps TensorFlow loaded and trains the next waiting run in its own slot.

A run's trainer (started by the dispatcher with slot K) does not exit when its run ends: it looks for the
next waiting record for :data:`NEXT_S`, claims it exactly as the dispatcher would (the run's lock, then
``running`` in slot K), clears Keras' state and trains it in the same process, so a study's second run
skips Python's and TensorFlow's start-up. While it waits it holds slot K with the record ``role: warm``;
the dispatcher leaves the first records in line to warm slots. An open dashboard keeps one warm trainer
ready (:func:`keep_warm`), so a Start pressed there trains within seconds. A warm trainer gives its slot
up at once when a foreground trainer (a waiter) is first in line, when N shrinks below its slot, or on
SIGTERM; ``kill -9`` frees its slot like any trainer's. ``GANDASH_WARM=0`` turns warm slots off,
``GANDASH_WARM_DASHBOARD=0`` only the dashboard's.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from gandash.backends import dispatch
from gandash.store import locks
from gandash.store.queue import RunQueue
from gandash.store.runs import Run, atomic_write_json, read_json, trainer_record

NEXT_S = 1.0  # after its run, a trainer looks this long for the next waiting run before it exits
MAX_RUNS = 25  # then the slot's next run starts in a fresh process (a bound on whatever a process accumulates)
DASHBOARD_S = 900.0  # the dashboard's warm trainer lives while a page was shown this recently
SEEN_EVERY_S = 30.0  # how often a page refreshes dashboard.json
POLL_S = 0.05


def enabled(dashboard: bool = False) -> bool:
    """Warm slots are on unless ``GANDASH_WARM=0``; the dashboard's own unless ``GANDASH_WARM_DASHBOARD=0`` too."""
    off = os.environ.get("GANDASH_WARM", "1") == "0"
    return not off and not (dashboard and os.environ.get("GANDASH_WARM_DASHBOARD", "1") == "0")


def dashboard_seen(queue: RunQueue) -> float:
    seen = (read_json(queue.dir / "dashboard.json") or {}).get("seen")
    return float(seen) if isinstance(seen, (int, float)) else 0.0


class WarmSlot:
    """Slot K of a runs folder, held by this process for as long as it trains runs or waits for one."""

    def __init__(self, queue: RunQueue, slot: locks.Lock, k: int):
        self.queue, self.slot, self.k = queue, slot, k
        self.quit = False

    def _on_signal(self, *_) -> None:
        self.quit = True

    def listen(self) -> None:
        """Between runs SIGTERM and SIGINT end the process (a run's trainer catches them while it trains)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def next_run(self, patience: float | None) -> tuple[Run, locks.Lock] | None:
        """Wait for a waiting record and claim it: (the run, its lock). None when none came within ``patience``
        seconds (``None``: while the dashboard is open), a foreground trainer is first in line, N no longer
        includes slot K, or a signal asked us to go."""
        self.listen()
        self.slot.write(trainer_record(role="warm", slot=self.k, ready=True))
        deadline = time.monotonic() + patience if patience is not None else None
        while not self.quit:
            if self.k >= self.queue.slots():
                return None
            for run_id in self.queue.waiting():
                ticket = read_json(self.queue.tickets_dir / f"{run_id}.json") or {}
                if ticket.get("kind") != "record":
                    return None  # a foreground trainer waits for a slot: give ours up
                run = Run(self.queue.root / run_id)
                lock = dispatch.claim(self.queue, run)
                if lock is not None:
                    dispatch.begin(self.queue, run, self.k)
                    self.slot.write(trainer_record(role="slot", run=run.id, slot=self.k))
                    return run, lock
            if deadline is not None and time.monotonic() > deadline:
                return None
            if deadline is None and time.time() - dashboard_seen(self.queue) > DASHBOARD_S:
                return None
            time.sleep(POLL_S)
        return None

    def train(self, run: Run, lock: locks.Lock) -> str:
        """Train one claimed run here, its output in its own train.log, with nothing left of the last run."""
        import keras

        from gandash.engine.train import train

        _log_to(run.log_path)
        keras.backend.clear_session(free_memory=True)
        since = time.time()
        return train(run, lock=lock, slot=(self.slot, self.k), keep_slot=True, since=since, booted=since)

    def serve(self, patience: float | None) -> None:
        """Train waiting runs until none comes within ``patience``; then give the slot up."""
        try:
            for _ in range(MAX_RUNS):
                claimed = self.next_run(patience)
                if claimed is None:
                    break
                self.train(*claimed)
        finally:
            self.slot.release()


def _log_to(path: Path) -> None:
    """Point this process's stdout and stderr at ``path`` (appending): each run's output lands in its own log."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    finally:
        os.close(fd)


def after_run(run_dir: str, slot_fd: int, k: int) -> None:
    """A dispatcher-started trainer whose run ended: train what waits next in its slot, if warm slots are on."""
    run = Run(Path(run_dir).resolve())
    queue = RunQueue(run.dir.parent)
    slot = locks.Lock.adopt(queue.slot_path(k), slot_fd)
    if not enabled():
        slot.release()
        return
    WarmSlot(queue, slot, k).serve(NEXT_S)


def keep_warm(root: Path | str) -> bool:
    """The open dashboard's part: note that it is open and keep one warm trainer ready in a free slot
    (none when warm slots are off, a trainer already waits warm, or every slot is busy). True when one is
    ready or being started."""
    if not enabled(dashboard=True):
        return False
    queue = RunQueue(root)
    now = time.time()
    if now - dashboard_seen(queue) > SEEN_EVERY_S:
        queue.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(queue.dir / "dashboard.json", {"seen": now})
    if queue.warm():
        return True
    if queue.waiting():
        return False  # the dispatcher is starting trainers: they stay warm after their runs
    for k in queue.free_slots():
        slot = queue.take_slot(k, "")
        if slot is None:
            continue
        try:
            slot.write(trainer_record(role="warm", slot=k))
            proc = dispatch.popen(["-m", "gandash.backends.warm", str(queue.root), str(slot.fd), str(k)],
                                   queue.dir / "warm.log", (slot.fd,))
            slot.write(trainer_record(proc.pid, role="warm", slot=k))
        finally:
            slot.release()
        return True
    return False


def _preload(queue: RunQueue) -> None:
    """What a Start needs first, done before it is pressed: TensorFlow with this slot's threads, and one chunk of
    the default preset trained in a scratch folder (its data read, its first build, trace and grid are the slowest:
    about 2 s of a first run's start-up in a fresh process). Nothing of it stays but caches."""
    import tempfile

    import keras

    from gandash.config import make_config
    from gandash.engine.distribute import setup_devices
    from gandash.engine.train import train
    from gandash.store.runs import RunStore

    setup_devices(threads=queue.threads_per_trainer())
    with tempfile.TemporaryDirectory(prefix="gandash-warm-") as scratch:
        cfg = make_config("fast", {"steps": 10, "name": "warm-up"})
        train(RunStore(scratch).create(cfg), install_signal_handlers=False, queued=False)
    keras.backend.clear_session(free_memory=True)


if __name__ == "__main__":  # python -m gandash.backends.warm ROOT SLOT_FD K: the dashboard's warm trainer
    queue = RunQueue(sys.argv[1])
    k = int(sys.argv[3])
    slot = locks.Lock.adopt(queue.slot_path(k), int(sys.argv[2]))
    warm = WarmSlot(queue, slot, k)
    warm.listen()
    _preload(queue)
    warm.serve(None)
