"""A big study at one slot: what waiting costs. The largest study the form allows (6 presets x 5 seeds x
5 values = 150 runs) is queued at one slot with a 30-minute budget. After 90 s it reports the memory
of every gandash process of the runs folder (resident and proportional), how many there are, and the
training run's speed against the same run trained alone; then ``study stop`` and the seconds until no
gandash process of the folder is left.

    GANDASH_DATA_DIR=../shared/data python -m bench.queue_load [--window 90]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gandash.backends import launcher
from gandash.config import make_config
from gandash.quality.evaluate import ensure_evaluator
from gandash.store.queue import RunQueue
from gandash.store.runs import RunStore
from gandash.studies.study import Studies

PRESETS = ["fast", "fast-unsupervised", "mlp-classic", "dcgan-keras", "acgan", "wgan-gp"]
VARY = "g_lr=1e-4,2e-4,3e-4,4e-4,5e-4"


def processes(root: Path) -> list[tuple[int, str, int, int]]:
    """(pid, kind, RSS KiB, PSS KiB) of every process whose command line names the runs folder."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if str(root) not in cmd or "gandash" not in cmd:
                continue
            lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
            kb = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in lines if line.endswith("kB"))}
        except (OSError, ValueError):
            continue
        kind = "dispatcher" if "gandash.backends.dispatch" in cmd else "trainer" if " worker " in cmd else "other"
        out.append((int(pid), kind, kb.get("Rss", 0), kb.get("Pss", 0)))
    return out


def speed(run, seconds: float) -> float:
    """Median images/s the run reports over ``seconds``, from its first 30 s of training on."""
    while run.status().state != "running" or int(run.status().step) == 0:
        time.sleep(0.5)
    time.sleep(30)
    seen, end = [], time.time() + seconds - 30
    while time.time() < end:
        ips = run.status().get("images_per_sec")
        if isinstance(ips, (int, float)):
            seen.append(ips)
        time.sleep(2)
    return statistics.median(seen) if seen else float("nan")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--window", type=float, default=90.0, help="seconds after the study starts to measure at")
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="queue-load-")).resolve()
    store, studies = RunStore(root), Studies(RunStore(root))
    RunQueue(root).set_slots(1)
    plan = studies.plan(PRESETS, 5, "30m", vary=VARY, name="queue load")
    ensure_evaluator("mnist", root)  # as `study start` does: every run is scored by the same, ready evaluator
    first = plan["members"][0]

    alone = launcher.start(store, make_config(first["preset"], {**first["overrides"], "study": ""}))
    lone = speed(alone, args.window)
    launcher.stop(alone, wait=60)
    print(f"alone: {lone:.0f} images/s ({first['variant']})", flush=True)

    began = time.time()
    plan = studies.start(plan)
    queued_s = time.time() - began
    runs = [store.get(m["run"]) for m in plan["members"]]
    busy = speed(runs[0], args.window - (time.time() - began))
    time.sleep(max(0.0, args.window - (time.time() - began)))
    procs = processes(root)
    rss, pss = sum(p[2] for p in procs) / 1024, sum(p[3] for p in procs) / 1024
    kinds = {k: sum(1 for p in procs if p[1] == k) for k in ("dispatcher", "trainer", "other")}
    states = [r.status().state for r in runs]
    print(f"{len(runs)} runs queued in {queued_s:.1f} s; at {args.window:.0f} s: "
          f"{states.count('running')} running, {states.count('queued')} queued", flush=True)
    print(f"processes: {kinds}; resident {rss:.0f} MiB, proportional {pss:.0f} MiB", flush=True)
    print(f"the training run: {busy:.0f} images/s, {busy / lone:.2f} of its lone speed", flush=True)

    began = time.time()
    subprocess.run([sys.executable, "-m", "gandash", "--runs-dir", str(root), "study", "stop", plan["id"]],
                   check=True, capture_output=True)
    stopped = time.time() - began
    while processes(root) and time.time() - began < 120:
        time.sleep(0.5)
    print(f"study stop returned in {stopped:.1f} s; no gandash process left after {time.time() - began:.1f} s "
          f"({len(processes(root))} left)", flush=True)


if __name__ == "__main__":
    main()
