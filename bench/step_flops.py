"""Training-step speed per architecture: images/s and achieved FLOP/s as a share of peak.

The FLOPs of one training step are counted by TensorFlow's profiler on the traced
step (MatMul, Conv2D and their gradients). The machine's peak is measured in the
same run with a large float32 matmul. Steps run through gandash's own compiled
train function (``steps_per_execution`` steps per call, data already in memory).

    GANDASH_DATA_DIR=../shared/data python bench/step_flops.py [--set jit_compile=true ...]
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
import tensorflow as tf  # noqa: E402

from gandash.algorithms import build_gan  # noqa: E402
from gandash.config import ARCHITECTURES, make_config  # noqa: E402


# The plain networks at the fast preset's sizes, batch 64 (as first measured), without its latent code.
PLAIN = {"latent_code": False, "batch_size": 64}


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
    """FLOPs of one train_step, counted on its traced graph."""
    fn = tf.function(model.train_step).get_concrete_function(batch)
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    info = tf.compat.v1.profiler.profile(fn.graph, options=opts)
    return float(info.total_float_ops)


def images_per_sec(model, cfg, steps: int, repeats: int = 3) -> float:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (cfg.batch_size, cfg.image_size, cfg.image_size, 1)).astype("float32")
    y = rng.integers(0, 10, (cfg.batch_size,)).astype("int32")
    data = tf.data.Dataset.from_tensors((x, y)).repeat().prefetch(4)
    model.fit(data, steps_per_epoch=cfg.steps_per_execution * 2, epochs=1, verbose=0)  # trace
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
        rates.append(steps * cfg.batch_size / (time.perf_counter() - t0))
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--arch", action="append", default=[])
    args = ap.parse_args()
    sets = dict(s.split("=", 1) for s in args.overrides)
    peak = peak_flops()
    print(f"device: {tf.config.list_physical_devices('GPU') and 'GPU' or 'CPU'}; measured peak "
          f"{peak / 1e9:.1f} GFLOP/s (float32 2048² matmul)")
    print("| architecture | batch | MFLOP/step | images/s | GFLOP/s | share of peak |")
    print("|---|---|---|---|---|---|")
    for arch in args.arch or ARCHITECTURES:
        cfg = make_config("fast", {**PLAIN, "architecture": arch, **sets})
        model = build_gan(cfg)
        batch = (tf.TensorSpec((cfg.batch_size, cfg.image_size, cfg.image_size, 1)),
                 tf.TensorSpec((cfg.batch_size,), tf.int32))
        flops = step_flops(build_gan(cfg), batch)
        ips = images_per_sec(model, cfg, args.steps)
        achieved = flops * ips / cfg.batch_size
        print(f"| {arch} | {cfg.batch_size} | {flops / 1e6:.0f} | {ips:.0f} | {achieved / 1e9:.1f} "
              f"| {achieved / peak:.0%} |", flush=True)


if __name__ == "__main__":
    main()
