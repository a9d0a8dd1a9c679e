"""A run's life: its states, the moves between them, who may signal it, and its typed status record.

Everything that starts, stops, lists or waits for a run asks this module what a run is: the CLI,
the pages, studies and the backends. The record on disk is ``status.json``; :meth:`Status.from_json`
reads every format written so far (a file without ``format`` is format 1) and fills what it lacks,
as MLflow's ``RunInfo.from_dictionary`` does. :func:`resolve` turns what is on disk plus what the
operating system says (the trainer lock, the queue, the backend) into the state a reader shows.
"""
from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

FORMAT = 2  # status.json's format: 2 adds ``format``, ``attempt`` and the lost state


class State(StrEnum):
    """Every state a run can be in. A ``str``: ``State.QUEUED == "queued"``."""

    QUEUED = "queued"  # waiting for a slot (a record in its queue) or for its backend's resources
    RUNNING = "running"  # its trainer holds the run's lock and trains
    STOPPING = "stopping"  # asked to stop; its trainer is writing its last checkpoint
    PAUSED = "paused"  # holds its slot and lock, trains no step (teach mode)
    STOPPED = "stopped"
    FINISHED = "finished"
    FAILED = "failed"
    DIVERGED = "diverged"
    LOST = "lost"  # shown, never written: active on disk, but nothing vouches for it any more


ACTIVE = frozenset({State.QUEUED, State.RUNNING, State.STOPPING, State.PAUSED})
ENDED = frozenset(State) - ACTIVE
# The moves a writer may make. A reader may also show any active state as LOST.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.QUEUED: frozenset({State.RUNNING, State.STOPPED, State.FINISHED, State.FAILED}),
    State.RUNNING: frozenset({State.STOPPING, State.PAUSED, State.STOPPED, State.FINISHED, State.FAILED,
                              State.DIVERGED}),
    State.PAUSED: frozenset({State.RUNNING, State.STOPPING, State.STOPPED, State.FAILED}),
    State.STOPPING: frozenset({State.STOPPED, State.FINISHED, State.FAILED, State.DIVERGED}),
    **{s: frozenset({State.QUEUED}) for s in (State.STOPPED, State.FINISHED, State.FAILED, State.DIVERGED,
                                              State.LOST)},  # Resume
}
STARTING_GRACE_S = 10.0  # a queued run nobody vouches for yet is being started, not lost, for this long
HEARTBEAT_STALE_S = 30.0  # a held lock with a heartbeat this old is "not responding" (it beats every 10 s)
BACKEND_STALE_S = 60.0  # a backend that has not vouched for its waiting run this long has lost it
MIN_BACKEND_STALE_S = 20.0  # twice the cluster's vouching interval: shorter would lose runs it still holds


def backend_stale_s() -> float:
    """:data:`BACKEND_STALE_S`, or ``$GANDASH_BACKEND_STALE_S`` seconds (at least :data:`MIN_BACKEND_STALE_S`): how
    long a cluster may stay silent before the runs it held read as lost."""
    try:
        value = float(os.environ.get("GANDASH_BACKEND_STALE_S", ""))
    except ValueError:
        return BACKEND_STALE_S
    return min(max(MIN_BACKEND_STALE_S, value), 86_400.0) if value == value else BACKEND_STALE_S

# Why a run shows as lost, by what was supposed to vouch for it.
LOST_WHY = {
    "queue": "it waited in the queue, and nothing holds its place there any more (lost); Resume queues it again",
    "backend": "its backend no longer answers for it (the cluster is gone?); Resume it here or on the cluster",
    "trainer": "trainer process ended without saying so (lost)",
}


def can_move(old: str, new: str) -> bool:
    """Whether a writer may change a run from ``old`` to ``new``."""
    return State(new) in TRANSITIONS.get(State(old), frozenset())


# -- who may signal whom -----------------------------------------------------------------------
TRAINER = "trainer"  # the role in a lock record of the process that trains (or waits to train) the run


def trainer_record(pid: int | None = None, role: str = TRAINER, **extra: Any) -> dict[str, Any]:
    """What a run lock's holder says of itself: its role, pid (default: this process), host, since when.

    Only a holder whose role is :data:`TRAINER` is ever signalled; a launcher or a deleter holds the
    lock with another role for a moment and is waited for instead.
    """
    import time

    return {"role": role, "pid": os.getpid() if pid is None else pid, "host": socket.gethostname(),
            "since": time.time(), **extra}


def signal_target(record: dict[str, Any] | None) -> int | None:
    """The pid that Stop may signal for a lock holder: the run's own trainer on this host, else None.

    A record without a role is a trainer of an earlier version (they wrote no role). A holder that is
    launching or deleting, or on another host, is never a target.
    """
    if not record or record.get("role", TRAINER) != TRAINER or record.get("host") != socket.gethostname():
        return None
    pid = record.get("pid")
    return pid if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 and pid != os.getpid() else None


