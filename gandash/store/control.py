"""Teach mode's live controls of a run: pause, step and continue, as a request file its trainer obeys.

A reader (the CLI, the Monitor) writes ``control.json`` in the run directory: numbered requests, oldest first.
The run's trainer reads it after every compiled step and answers in status.json: ``control_seq``
is the last request it has carried out, ``control_error`` why it refused one. Requests a trainer
finds when it starts are old (a resumed run trains on, as a resumed running run does). The file
is the whole protocol, so a trainer on another host (Ray) obeys it too.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from gandash.store.lifecycle import ENDED, State, Status
from gandash.store.runs import Run, RunError, atomic_write_json

ACTIONS = ("pause", "step", "continue")
ONLY = {"": "both networks", "d": "the discriminator alone", "g": "the generator alone"}
MAX_STEPS = 10_000  # one step request
MAX_SLOW_S = 60.0  # slow motion: at most this long between steps


@dataclass(frozen=True)
class Request:
    """One request: ``pause``; ``step`` ``n`` times (``only`` "d" or "g": that network alone); ``continue``
    (``slow`` > 0: one step every ``slow`` seconds, with fresh samples after each)."""

    seq: int
    action: str
    n: int = 0
    only: str = ""
    slow: float = 0.0

    def describe(self) -> str:
        if self.action == "step":
            what = "update" if self.only else "step"
            return f"{self.n} {what}{'s' * (self.n != 1)} of {ONLY[self.only]}"
        if self.action == "continue" and self.slow:
            return f"slow motion, one step every {self.slow:g} s"
        return self.action


def path(run: Run) -> Path:
    return run.dir / "control.json"


KEEP = 32  # requests kept in the file: the newest, so that quick requests in a row are all carried out


def _parse(data) -> Request | None:
    if not isinstance(data, dict):
        return None
    try:
        req = Request(seq=int(data["seq"]), action=str(data["action"]), n=int(data.get("n") or 0),
                      only=str(data.get("only") or ""), slow=float(data.get("slow") or 0.0))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    return req if _valid(req) is None else None


def read_all(run: Run) -> list[Request]:
    """The requests in the file, oldest first (a damaged file, or a damaged entry: nothing asked there)."""
    try:
        data = json.loads(path(run).read_text())
    except (OSError, ValueError):  # none yet, or damaged
        return []
    entries = data if isinstance(data, list) else [data]  # one request: how the file began
    return sorted((req for req in map(_parse, entries[-KEEP:]) if req is not None), key=lambda r: r.seq)


def read(run: Run) -> Request | None:
    """The latest request, or None (none yet, or a damaged file: nothing is asked)."""
    reqs = read_all(run)
    return reqs[-1] if reqs else None


def _valid(req: Request) -> str | None:
    """Why a request cannot be carried out, or None."""
    if req.action not in ACTIONS:
        return f"unknown action {req.action!r}; choose one of {', '.join(ACTIONS)}"
    if req.only not in ONLY:
        return f"--only must be d or g, got {req.only!r}"
    if req.action == "step" and not 1 <= req.n <= MAX_STEPS:
        return f"--n must be between 1 and {MAX_STEPS:,}, got {req.n}"
    if not 0.0 <= req.slow <= MAX_SLOW_S or req.slow != req.slow:
        return f"--slow must be between 0 and {MAX_SLOW_S:g} seconds, got {req.slow:g}"
    return None


def ask(run: Run, action: str, n: int = 0, only: str = "", slow: float = 0.0) -> Request:
    """Write a request for the run's trainer; RunError when the run cannot take it now."""
    status = run.status()
    asked = read_all(run)
    seq = max(asked[-1].seq if asked else 0, answered(status)) + 1
    req = Request(seq=seq, action=action, n=int(n), only=only or "", slow=float(slow or 0.0))
    if (why := _valid(req)) is not None:
        raise RunError(why)
    if status.state == State.QUEUED:
        raise RunError(f"run {run.id} is waiting in the queue; {action} it once it trains")
    if status.state not in (State.RUNNING, State.PAUSED):
        raise RunError(f"run {run.id} is {status.state}; only a training run can be paused, stepped or continued"
                       + ("" if status.state == State.STOPPING else f" (resume it first: python -m gandash resume "
                                                                    f"{run.id})"))
    if action == "step" and status.state != State.PAUSED:
        raise RunError(f"run {run.id} is {status.state}; pause it first (python -m gandash pause {run.id})")
    kept = [asdict(r) for r in asked if r.seq > answered(status)][-(KEEP - 1):]
    atomic_write_json(path(run), [*kept, asdict(req)])  # what the trainer has not carried out yet, then this
    return req


def answered(status: Status) -> int:
    """The last request the run's trainer carried out (0: none, or a damaged record)."""
    seq = status.get("control_seq")
    return max(0, seq) if isinstance(seq, int) and not isinstance(seq, bool) else 0


WAIT_S = 60.0  # how long a caller waits for the trainer to answer a request (a step request: plus 2 s a step)


def wait(run: Run, req: Request, timeout: float | None = None, poll_s: float = 0.1) -> Status:
    """Wait until the trainer has carried out ``req`` (or refused it, or the run ended); the status then.

    RunError when the trainer refuses it, or has not answered within ``timeout`` seconds (default: WAIT_S,
    plus 2 s for each step asked for).
    """
    timeout = WAIT_S + 2.0 * req.n if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        status = run.status()
        if answered(status) >= req.seq:
            if status.get("control_error"):
                raise RunError(f"run {run.id}: {str(status['control_error'])[:300]}")
            return status
        if status.state in ENDED or status.lost:
            return status
        if time.monotonic() >= deadline:
            raise RunError(f"run {run.id}: its trainer has not carried out '{req.describe()}' within {timeout:.0f} s "
                           f"(it is {status.state} at step {status.step:,}); the request stays pending")
        time.sleep(poll_s)


class Inbox:
    """The trainer's side: new requests in the order asked, read at the cost of one ``stat`` when nothing
    changed."""

    def __init__(self, run: Run):
        self.run = run
        last = read(run)
        self.seen = last.seq if last else 0  # what was asked before this trainer started is not for it
        self._seen_stamp = self._stamp()
        self._waiting: list[Request] = []

    def _stamp(self) -> tuple | None:
        try:
            st = path(self.run).stat()  # a write is a rename: a new inode, even within the clock's resolution
            return st.st_mtime_ns, st.st_ino, st.st_size
        except OSError:
            return None

    def pending(self) -> Request | None:
        """The oldest request not yet carried out (it stays pending until ``done``)."""
        stamp = self._stamp()
        if stamp != self._seen_stamp:
            self._seen_stamp = stamp
            self._waiting = read_all(self.run)
        if self._waiting:  # after every batch: nothing to do when nothing waits
            self._waiting = [r for r in self._waiting if r.seq > self.seen]
        return self._waiting[0] if self._waiting else None

    def done(self, req: Request, error: str = "") -> dict:
        """The status fields that say ``req`` was carried out (or refused, with ``error``)."""
        self.seen = req.seq
        return {"control_seq": req.seq, "control_error": error}
