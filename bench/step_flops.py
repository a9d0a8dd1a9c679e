"""Training-step speed per architecture: images/s and achieved FLOP/s as a share of peak.

The FLOPs of one training step are counted on the traced step with TensorFlow's
per-op FLOP rules (MatMul, Conv2D and their gradients). The machine's peak is measured in the
same run with a large float32 matmul. Steps run through gandash's own compiled
train function (``steps_per_execution`` steps per call, data already in memory).

    GANDASH_DATA_DIR=../shared/data python bench/step_flops.py [--set jit_compile=true ...]
    TF_ENABLE_ONEDNN_OPTS=0 python bench/step_flops.py   # TensorFlow's own kernels, for comparison
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

import gandash  # noqa: E402,F401  (before TensorFlow: it sets gandash's oneDNN default)

# isort: split
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework import ops  # noqa: E402
from tensorflow.python.profiler.internal import flops_registry  # noqa: E402,F401  (registers the FLOP rules)

from gandash.config import ARCHITECTURES, make_config  # noqa: E402
from gandash.engine.algorithms import build_gan  # noqa: E402
from gandash.engine.data import without_autotune  # noqa: E402
from gandash.engine.distribute import onednn_enabled  # noqa: E402

# The plain networks at the fast preset's sizes, batch 64 (as first measured), without its latent code
# and augmentation.
PLAIN = {"latent_code": False, "augment": 0.0, "batch_size": 64}


def peak_flops(n: int = 2048, repeats: int = 5) -> float:
    """float32 FLOP/s of an n×n matmul, best of ``repeats``."""
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    mm = tf.function(lambda: tf.matmul(a, b))
    mm().numpy()
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        mm().numpy()
        best = max(best, 2 * n**3 / (time.perf_counter() - t0))
    return best


def step_flops(model, batch) -> float:
    """FLOPs of one train_step, counted on its traced graph with TensorFlow's per-op statistics.

    TensorFlow's own rule for BatchMatMul reads ``transpose_a``, an attribute that op does not
    have (it has ``adj_x``), so it miscounts a batched product whose first operand is adjoint:
    the gradient of cgan's projection (a per-sample dot product) came out as a full outer
    product, 3.8 of cgan's 8.6 GFLOP per step. Those ops are counted here by their real shapes.
    """
    graph = tf.function(model.train_step).get_concrete_function(batch).graph
    total = 0
    for op in graph.get_operations():
        if op.type.startswith("BatchMatMul"):
            a, out = op.inputs[0].shape, op.outputs[0].shape
            k = a[-2] if op.node_def.attr["adj_x"].b else a[-1]
            total += 2 * k * (out.num_elements() or 0)
            continue
        try:
            stats = ops.get_stats_for_node_def(graph, op.node_def, "flops")
        except ValueError:  # no FLOP rule for this op type, or a shape known only at run time
            continue
        total += stats.value or 0
    return float(total)


def timed_blocks(model, cfg, steps: int, repeats: int = 5) -> list[tuple[float, float]]:
    """(images/s, peak FLOP/s) for each of ``repeats`` blocks of ``steps`` steps.

    The peak is measured again right after each block: this virtual machine's CPU speed
    drifts (it runs whole stretches at a lower fixed rate), so each block's share is taken
    against the peak of the same moment.
    """
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (cfg.batch_size, cfg.image_size, cfg.image_size, 1)).astype("float32")
    y = rng.integers(0, 10, (cfg.batch_size,)).astype("int32")
    data = without_autotune(tf.data.Dataset.from_tensors((x, y)).repeat().prefetch(2))
    # trace, warm up
    model.fit(data, steps_per_epoch=max(50, cfg.steps_per_execution * 2), epochs=1, shuffle=False, verbose=0)
    blocks = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.fit(data, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
        blocks.append((steps * cfg.batch_size / (time.perf_counter() - t0), peak_flops(repeats=3)))
    return blocks


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--arch", action="append", default=[])
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of --steps steps; the median counts")
    ap.add_argument("--verbose", action="store_true", help="print every block's images/s and peak")
    args = ap.parse_args()
    sets = dict(s.split("=", 1) for s in args.overrides)
    print(f"device: {tf.config.list_physical_devices('GPU') and 'GPU' or 'CPU'}; peak: float32 2048² "
          f"matmul, best of 3, measured after each timed block; oneDNN kernels "
          f"{'on' if onednn_enabled() else 'off'}; medians of {args.repeats} blocks of {args.steps} steps")
    print("| architecture | batch | MFLOP/step | images/s | GFLOP/s | peak GFLOP/s | share of peak |")
    print("|---|---|---|---|---|---|---|")
    for arch in args.arch or ARCHITECTURES:
        cfg = make_config("fast", {**PLAIN, "architecture": arch, **sets})
        model = build_gan(cfg)
        batch = (tf.TensorSpec((cfg.batch_size, cfg.image_size, cfg.image_size, 1)),
                 tf.TensorSpec((cfg.batch_size,), tf.int32))
        flops = step_flops(build_gan(cfg), batch)
        blocks = timed_blocks(model, cfg, args.steps, args.repeats)
        ips = statistics.median(rate for rate, _ in blocks)
        peak = statistics.median(p for _, p in blocks)
        share = statistics.median(flops * rate / cfg.batch_size / p for rate, p in blocks)
        print(f"| {arch} | {cfg.batch_size} | {flops / 1e6:.0f} | {ips:.0f} | {flops * ips / cfg.batch_size / 1e9:.1f} "
              f"| {peak / 1e9:.1f} | {share:.0%} |", flush=True)
        if args.verbose:
            print("    blocks (images/s, peak GFLOP/s):", [(round(r), round(p / 1e9, 1)) for r, p in blocks])

if __name__ == "__main__":
    main()
