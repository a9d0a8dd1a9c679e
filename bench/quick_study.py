"""Quick means quick, measured as a user meets it.

1. A 4-run study of 20-second budgets on a fresh runs folder, timed from the command to its end: the wall
   time against the sum of the budgets (the goal: within 1.3x, evaluator included), and per run its
   start-up (from taking its slot to its first metrics row), whether it ran in a warm slot, and how many
   evaluations of how many samples it made.
2. Start in an open dashboard (``--starts N``): the page keeps a warm trainer (``keep_warm``, as every page
   does), then Start (``launcher.start``) of the default preset, timed to its first metrics row; the same
   with warm slots off (``GANDASH_WARM=0``), N times each, alternating.

    GANDASH_DATA_DIR=../shared/data python -m bench.quick_study [--budget 20s] [--presets fast,mlp-classic]
        [--seeds 2] [--repeat 1] [--starts 0]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from gandash.store.runs import RunStore
from gandash.studies.study import Budget


def one(budget: str, presets: str, seeds: int) -> dict:
    with tempfile.TemporaryDirectory() as root:
        env = {**os.environ, "GANDASH_RUNS_DIR": root}
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gandash", "study", "start", "--presets", presets, "--seeds", str(seeds),
                        "--budget", budget, "--wait"], env=env, check=True, capture_output=True)
        wall = time.perf_counter() - t
        runs = RunStore(root).list()
        budgets = len(runs) * Budget.parse(budget).seconds
        rows = []
        for run in sorted(runs, key=lambda r: r.status().get("started", 0)):
            st = run.status()
            evals = run.eval_rows()
            phases = st.get("startup") or {}
            rows.append({"run": run.id, "pid": st.get("pid"), "startup": round(sum(phases.values()), 2),
                         "phases": phases,
                         "evals": len(evals), "n": [int(r["n"]) for r in evals]})
        pids = [r["pid"] for r in rows]
        for i, r in enumerate(rows):
            r["warm"] = i > 0 and r["pid"] in pids[:i]
        return {"wall_s": round(wall, 1), "budgets_s": budgets, "ratio": round(wall / budgets, 3), "runs": rows}


def first_row_after_start(warm_on: bool) -> float:
    """Seconds from Start to the default preset's first metrics row, in a runs folder an open dashboard keeps."""
    from gandash.backends import launcher, warm
    from gandash.config import make_config
    from gandash.store.queue import RunQueue

    os.environ["GANDASH_WARM"] = "1" if warm_on else "0"
    with tempfile.TemporaryDirectory() as root:
        queue = RunQueue(root)
        if warm.keep_warm(root):
            deadline = time.time() + 60
            while not (queue.warm() and queue.warm()[0].get("ready")):
                assert time.time() < deadline, "no warm trainer became ready"
                time.sleep(0.1)
        store = RunStore(root)
        t = time.perf_counter()
        run = launcher.start(store, make_config("fast", {"steps": 200}))
        while not run.metrics_path.exists() or not run.metrics():
            time.sleep(0.02)
        took = time.perf_counter() - t
        launcher.stop(run, wait=30)
        for item in queue.warm():
            os.kill(item["pid"], 15)
        time.sleep(1.0)
        return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", default="20s")
    ap.add_argument("--presets", default="fast,mlp-classic")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--starts", type=int, default=0, help="also time Start in an open dashboard, warm and cold")
    args = ap.parse_args()
    if args.starts:
        os.environ["GANDASH_WARM_DASHBOARD"] = "1"
        times = {True: [], False: []}
        for _ in range(args.starts):
            for on in (True, False):
                times[on].append(first_row_after_start(on))
        print(f"Start to first metrics row: warm median {statistics.median(times[True]):.2f} s {times[True]}, "
              f"cold median {statistics.median(times[False]):.2f} s {times[False]}")
        os.environ["GANDASH_WARM"] = "1"
    results = [one(args.budget, args.presets, args.seeds) for _ in range(args.repeat)]
    for res in results:
        print(json.dumps(res))
    wall = statistics.median(r["wall_s"] for r in results)
    print(f"median ratio {statistics.median(r['ratio'] for r in results):.3f} "
          f"(wall {wall:.1f} s for {results[0]['budgets_s']:.0f} s of budgets); "
          f"warm start-ups {[r['startup'] for res in results for r in res['runs'] if r['warm']]} s")


if __name__ == "__main__":
    main()
