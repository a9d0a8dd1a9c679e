"""The run directory: the only contract between the trainer and its readers.

``checkpoints/<run-id>/`` holds::

    config.json        the validated RunConfig (written once, atomically)
    status.json        state, pid, step, heartbeat... (replaced atomically)
    metrics.csv        one row per logged step, appended and flushed per row
    eval.csv           quality metrics per evaluated step (see evaluate.py)
    samples/step_XXXXXXX.png   fixed-noise grids
    generator.keras    the latest generator (plain Keras format)
    checkpoint.npz     resumable state: both networks, both optimizers, step, RNG
    train.log          the trainer process's stdout/stderr
    trainer.lock       held (flock) by the run's one live trainer: see locks.py

Whether a trainer is alive is answered by ``trainer.lock`` alone: an active state whose lock is
free is *lost*; a held lock whose heartbeat is old is *not responding*, never a reason to start
a second trainer.

This module owns every path. Run ids are generated here and every id coming
from outside is checked against :data:`RUN_ID_RE` and resolved inside the runs
directory before use.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gandash.config import ConfigError, RunConfig, config_from_dict
from gandash.errors import GandashError
from gandash.store import locks
from gandash.store.lifecycle import ACTIVE, FORMAT, Evidence, State, Status, resolve, trainer_record  # noqa: F401

RUN_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{2,63}")  # always used with fullmatch
STATES = tuple(str(s) for s in State)
ACTIVE_STATES = tuple(str(s) for s in ACTIVE)
UPLOADS = "_uploads"  # uploaded datasets; not a valid run id, so never listed as a run
QUEUE_DIR = "_queue"  # the queue's files (run_queue.py); not a valid run id
BACKENDS_DIR = "_backends"  # what each backend vouches for: <name>.json {"vouched": {run_id: time}}
DELETING = ".deleting-"  # a run folder being deleted is first renamed to this prefix: no run id matches it


class RunError(GandashError):
    """A run id is invalid, unknown, or its files cannot be used."""


def default_runs_dir() -> Path:
    return Path(os.environ.get("GANDASH_RUNS_DIR") or "checkpoints")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path, ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def temp_path(path: Path, suffix: str) -> Path:
    """A hidden temp name beside ``path``, unique to this writer (pid plus a random part)."""
    return path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def fsync_file(path: Path) -> None:
    """Flush a file another library wrote (a .keras archive) to disk before it is renamed."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (the new name survives a power cut)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return  # not supported here (some network file systems): the rename still happened
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_durably(tmp: Path, path: Path) -> None:
    """fsync ``tmp``, rename it to ``path``, fsync the folder."""
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> dict[str, Any] | None:
    """Read a JSON object; None when missing, unreadable, or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def new_run_id(cfg: RunConfig) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{stamp}-{cfg.architecture}-{secrets.token_hex(2)}"


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not RUN_ID_RE.fullmatch(run_id):
        raise RunError(f"invalid run id {run_id!r}: run ids use lowercase letters, digits and '-' only")
    return run_id


@dataclass(frozen=True)
class Run:
    """Paths of one run directory (no I/O in the constructor)."""

    dir: Path

    @property
    def id(self) -> str:
        return self.dir.name

    config_path = property(lambda self: self.dir / "config.json")
    status_path = property(lambda self: self.dir / "status.json")
    metrics_path = property(lambda self: self.dir / "metrics.csv")
    eval_path = property(lambda self: self.dir / "eval.csv")
    health_path = property(lambda self: self.dir / "health.json")  # the trainer's diagnoses (health.py)
    samples_dir = property(lambda self: self.dir / "samples")
    generator_path = property(lambda self: self.dir / "generator.keras")
    checkpoint_path = property(lambda self: self.dir / "checkpoint.npz")
    log_path = property(lambda self: self.dir / "train.log")
    lock_path = property(lambda self: self.dir / "trainer.lock")

    def sample_path(self, step: int) -> Path:
        return self.samples_dir / f"step_{step:07d}.png"

    # -- readers: tolerant, never raise on a damaged file -------------------
    def config(self) -> RunConfig:
        """The run's config; RunError with a clear message if it is damaged."""
        data = read_json(self.config_path)
        if data is None:
            raise RunError(f"run {self.id}: config.json is missing or not valid JSON")
        try:
            return config_from_dict(data)
        except (ConfigError, TypeError) as e:
            raise RunError(f"run {self.id}: config.json is invalid ({e})") from None

    # the queue's and the backends' files that vouch for a waiting run (run_queue.py, cluster.py write them)
    queue_dir = property(lambda self: self.dir.parent / QUEUE_DIR)
    ticket_path = property(lambda self: self.queue_dir / "tickets" / f"{self.id}.json")
    dispatcher_path = property(lambda self: self.queue_dir / "dispatcher.lock")
    line_path = property(lambda self: self.queue_dir / "line.json")

    def backend_path(self, backend: str) -> Path:
        return backend_file(self.dir.parent, backend)

    def status(self) -> Status:
        """status.json as a typed record, corrected by who is alive (see lifecycle.resolve).

        An active run that nothing vouches for any more (its trainer, its queue or its backend)
        is ``lost``; a held lock with an old heartbeat adds ``not_responding`` (seconds).
        """
        data = read_json(self.status_path)
        status = Status.from_json(data)
        if not status.active:
            return status
        updated = data.get("updated")
        holder = self.trainer()
        return resolve(status, Evidence(
            holder=holder, exit=locks.last_record(self.lock_path) if holder is None else None,
            waiting=self._waiting() if holder is None and status.state == State.QUEUED else None,
            position=self._position(), vouched_s=self._vouched_s(status.backend) if holder is None else None,
            silent_s=time.time() - updated if isinstance(updated, (int, float)) else 0.0))

    def _waiting(self) -> bool:
        """A queued record: its ticket is in line, from this boot, and the queue's dispatcher is alive."""
        ticket = read_json(self.ticket_path) or {}
        return (ticket.get("kind") == "record" and ticket.get("boot") == locks.boot_id()
                and locks.holder(self.dispatcher_path) is not None)

    def _position(self) -> int | None:
        line = (read_json(self.line_path) or {}).get("line")
        return line.index(self.id) + 1 if isinstance(line, list) and self.id in line else None

    def _vouched_s(self, backend: str) -> float | None:
        if backend == "local":
            return None
        seen = ((read_json(self.backend_path(backend)) or {}).get("vouched") or {}).get(self.id)
        return time.time() - seen if isinstance(seen, (int, float)) else None

    def trainer(self) -> dict[str, Any] | None:
        """The live trainer's lock record (pid, host), or None when no trainer holds the run."""
        return locks.holder(self.lock_path)

    def take_trainer_lock(self, **record: Any) -> locks.Lock:
        """Become the run's one trainer (or its launcher); RunError when a trainer holds it."""
        record = trainer_record(**record)
        try:
            lock = locks.Lock.acquire(self.lock_path, record)
        except FileNotFoundError:
            raise RunError(f"run {self.id} no longer exists") from None
        if lock is None:
            raise RunError(f"run {self.id} already has a trainer ({describe_trainer(self.trainer())})")
        return lock

    def metrics(self) -> list[dict[str, float]]:
        return read_rows(self.metrics_path)

    def eval_rows(self) -> list[dict[str, float]]:
        return read_rows(self.eval_path)

    def sample_steps(self) -> list[int]:
        steps = []
        try:
            names = os.listdir(self.samples_dir)
        except OSError:
            return []
        for name in names:
            m = re.fullmatch(r"step_(\d{7})\.png", name)
            if m:
                steps.append(int(m.group(1)))
        return sorted(steps)

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 16384))
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- writers ------------------------------------------------------------
    def remove_temp_files(self) -> None:
        """Delete temp files a killed writer left behind (they are never read)."""
        for pattern in (".*.tmp", ".generator.*.keras", "samples/.*.tmp"):
            for p in self.dir.glob(pattern):
                p.unlink(missing_ok=True)

    def write_status(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into status.json (atomic replace) and return it."""
        data = read_json(self.status_path) or {}
        data.update(fields)
        data["updated"] = time.time()
        data["format"] = FORMAT
        atomic_write_json(self.status_path, data)
        return data


def with_absolute_data_path(cfg: RunConfig) -> RunConfig:
    """``cfg`` with its custom dataset's path made absolute; RunError when nothing is there."""
    if cfg.dataset != "custom" or not cfg.data_path:
        return cfg
    path = Path(cfg.data_path).expanduser().resolve()
    if not path.exists():
        raise RunError(f"data_path {cfg.data_path!r} does not exist (looked for {path}); "
                       "give the path of an .npz file or an image folder")
    return dataclasses.replace(cfg, data_path=str(path))


def backend_file(root: Path, backend: str) -> Path:
    """Where a backend vouches for the runs of folder ``root`` it holds: {"vouched": {run_id: time}}."""
    return Path(root) / BACKENDS_DIR / f"{backend}.json"


def describe_trainer(record: dict[str, Any] | None) -> str:
    """``pid 123 on host-a`` for messages; tolerant of a record still being written."""
    if not record:
        return "starting"
    return f"pid {record.get('pid', '?')} on {record.get('host', '?')}"


class RunStore:
    """The runs directory: create, find, list and delete runs."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_runs_dir()

    def get(self, run_id: str) -> Run:
        """The run with this id; RunError if the id is invalid or unknown."""
        check_run_id(run_id)
        root = self.root.resolve()
        path = (root / run_id).resolve()
        if path.parent != root or not path.is_dir():
            raise RunError(f"no run {run_id!r} in {self.root}")
        return Run(path)

    def create(self, cfg: RunConfig) -> Run:
        """Make a new run directory holding config.json and a queued status.

        A custom dataset's path is stored absolute, resolved here, where the user gave it: a trainer
        runs in another directory. RunError when it does not exist.
        """
        cfg = with_absolute_data_path(cfg)
        self.root.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            run = Run(self.root.resolve() / new_run_id(cfg))
            try:
                run.dir.mkdir()
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - 20 collisions of a 16-bit suffix in one second
            raise RunError("could not allocate a run id")
        try:
            atomic_write_bytes(run.config_path, cfg.to_json().encode())
            run.write_status(state="queued", step=0, epoch=0.0, total=0, created=time.time())
        except OSError:
            shutil.rmtree(run.dir, ignore_errors=True)
            raise
        return run

    def list(self) -> list[Run]:
        """Every run directory, newest first."""
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return []
        runs = [Run(Path(e.path).resolve()) for e in entries
                if e.is_dir(follow_symlinks=False) and RUN_ID_RE.fullmatch(e.name)]
        return sorted(runs, key=lambda r: r.id, reverse=True)

    def delete(self, run_id: str) -> None:
        """Remove a run directory; RunError while a trainer holds it, or while it waits or is being started.

        Holding the run's lock, the folder is first renamed out of the runs namespace, then removed: a
        resume or a trainer that comes later finds no run (it never locks a fresh lock file inside a
        folder being deleted), and a delete cut short leaves a hidden folder, never a half run.
        """
        run = self.get(run_id)
        try:
            lock = run.take_trainer_lock(role="deleting")  # no trainer can start while we delete
        except RunError:
            raise RunError(f"run {run_id} is still training ({describe_trainer(run.trainer())}); "
                           f"stop it first") from None
        with lock:
            status = run.status()
            if status.active:
                what = "queued or being started" if status.state == State.QUEUED else status.state
                raise RunError(f"run {run_id} is {what}; stop it first")
            grave = run.dir.with_name(f"{DELETING}{run_id}-{secrets.token_hex(4)}")
            os.rename(run.dir, grave)
            fsync_dir(self.root)
        run.ticket_path.unlink(missing_ok=True)
        shutil.rmtree(grave, ignore_errors=True)
        self.remove_unused_uploads()

    # -- uploaded datasets --------------------------------------------------
    @property
    def uploads_dir(self) -> Path:
        return self.root.resolve() / UPLOADS

    def remove_unused_uploads(self, keep: Iterable[str] = (), min_age_s: float = 3600.0) -> list[Path]:
        """Delete uploads that no run's config names, except ``keep`` and those newer than
        ``min_age_s`` (another session may be about to start a run on them). Returns what went."""
        try:
            entries = list(os.scandir(self.uploads_dir))
        except OSError:
            return []
        used = {str(Path(p).resolve()) for p in keep}
        for run in self.list():
            data = read_json(run.config_path) or {}
            if data.get("data_path"):
                used.add(str(Path(data["data_path"]).resolve()))
        removed = []
        for entry in entries:
            path = Path(entry.path).resolve()
            try:
                young = time.time() - entry.stat(follow_symlinks=False).st_mtime < min_age_s
            except OSError:
                continue
            if str(path) in used or young or path.parent != self.uploads_dir:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
        return removed


# -- append-only CSV rows ------------------------------------------------------
class RowWriter:
    """Append rows to a CSV file, flushing each one; header written once.

    A file that already has a header keeps its columns: a run resumed by a newer version
    goes on writing the columns it started with, so every row still parses."""

    def __init__(self, path: Path, columns: Iterable[str]):
        self.path = path
        self.columns = list(columns)
        _drop_partial_last_line(path)
        new = not path.exists() or path.stat().st_size == 0
        if not new:
            with open(path, newline="") as f:
                self.columns = next(csv.reader(f), None) or self.columns
        self._f = open(path, "a", newline="")
        if new:
            self._f.write(",".join(self.columns) + "\n")
            self._f.flush()

    def write(self, row: dict[str, Any]) -> None:
        vals = []
        for c in self.columns:
            v = row.get(c, "")
            if isinstance(v, float):
                v = f"{v:.3f}" if abs(v) >= 1e5 else f"{v:.6g}"
            vals.append(str(v))
        self._f.write(",".join(vals) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()


def _drop_partial_last_line(path: Path) -> None:
    """Cut a row left half-written by a killed writer, so appends start on a fresh line."""
    try:
        with open(path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
    except FileNotFoundError:
        pass


def read_rows(path: Path) -> list[dict[str, float]]:
    """Rows of a metrics CSV as floats; skips a half-written or broken line."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    lines = text.split("\n")
    if not text.endswith("\n"):
        lines = lines[:-1]  # last line still being written
    reader = csv.reader(io.StringIO("\n".join(lines)))
    header = next(reader, None)
    if not header:
        return []
    rows = []
    for parts in reader:
        if len(parts) != len(header):
            continue
        try:
            rows.append({h: (float(p) if p != "" else float("nan")) for h, p in zip(header, parts)})
        except ValueError:
            continue
    return rows


def truncate_rows(path: Path, max_step: int) -> None:
    """Keep only complete rows with ``step <= max_step`` (used on resume)."""
    try:
        text = path.read_text()
    except OSError:
        return
    lines = text.split("\n")
    if not lines or not lines[0]:
        return
    header = lines[0]
    cols = header.split(",")
    keep = [header]
    for line in lines[1:]:
        parts = line.split(",")
        if len(parts) != len(cols):
            continue
        try:
            if int(float(parts[0])) <= max_step:
                keep.append(line)
        except ValueError:
            continue
    atomic_write_bytes(path, ("\n".join(keep) + "\n").encode())
