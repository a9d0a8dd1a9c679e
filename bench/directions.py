"""Latent directions and dissection on trained runs: do the sliders do what they say, and how fast?

For each run: every direction is fitted (2,000 samples) and tried on 200 other samples moved to -2
and +2 (same z). Printed per direction: the attribute it changes (most), its change per unit in the
attribute's standard deviation, the pairs where +2 has more of it than -2, and the pairs the evaluator
reads as the same digit at both ends. Then the seconds each interactive action takes on this machine,
and (unconditional runs) the same figures without taking the evaluator's reading out of the direction.

    GANDASH_DATA_DIR=../shared/data python bench/preset_quality.py --budget 150 --n 2000 \\
        --runs-dir bench/out/directions fast fast-unsupervised
    GANDASH_DATA_DIR=../shared/data python bench/directions.py --runs-dir bench/out/directions
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from gandash.explore import directions as D  # noqa: E402
from gandash.explore import dissect as X  # noqa: E402
from gandash.explore.sampling import generate, latents, load_generator  # noqa: E402
from gandash.quality import evaluate  # noqa: E402
from gandash.store.runs import RunStore  # noqa: E402


def seconds(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def table(space: D.Space) -> list[str]:
    rows = ["| direction | changes | per unit | pairs that way | same digit |", "|---|---|---|---|---|"]
    for d in space.directions.values():
        a = d.main
        held = "–" if d.holds is None else f"{d.holds:.0%}"
        rows.append(f"| {d.name} | {a} | {d.effect[a]:+.2f} σ | {d.agrees[a]:.0%} | {held} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs-dir", default="bench/out/directions")
    ap.add_argument("runs", nargs="*", help="run ids (default: every run with a generator)")
    args = ap.parse_args()
    store = RunStore(args.runs_dir)
    runs = [store.get(r) for r in args.runs] if args.runs else [r for r in store.list() if r.generator_path.exists()]
    for run in runs:
        report(store, run)


def report(store: RunStore, run) -> None:
    cfg = run.config()
    gen = load_generator(run.generator_path)
    read = evaluate.reader(cfg.dataset, store.root)
    t = time.perf_counter()
    space = D.fit(gen, cfg, read)
    fit_s = time.perf_counter() - t
    print(f"\n### {run.id} ({cfg.architecture}, step {run.status().get('step')})\n")
    print("\n".join(table(space)))
    z = latents(8, cfg.latent_dim, cfg.latent_dist, 0)
    labels = (np.arange(len(z)) % cfg.num_classes).astype(np.int32) if cfg.takes_label else None
    steps = [(space.get(n), 1.5) for n in space.attributes]
    slider = seconds(lambda: generate(gen, cfg, D.move(z, cfg, steps), labels), 5)
    s = X.split(gen)
    acts = X.activations(s, cfg, latents(16, cfg.latent_dim, cfg.latent_dist, 0),
                         None if labels is None else np.arange(16) % cfg.num_classes)
    mask = np.zeros((cfg.image_size,) * 2, bool)
    mask[6:14, 8:20] = True
    timing = {"fit (once per checkpoint)": fit_s, "slider move (8 samples)": slider,
              f"rank by effect ({s.channels} channels × 16)": seconds(lambda: X.effect(s, cfg, acts), 1),
              "rank by painted region (1 sample)": seconds(lambda: X.region(s, cfg, acts[:1], mask)),
              f"rank by reading ({s.channels} channels × 16)": seconds(lambda: X.reading(s, cfg, acts, read), 1)}
    print("\n" + "; ".join(f"{k}: {v:.2f} s" for k, v in timing.items()))
    if not cfg.is_conditional and read is not None:
        free = D.fit(gen, cfg, read, keep_digit=False)
        print("\nwithout taking the reading out: " + "; ".join(
            f"{n} {free.get(n).agrees[n]:.0%} that way, same digit {free.get(n).holds:.0%}"
            for n in space.attributes))


if __name__ == "__main__":
    main()
