"""Locks the operating system holds for a process and drops when it dies: one trainer per run.

A lock is ``flock`` on a small file. The kernel releases it when the holder's last descriptor
of that open file closes, so a process killed with -9 never leaves a stale lock, and nothing
needs a pid file or a heartbeat to tell whether the holder lives. The holder keeps a short
JSON record in the file (pid, host, and at the end its exit state) so others can see who
holds it. The record has a fixed size and is rewritten in place: writing it needs no new disk
blocks, so a trainer can still leave its last words on a full disk (on file systems that
overwrite in place: ext4, xfs, tmpfs; not the copy-on-write btrfs or ZFS).

A lock taken by a parent can be handed to a child process as an inherited descriptor
(:meth:`Lock.fd` with ``pass_fds``): the check and the hand-over are then one atomic step, so
two launches racing for one lock start exactly one child.

Shared storage: on NFS, Linux emulates ``flock`` with POSIX byte-range locks (since 2.6.12),
so a lock taken on one host is seen from every host mounting the same export. When the
holder's host dies, the server drops its locks once the client's lease runs out (NFSv4: 90 s
by default). Other network file systems may not share locks between hosts at all; keep a
cluster's runs folder on NFS (v4, or v3 with lockd).
"""
from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

RECORD_BYTES = 1024
# Probes take a shared lock for a few microseconds; an exclusive attempt retries this long
# so that a reader looking at the lock at that instant is never taken for a holder.
PROBE_GRACE_S = 0.25


class Lock:
    """An exclusive ``flock`` held by this process through one open descriptor."""

    def __init__(self, path: Path, fd: int):
        self.path, self.fd = Path(path), fd

    @classmethod
    def acquire(cls, path: Path | str, record: dict[str, Any] | None = None, *,
                block: bool = False) -> Lock | None:
        """Take the lock and write ``record``; None when another process holds it.

        ``block=True`` waits for the holder instead of giving up.
        """
        path = Path(path)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            if not _flock_exclusive(fd, block):
                os.close(fd)
                return None
        except BaseException:
            os.close(fd)
            raise
        lock = cls(path, fd)
        try:
            lock.write(record or {})
        except BaseException:  # e.g. a full disk: never keep a lock nobody will release
            lock.release()
            raise
        return lock

    @classmethod
    def adopt(cls, path: Path | str, fd: int) -> Lock:
        """The lock a parent took on ``path`` and passed down as descriptor ``fd``."""
        path = Path(path)
        try:
            mine, there = os.fstat(fd), os.stat(path)
        except OSError as e:
            raise ValueError(f"descriptor {fd} is not the lock {path} ({e.strerror})") from None
        if (mine.st_dev, mine.st_ino) != (there.st_dev, there.st_ino):
            raise ValueError(f"descriptor {fd} is not the lock {path}")
        os.set_inheritable(fd, False)  # our own children must not keep it alive after us
        return cls(path, fd)

    def write(self, record: dict[str, Any]) -> None:
        """Replace the holder's record in place (fixed size, so no new disk blocks)."""
        os.pwrite(self.fd, fit_record(record).ljust(RECORD_BYTES - 1) + b"\n", 0)

    def release(self) -> None:
        """Close this process's descriptor. The lock is free once no process has one open:
        a child that inherited it keeps holding it."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def fit_record(record: dict[str, Any], limit: int = RECORD_BYTES - 1) -> bytes:
    """``record`` as UTF-8 JSON of at most ``limit`` bytes: its longest texts are shortened (with
    "…") until it fits, so a long error in any language keeps the exit state beside it."""
    record = dict(record)
    for _ in range(32):
        data = json.dumps(record, sort_keys=True, ensure_ascii=False).encode()
        over = len(data) - limit
        if over <= 0:
            return data
        size = {k: len(json.dumps(v, ensure_ascii=False).encode()) for k, v in record.items()
                if isinstance(v, str) and len(v) > 9}
        if not size:
            break
        key = max(size, key=size.__getitem__)
        text = record[key]
        cut = int(over * len(text) / size[key]) + 2  # bytes over → characters, by this text's bytes per char
        record[key] = text[:max(8, len(text) - cut)] + "…"
    return json.dumps({k: record[k] for k in ("pid", "host") if k in record}).encode()[:limit]


def _flock_exclusive(fd: int, block: bool) -> bool:
    if block:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True
    deadline = time.monotonic() + PROBE_GRACE_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


def holder(path: Path | str) -> dict[str, Any] | None:
    """The record of the process holding the lock at ``path``; None when nobody holds it.

    A holder whose record cannot be read yet (it is being written) gives ``{}``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_record(fd)
        return None  # free: our shared lock goes with the descriptor
    finally:
        os.close(fd)


def last_record(path: Path | str) -> dict[str, Any]:
    """The record the latest holder left (held or not); ``{}`` when there is none."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return {}
    try:
        return _read_record(fd)
    finally:
        os.close(fd)


def _read_record(fd: int) -> dict[str, Any]:
    for _ in range(3):  # a record caught mid-rewrite reads as broken JSON: look again
        try:
            data = json.loads(os.pread(fd, RECORD_BYTES, 0))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            time.sleep(0.01)
    return {}


_BOOT: list[str] = []


def boot_id() -> str:
    """This boot of the machine (Linux's boot id): what was written before a restart names another."""
    if not _BOOT:
        try:
            _BOOT.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
        except OSError:
            _BOOT.append("unknown")
    return _BOOT[0]
