"""A quick comparison as a user starts it: a 4-run study of 20-second budgets on a fresh runs folder, timed
from the command to its end. Reports the wall time against the sum of the budgets (the goal: within 1.3x,
evaluator included), and per run its start-up (from taking its slot to its first metrics row), whether it
ran in a warm slot, and how many evaluations of how many samples it made.

    GANDASH_DATA_DIR=../shared/data python -m bench.quick_study [--budget 20s] [--presets fast,mlp-classic]
        [--seeds 2] [--repeat 1]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", default="20s")
    ap.add_argument("--presets", default="fast,mlp-classic")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    results = [one(args.budget, args.presets, args.seeds) for _ in range(args.repeat)]
    for res in results:
        print(json.dumps(res))
    wall = statistics.median(r["wall_s"] for r in results)
    print(f"median ratio {statistics.median(r['ratio'] for r in results):.3f} "
          f"(wall {wall:.1f} s for {results[0]['budgets_s']:.0f} s of budgets); "
          f"warm start-ups {[r['startup'] for res in results for r in res['runs'] if r['warm']]} s")


if __name__ == "__main__":
    main()
