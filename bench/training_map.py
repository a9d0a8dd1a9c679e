"""The training map's and the overview's cost per refresh on a trained run: what Monitor redoes when a new grid arrives.

Per saved grid, uncached: read the grid PNG into its samples, the evaluator's features, the projection, D's
scores; the field over the plane; the Plotly figure with its arrows (and its JSON, what the page sends).
Printed: the median and the slowest over every saved grid, and the one-off plane fit per evaluator. The overview
(every 2 s while a run trains): the metrics file read, the newest grid cut into its first sample, D's scores read,
the figure and its JSON, 20 times.

    GANDASH_DATA_DIR=../shared/data python -m gandash --runs-dir bench/out/map train --set max_seconds=120 \\
        --set sample_every=25
    GANDASH_DATA_DIR=../shared/data python bench/training_map.py --runs-dir bench/out/map
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

from gandash.explore import overview, plots  # noqa: E402
from gandash.explore import training_map as tm  # noqa: E402
from gandash.store.runs import RunStore  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs-dir", required=True)
    ap.add_argument("--run", default=None, help="default: the newest run with a grid")
    args = ap.parse_args(argv)
    store = RunStore(args.runs_dir)
    run = store.get(args.run) if args.run else [r for r in store.list() if r.sample_steps()][0]
    cfg = run.config()
    saved = store.root / "_evaluators" / f"{cfg.dataset}.map.npz"
    saved.unlink(missing_ok=True)
    t = time.perf_counter()
    the_plane = tm.plane(cfg.dataset, store.root)  # evaluator load, 2,000 real digits, the fit
    fit = time.perf_counter() - t
    real_xy = tm.real_xy(cfg, tm.SCORED_REAL, store.root)
    steps = run.sample_steps()
    tm.frame(run, cfg, steps[0], the_plane, store.root)  # the evaluator's first call traces its predict
    parts: dict[str, list[float]] = {"frame": [], "field": [], "figure": [], "total": []}
    previous = None
    for step in steps:
        t0 = time.perf_counter()
        here = tm.frame(run, cfg, step, the_plane, store.root)
        t1 = time.perf_counter()
        box = tm.extent(the_plane, here.xy)
        field = None
        if here.fake_scores is not None:
            scores = np.concatenate([here.real_scores, here.fake_scores])
            field = tm.field(np.concatenate([real_xy, here.xy]), tm.relative(scores), box)
        t2 = time.perf_counter()
        moves = (previous.xy, here.xy) if previous is not None else None
        fig = plots.training_map_figure(the_plane.cloud, the_plane.cloud_labels, field, here.xy, moves=moves,
                                        step=step, extent=box)
        fig.to_json()
        t3 = time.perf_counter()
        for key, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
            parts[key].append(v)
        previous = here
    print(f"run {run.id}: {cfg.architecture}, {len(steps)} saved grids of {len(here.xy)} samples")
    print(f"plane fit (once per evaluator file): {fit:.2f} s")
    for key, values in parts.items():
        print(f"{key:7s} median {statistics.median(values) * 1000:6.0f} ms   slowest {max(values) * 1000:6.0f} ms")
    real, took = overview.first_real(cfg), []
    for _ in range(20):
        t0 = time.perf_counter()
        ov = overview.build(run, cfg, run.metrics()[-1:], real)
        plots.overview_figure(ov, z_cells=overview.z_image(ov.z)).to_json()
        took.append(time.perf_counter() - t0)
    print(f"overview median {statistics.median(took) * 1000:6.0f} ms   slowest {max(took) * 1000:6.0f} ms "
          f"({len(run.metrics()):,} metrics rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
