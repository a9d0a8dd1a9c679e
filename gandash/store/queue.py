"""The run queue: at most N trainers of a runs folder train at once, first in, first out.

Every start (Train's Start, Resume, Duplicate, the CLI, a study) puts its run in line here, in
state ``queued``. Waiting costs almost nothing: a waiting run is a *record*, a ticket file, and one
light process per runs folder, the dispatcher (dispatch.py), starts a trainer for the first record
in line whenever one of the folder's N slots is free. A trainer run in the foreground (``train``
without ``--detach``, or ``worker`` on a multi-worker host) is a *waiter*: its own process waits for
its turn. A slot is an ``flock`` on ``<runs>/_queue/slot-K.lock`` (see locks.py): the kernel drops it
when its trainer dies, so ``kill -9`` frees the slot at once and no pid file is needed. This is how
``flock(1)`` and GNU parallel's ``sem`` share a machine.

``<runs>/_queue/`` holds::

    settings.json         {"slots": N}; absent = the default from the hardware
    devices.json          the GPUs TensorFlow saw, written by trainers (so readers need no TF)
    slot-K.lock           held by the trainer training in slot K; its record names the run (or says
                          ``role: warm``: a warm trainer waiting there for the next run, see backends/warm.py)
    dashboard.json        {"seen": t}: when an open dashboard last asked for a warm slot
    tickets/<run>.json    {"order": t, "kind": "record" | "waiter", "boot": id}: a run's place in line
    dispatcher.lock       held by the live dispatcher
    line.json             {"line": [run ids]}: the order the dispatcher last saw (readers' positions)

The order is the tickets' ``order`` (start time; "move to the front" gives a smaller one). A
waiter's ticket counts while its process holds the run's trainer lock; a record's while a
dispatcher lives and the machine has not restarted since it was written. A queued run that no
ticket vouches for shows as lost, and Resume queues it again.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gandash.store import locks
from gandash.store.runs import QUEUE_DIR, RUN_ID_RE, Run, RunError, atomic_write_json, read_json, trainer_record

MAX_SLOTS = 64
POLL_S = 0.2  # how often a waiting trainer looks for a free slot
CORES_PER_CPU_SLOT = 4  # without a GPU, one slot per this many cores by default


def cpu_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class RunQueue:
    """The slots and the waiting line of one runs folder."""

    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()
        self.dir = self.root / QUEUE_DIR

    settings_path = property(lambda self: self.dir / "settings.json")
    devices_path = property(lambda self: self.dir / "devices.json")
    tickets_dir = property(lambda self: self.dir / "tickets")
    dispatcher_path = property(lambda self: self.dir / "dispatcher.lock")
    line_path = property(lambda self: self.dir / "line.json")

    def slot_path(self, k: int) -> Path:
        return self.dir / f"slot-{k}.lock"

    # -- the number of slots -------------------------------------------------------
    def slots(self) -> int:
        """N: the folder's setting, else one per GPU TensorFlow sees, else one per 4 cores."""
        n = (read_json(self.settings_path) or {}).get("slots")
        if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_SLOTS:
            return n
        return self.default_slots()

    def default_slots(self) -> int:
        gpus = (read_json(self.devices_path) or {}).get("gpus")
        if isinstance(gpus, list) and gpus:
            return min(MAX_SLOTS, len(gpus))
        return max(1, cpu_cores() // CORES_PER_CPU_SLOT)

    def explicit_slots(self) -> int | None:
        """The slots set by hand, or None when the default applies."""
        n = (read_json(self.settings_path) or {}).get("slots")
        return n if isinstance(n, int) and not isinstance(n, bool) else None

    def set_slots(self, n: int | None) -> int:
        """Set N (``None``: back to the default); waiting trainers see it within a poll."""
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_SLOTS):
            raise RunError(f"slots: {n!r} is not allowed; expected an integer from 1 to {MAX_SLOTS}")
        self.dir.mkdir(parents=True, exist_ok=True)
        if n is None:
            self.settings_path.unlink(missing_ok=True)
        else:
            atomic_write_json(self.settings_path, {"slots": n})
        return self.slots()

    def record_devices(self, gpus: list[str]) -> None:
        """What a trainer's TensorFlow saw, so the default N needs no TensorFlow to compute."""
        data = {"gpus": list(gpus), "cpu_cores": cpu_cores(), "updated": time.time()}
        if (read_json(self.devices_path) or {}).get("gpus") != data["gpus"]:
            self.dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.devices_path, data)

    def threads_per_trainer(self) -> int:
        """Each trainer's share of the cores, so N slots never oversubscribe the CPU."""
        return max(1, cpu_cores() // self.slots())

    # -- the line ------------------------------------------------------------------
    def _ticket(self, run_id: str) -> Path:
        return self.tickets_dir / f"{run_id}.json"

    def enqueue(self, run_id: str, *, keep_place: bool = False, kind: str = "record") -> None:
        """Put a run at the back of the line (``keep_place``: unless it already has a ticket).

        ``kind`` is ``record`` (the dispatcher starts its trainer) or ``waiter`` (its own process waits).
        """
        if keep_place and self._ticket(run_id).exists():
            order = self._order(run_id)
        else:
            order = time.time()
        self.tickets_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self._ticket(run_id), {"order": order, "kind": kind, "boot": locks.boot_id()})

    def leave(self, run_id: str) -> None:
        self._ticket(run_id).unlink(missing_ok=True)

    def move_to_front(self, run_id: str) -> None:
        """Give a waiting run the first place in line."""
        line = self.waiting()
        if run_id not in line:
            raise RunError(f"run {run_id} is not waiting in the queue")
        first = min((self._order(r) for r in line), default=time.time())
        atomic_write_json(self._ticket(run_id), {**(read_json(self._ticket(run_id)) or {}), "order": first - 1.0})

    def _order(self, run_id: str) -> float:
        order = (read_json(self._ticket(run_id)) or {}).get("order")
        return float(order) if isinstance(order, (int, float)) else float("inf")

    def tickets(self) -> list[tuple[float, str, dict[str, Any]]]:
        """(order, run id, ticket) of every ticket, first in line first; tickets of deleted runs are removed."""
        try:
            names = os.listdir(self.tickets_dir)
        except OSError:
            return []
        out = []
        for name in names:
            run_id = name[:-5] if name.endswith(".json") else ""
            if not RUN_ID_RE.fullmatch(run_id):
                continue
            ticket = read_json(self._ticket(run_id))
            if ticket is None or not (self.root / run_id).is_dir():
                self.leave(run_id)
                continue
            order = ticket.get("order")
            out.append((float(order) if isinstance(order, (int, float)) else float("inf"), run_id, ticket))
        return sorted(out, key=lambda t: (t[0], t[1]))

    def dispatcher_alive(self) -> bool:
        return locks.holder(self.dispatcher_path) is not None

    def waiting(self) -> list[str]:
        """Ids of the runs waiting for a slot, first in line first.

        A waiter counts while its process holds the run's trainer lock (a dead waiter's ticket is
        removed); a record counts while a dispatcher lives and the machine has not restarted since.
        """
        dispatcher, boot, line = None, locks.boot_id(), []
        for _, run_id, ticket in self.tickets():
            if ticket.get("kind", "waiter") == "waiter":
                if Run(self.root / run_id).trainer() is not None:
                    line.append(run_id)
                else:
                    self.leave(run_id)
                continue
            if dispatcher is None:
                dispatcher = self.dispatcher_alive()
            if dispatcher and ticket.get("boot") == boot:
                line.append(run_id)
        return line

    def held(self) -> list[dict[str, Any]]:
        """The held slots: ``{"slot": K, "run": id, "pid": ..., "since": ..., "role": ...}``, by slot."""
        out = []
        for k in self._slot_indices():
            record = locks.holder(self.slot_path(k))
            if record is not None:
                out.append({"slot": k, **record})
        return out

    def training(self) -> list[dict[str, Any]]:
        """The slots whose trainer trains a run, by slot."""
        return [s for s in self.held() if s.get("role") != "warm"]

    def warm(self) -> list[dict[str, Any]]:
        """The slots held by a warm trainer that waits for the next run (TensorFlow loaded)."""
        return [s for s in self.held() if s.get("role") == "warm"]

    def _slot_indices(self) -> list[int]:
        """Every slot that has a lock file (slots above N stay held until their trainer ends)."""
        ks = set(range(self.slots()))
        try:
            for name in os.listdir(self.dir):
                if name.startswith("slot-") and name.endswith(".lock") and name[5:-5].isdigit():
                    ks.add(int(name[5:-5]))
        except OSError:
            pass
        return sorted(ks)

    def position(self, run_id: str) -> int | None:
        """1 for the first in line; None when the run is not waiting."""
        line = self.waiting()
        return line.index(run_id) + 1 if run_id in line else None

    # -- taking a slot -----------------------------------------------------------------
    def wait_for_slot(self, run_id: str, *, stop: Callable[[], bool] = lambda: False,
                      on_wait: Callable[[int, int], None] | None = None) -> tuple[locks.Lock, int] | None:
        """Block until this run may train; return (its slot's lock, K), or None when ``stop()``.

        The caller must hold the run's trainer lock (that is what makes its ticket count).
        ``on_wait(position, slots)`` is called whenever the place in line or N changes.
        """
        self.enqueue(run_id, keep_place=True, kind="waiter")
        seen = None
        while not stop():
            n = self.slots()
            held = {s["slot"] for s in self.held()}
            line = self.waiting()
            pos = line.index(run_id) if run_id in line else len(line)
            if pos < n - len(held):
                for k in range(n):
                    if k in held:
                        continue
                    lock = self.take_slot(k, run_id)
                    if lock is not None:
                        self.leave(run_id)
                        return lock, k
            if on_wait and (pos + 1, n) != seen:
                seen = (pos + 1, n)
                on_wait(pos + 1, n)
            time.sleep(POLL_S)
        self.leave(run_id)
        return None

    def take_slot(self, k: int, run_id: str) -> locks.Lock | None:
        """Slot K's lock for ``run_id``, or None when another trainer holds it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        return locks.Lock.acquire(self.slot_path(k), trainer_record(role="slot", run=run_id, slot=k))

    def free_slots(self) -> list[int]:
        """The slots below N that no trainer holds, lowest first."""
        held = {s["slot"] for s in self.held()}
        return [k for k in range(self.slots()) if k not in held]

    def describe(self) -> dict[str, Any]:
        """Everything ``python -m gandash queue`` and the Runs page show."""
        return {"slots": self.slots(), "explicit": self.explicit_slots(), "default": self.default_slots(),
                "cpu_cores": cpu_cores(), "threads_per_trainer": self.threads_per_trainer(),
                "training": self.training(), "warm": [s["slot"] for s in self.warm()],
                "waiting": self.waiting()}


def queue_of(run: Run) -> RunQueue:
    """The queue of the runs folder that holds ``run``."""
    return RunQueue(run.dir.parent)
