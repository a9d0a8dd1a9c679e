"""Generator inversion on a trained run: does it find what G can draw, and read real digits right?

1. Round trip: 20 images G drew from known latents (digit or code searched). Counted: how many
   the inverted latent redraws with mean absolute pixel error below 0.05 (in [0, 1]).
2. Real digits: 100 test digits (a fixed random choice). Counted: how often the evaluator reads
   the true digit in the reconstruction, with the digit searched and (conditional models) given.
3. Seconds per inversion (median), on this machine.

    GANDASH_DATA_DIR=../shared/data python bench/preset_quality.py --budget 300 --preset-steps \\
        --runs-dir bench/out/inversion fast
    GANDASH_DATA_DIR=../shared/data python bench/inversion.py --runs-dir bench/out/inversion
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from gandash.engine.data import load_builtin  # noqa: E402
from gandash.explore.inversion import invert  # noqa: E402
from gandash.explore.sampling import generate, latents, load_generator  # noqa: E402
from gandash.quality import evaluate  # noqa: E402
from gandash.store.runs import RunStore  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs-dir", default="bench/out/inversion")
    ap.add_argument("--run", default=None, help="a run id (default: the newest run with a generator)")
    ap.add_argument("--generated", type=int, default=20)
    ap.add_argument("--real", type=int, default=100)
    args = ap.parse_args()
    store = RunStore(args.runs_dir)
    runs = [r for r in store.list() if r.generator_path.exists()]
    run = store.get(args.run) if args.run else max(runs, key=lambda r: r.id)
    cfg = run.config()
    gen = load_generator(run.generator_path)
    evaluator = evaluate.ensure_evaluator(cfg.dataset, store.root)
    print(f"run {run.id}: {cfg.architecture} on {cfg.dataset}, step {run.status().get('step')}")

    seconds = []
    z = latents(args.generated, cfg.latent_dim, cfg.latent_dist, seed=2026)
    labels = (np.arange(args.generated) % cfg.num_classes).astype(np.int32) if cfg.takes_label else None
    drawn = generate(gen, cfg, z, labels)
    errors = []
    for target in drawn[:args.generated]:
        found = invert(gen, cfg, target, None, evaluator)
        errors.append(found.distance)
        seconds.append(found.seconds)
    ok = sum(e < 0.05 for e in errors)
    if errors:
        print(f"round trip: {ok} of {len(errors)} redrawn with mean abs. error < 0.05 "
              f"(median error {statistics.median(errors):.3f}, worst {max(errors):.3f})")

    test = load_builtin(cfg.dataset, "test")
    pick = np.random.default_rng(0).permutation(len(test))[:args.real]
    modes = [("searched", False)] + ([("given", True)] if cfg.is_conditional else [])
    for name, given in modes:
        recon, dist, took = [], [], []
        for i in pick:
            found = invert(gen, cfg, test.images[i], int(test.labels[i]) if given else None, evaluator)
            recon.append(found.image)
            dist.append(found.distance)
            took.append(found.seconds)
        seconds += took
        read = evaluate.classify(np.stack(recon), cfg.dataset, store.root).argmax(axis=1)
        right = float(np.mean(read == test.labels[pick]))
        print(f"real test digits, digit {name}: the evaluator reads the true digit in {right:.0%} of "
              f"{len(pick)} reconstructions (median distance {statistics.median(dist):.3f}, "
              f"median {statistics.median(took):.2f} s each)")
    print(f"seconds per inversion: median {statistics.median(seconds):.2f} "
          f"(min {min(seconds):.2f}, max {max(seconds):.2f}) over {len(seconds)}")


if __name__ == "__main__":
    main()
