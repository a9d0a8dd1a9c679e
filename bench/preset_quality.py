"""Quality of each preset after a fixed training budget, measured with the evaluator.

Each preset trains on MNIST in its own run (``max_seconds`` wall-clock budget, or
a fixed number of steps), then ``evaluate_run`` scores 10,000 samples (seed 0).
A spec ``PRESET+KEY=VALUE`` adds overrides, e.g. ``fast+seed=1``, or
``fast+dataset=fashion_mnist`` (each run is scored by its own dataset's evaluator).

    GANDASH_DATA_DIR=../shared/data python bench/preset_quality.py --budget 300 fast fast-unsupervised
    GANDASH_DATA_DIR=../shared/data python bench/preset_quality.py --steps 1000 mlp-classic
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gandash.backends.launcher import start  # noqa: E402
from gandash.config import make_config  # noqa: E402
from gandash.engine.train import train  # noqa: E402
from gandash.quality.evaluate import ensure_evaluator, evaluate_run  # noqa: E402
from gandash.store.runs import ACTIVE_STATES, Run, RunStore  # noqa: E402


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    preset, *sets = spec.split("+")
    return preset, dict(s.split("=", 1) for s in sets)


def train_apart(store: RunStore, cfg) -> Run:
    """Train in a trainer process of its own, as the dashboard's Start does (so the start-up
    phases in status.json are a fresh process's: Python, imports, data, tracing)."""
    run = start(store, cfg)
    while run.status().get("state") in (*ACTIVE_STATES, None):
        time.sleep(0.5)
    return run


def started(st: dict) -> str:
    phases = st.get("startup") or {}
    return f"{sum(v for v in phases.values() if isinstance(v, (int, float))):.1f} s" if phases else "–"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("specs", nargs="+")
    ap.add_argument("--budget", type=float, default=0, help="max_seconds of training")
    ap.add_argument("--steps", type=int, default=0, help="fixed number of steps instead")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--preset-steps", action="store_true",
                    help="with --budget: keep the preset's steps (its learning-rate decay runs over them), "
                         "stopping at whichever of them and the budget comes first")
    ap.add_argument("--apart", action="store_true", help="train each spec in a fresh trainer process")
    ap.add_argument("--runs-dir", default="bench/out/quality")
    args = ap.parse_args()
    store = RunStore(args.runs_dir)
    ensure_evaluator("mnist", store.root, progress=lambda m: print("evaluator:", m, file=sys.stderr))
    print("| spec | budget | steps | confidence | rarest digit | digit entropy | FD | precision | recall "
          "| per-digit acc | started in |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for spec in args.specs:
        preset, sets = parse_spec(spec)
        if args.steps:
            sets.update(steps=str(args.steps), max_seconds="0")
        elif args.budget:
            sets.update(max_seconds=str(args.budget))
            if not args.preset_steps:
                sets.update(steps="10000000")
        cfg = make_config(preset, sets)
        if args.apart:
            run = train_apart(store, cfg)
        else:
            run = store.create(cfg)
            train(run, install_signal_handlers=False)
        st = run.status()
        r = evaluate_run(run, n=args.n)
        budget = f"{args.steps} steps" if args.steps else f"{args.budget:g} s"
        cond = f"{r['cond_acc']:.3f}" if r.get("cond_acc") == r.get("cond_acc") and "cond_acc" in r else "–"
        print(f"| {spec} | {budget} | {st['step']} ({st.get('wall_time', 0):.0f} s) | {r['confidence']:.3f} "
              f"| {r['rarest_share']:.3f} | {r['digit_entropy']:.3f} | {r['fd']:.2f} | {r['precision']:.3f} "
              f"| {r['recall']:.3f} | {cond} | {started(st)} |", flush=True)


if __name__ == "__main__":
    main()
