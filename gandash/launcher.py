"""Start, stop and resume trainer processes (each in its own session, outliving the caller)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gandash.config import RunConfig
from gandash.runs import ACTIVE_STATES, Run, RunError, RunStore

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
_children: list[subprocess.Popen] = []


def _reap() -> None:
    """Collect exited children so they do not linger as zombies."""
    _children[:] = [p for p in _children if p.poll() is None]


def spawn(run: Run) -> int:
    """Start ``python -m gandash worker RUN_DIR`` detached; return its pid."""
    _reap()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with open(run.log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gandash", "worker", str(run.dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=str(PACKAGE_ROOT), env=env, start_new_session=True,
        )
    _children.append(proc)
    return proc.pid


def start(store: RunStore, cfg: RunConfig) -> Run:
    """Create a run directory for a validated config and start its trainer."""
    run = store.create(cfg)
    spawn(run)
    return run


def _is_our_trainer(pid: int, run: Run) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"gandash" in cmdline and str(run.dir).encode() in cmdline


def stop(run: Run, wait: float = 0.0) -> str:
    """Ask the trainer to stop after its current interval (it checkpoints first).

    Returns the state afterwards. A trainer that is already gone is marked stopped.
    """
    _reap()
    status = run.status()
    if status.get("state") not in ACTIVE_STATES:
        if status.get("lost"):
            run.write_status(state="stopped", error=status.get("error", ""))
        return run.status().get("state", "stopped")
    pid = status.get("pid")
    starting_until = time.time() + 5.0  # a trainer just started writes its pid within a second
    while pid is None and status.get("state") == "queued" and time.time() < starting_until:
        time.sleep(0.2)
        status = run.status()
        pid = status.get("pid")
    if not isinstance(pid, int) or not _is_our_trainer(pid, run):
        run.write_status(state="stopped", error="trainer process not found")
        return "stopped"
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + wait
    while time.time() < deadline:
        _reap()
        if run.status().get("state") not in ACTIVE_STATES:
            break
        time.sleep(0.2)
    return run.status().get("state", "running")


def resume(run: Run) -> int:
    """Start the trainer of an existing run again; it continues from its checkpoint."""
    status = run.status()
    if status.get("state") in ACTIVE_STATES:
        raise RunError(f"run {run.id} is already {status['state']}")
    run.config()  # refuse a run whose config is damaged before starting anything
    # pid=None: until the new trainer writes its own pid, the old dead one must not mark it lost
    run.write_status(state="queued", error="", lost=False, pid=None)
    return spawn(run)