# -- the record ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Status(Mapping):
    """A run's status as readers see it: typed fields, plus every other field status.json holds.

    It also reads as a mapping (``status["step"]``, ``status.get("device")``) of what it would write.
    """

    state: State
    step: int = 0
    total: int = 0
    error: str = ""
    backend: str = "local"
    attempt: int = 0
    queue_position: int | None = None
    not_responding: int | None = None  # seconds since the last heartbeat of a live but silent trainer
    format: int = FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def lost(self) -> bool:
        return self.state == State.LOST

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Status:
        """Read any format of status.json; a missing or damaged one is a failed run that says so."""
        if not isinstance(data, dict):
            return cls(State.FAILED, error="status.json is missing or damaged")
        try:
            state = State(data.get("state"))
        except ValueError:
            return cls(State.FAILED, error=f"status.json has an unknown state {data.get('state')!r}",
                       extra=_extras(data))
        return cls(state=state, step=_int(data.get("step")), total=_int(data.get("total")),
                   error=str(data.get("error") or ""), backend=str(data.get("backend") or "local"),
                   attempt=_int(data.get("attempt")), queue_position=_opt_int(data.get("queue_position")),
                   not_responding=_opt_int(data.get("not_responding")), format=_int(data.get("format")) or 1,
                   extra=_extras(data))

    def to_json(self) -> dict[str, Any]:
        return {**self.extra, "state": str(self.state), "step": self.step, "total": self.total, "error": self.error,
                "backend": self.backend, "attempt": self.attempt, "queue_position": self.queue_position,
                "lost": self.lost, "format": self.format,
                **({"not_responding": self.not_responding} if self.not_responding is not None else {})}

    def replace(self, **changes: Any) -> Status:
        from dataclasses import replace

        return replace(self, **changes)

    # Mapping: the record as the JSON readers (``runs --json``, the pages) have always seen it
    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def __len__(self) -> int:
        return len(self.to_json())


_TYPED = {"state", "step", "total", "error", "backend", "attempt", "queue_position", "not_responding", "format",
          "lost"}


def _extras(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in _TYPED}


def _int(v: Any) -> int:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v else 0


def _opt_int(v: Any) -> int | None:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v else None


# -- what a reader shows ----------------------------------------------------------------------
@dataclass(frozen=True)
class Evidence:
    """What vouches for an active run right now, gathered by the run directory's reader."""

    holder: dict[str, Any] | None  # the live trainer lock's record; None when the lock is free
    exit: dict[str, Any] | None  # the exit record the last holder left in the lock, if any
    waiting: bool | None  # a queued record: its queue holds its place and a dispatcher lives (None: no ticket)
    position: int | None  # its place in line, when waiting
    vouched_s: float | None  # a backend's run: seconds since the backend last vouched for it (None: never)
    silent_s: float  # seconds since status.json was last written


def resolve(status: Status, ev: Evidence) -> Status:
    """The state a reader shows: the record on disk, corrected by who is alive.

    - A live lock holder is the truth: the state stays; an old heartbeat adds ``not_responding``.
    - A free lock: the last holder's exit record of *this attempt* (kept there when its last status
      write failed) says how it ended; an older attempt's record is ignored, so a resumed run never
      reads as its previous ending.
    - Else a queued run is still queued while its queue or backend vouches for it, or while it is
      being started (:data:`STARTING_GRACE_S`); otherwise it, like any active run, is ``lost``.
    """
    if not status.active:
        return status
    if ev.holder is not None:
        if ev.silent_s > HEARTBEAT_STALE_S:
            return status.replace(not_responding=round(ev.silent_s))
        return status
    last = ev.exit or {}
    if isinstance(last.get("exit"), dict) and _int(last.get("attempt")) == status.attempt:
        try:
            ended = State(last["exit"].get("state"))
        except ValueError:
            ended = None
        if ended in ENDED:
            return status.replace(state=ended, error=str(last["exit"].get("error", "")), queue_position=None)
    if status.backend != "local" and ev.vouched_s is not None and ev.vouched_s < backend_stale_s():
        return status.replace(state=State.QUEUED, queue_position=None)  # its backend holds it: resources, or a retry
    if status.state == State.QUEUED:
        if ev.waiting:
            return status.replace(queue_position=ev.position)
        if ev.silent_s < STARTING_GRACE_S:
            return status
        why = LOST_WHY["backend" if status.backend != "local" else "queue"]
    else:
        why = LOST_WHY["backend"] if status.backend != "local" else (status.error or LOST_WHY["trainer"])
    return status.replace(state=State.LOST, queue_position=None, error=why)
