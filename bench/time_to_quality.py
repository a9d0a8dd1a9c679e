"""Training time until a preset's samples are recognisable, from its in-training evaluations.

Each spec trains on its dataset for ``--steps`` steps with ``eval_every`` set, so the trainer
scores 2,000 samples every ``--every`` steps into eval.csv. The first evaluation with
confidence and (for conditional models) per-digit accuracy both at ``--goal`` or above is
reported with its step and its training seconds: the run's wall time at that step (which,
like ``max_seconds``, counts from the first step's tracing on) less the time the earlier
evaluations took.

    GANDASH_DATA_DIR=../shared/data python bench/time_to_quality.py --steps 1500 --every 50 fast fast+seed=1
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.preset_quality import parse_spec  # noqa: E402
from gandash.config import make_config  # noqa: E402
from gandash.engine.train import train  # noqa: E402
from gandash.quality.evaluate import ensure_evaluator  # noqa: E402
from gandash.store.runs import Run, RunStore  # noqa: E402


def first_at_goal(run: Run, goal: float) -> tuple[dict, float] | None:
    """(the first eval row at the goal, training seconds to it), or None if no row reached it."""
    wall = {int(r["step"]): r["wall_time"] for r in run.metrics()}
    spent = 0.0  # seconds of the evaluations before this one
    for row in run.eval_rows():
        cond = row.get("cond_acc")
        if row["confidence"] >= goal and (cond is None or cond != cond or cond >= goal):
            return row, wall[int(row["step"])] - spent
        spent += row["seconds"]
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("specs", nargs="+")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--every", type=int, default=50, help="eval_every: steps between evaluations")
    ap.add_argument("--goal", type=float, default=0.9)
    ap.add_argument("--runs-dir", default="bench/out/quality")
    args = ap.parse_args()
    store = RunStore(args.runs_dir)
    print(f"| spec | steps to {args.goal:g} | training seconds to {args.goal:g} | confidence | per-digit acc "
          f"| steps/s |")
    print("|---|---|---|---|---|---|")
    for spec in args.specs:
        preset, sets = parse_spec(spec)
        sets.update(steps=str(args.steps), max_seconds="0", eval_every=str(args.every))
        cfg = make_config(preset, sets)
        ensure_evaluator(cfg.dataset, store.root, progress=lambda m: print("evaluator:", m, file=sys.stderr))
        run = store.create(cfg)
        train(run, install_signal_handlers=False)
        rows = run.metrics()
        evals = sum(r["seconds"] for r in run.eval_rows())
        rate = rows[-1]["step"] / max(rows[-1]["wall_time"] - evals, 1e-9) if rows else float("nan")
        hit = first_at_goal(run, args.goal)
        if hit is None:
            print(f"| {spec} | not within {args.steps} | – | – | – | {rate:.1f} |", flush=True)
            continue
        row, seconds = hit
        cond = row.get("cond_acc")
        cond_text = f"{cond:.3f}" if cond is not None and cond == cond else "–"
        print(f"| {spec} | {int(row['step'])} | {seconds:.1f} | {row['confidence']:.3f} | {cond_text} "
              f"| {rate:.1f} |", flush=True)


if __name__ == "__main__":
    main()
