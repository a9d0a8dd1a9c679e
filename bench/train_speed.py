"""Training throughput: the classic Keras recipe loop vs gandash's trainer, same networks.

The recipe loop is the one from the Keras-GAN / Keras blog examples:
``generator.predict`` → ``discriminator.train_on_batch`` (real, then fake) →
``combined.train_on_batch``. gandash's trainer is ``gandash.engine.train.train`` on a
run directory (compiled train_step, tf.data input). Blocks of both are
interleaved and the median images/s of each is reported with the ratio, for both
of gandash's update orders: ``alternating`` (G trained against the just-updated D,
the recipe's order) and ``simultaneous`` (both gradients from one D pass).

    GANDASH_DATA_DIR=../shared/data python bench/train_speed.py [--repeats 3] [--model mlp]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from gandash.config import UPDATES, make_config  # noqa: E402
from gandash.engine.data import load_builtin, scale  # noqa: E402
from gandash.engine.train import train  # noqa: E402
from gandash.store.runs import RunStore  # noqa: E402

CASES = {"mlp": "mlp-classic", "dcgan": "dcgan-keras"}


def recipe_images_per_sec(cfg, x: np.ndarray, steps: int, warmup: int = 5) -> float:
    """The predict → train_on_batch loop, timed after ``warmup`` steps."""
    import keras

    from gandash.engine.models import build_networks
    from gandash.engine.optimizers import make_optimizer

    keras.utils.set_random_seed(cfg.seed)
    g, d = build_networks(cfg)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    d.compile(make_optimizer(cfg, "d", fused=False), bce)
    z_in = keras.Input((cfg.latent_dim,))
    combined = keras.Model(z_in, d(g(z_in)))
    d.trainable = False
    combined.compile(make_optimizer(cfg, "g", fused=False), bce)
    bs = cfg.batch_size
    valid, fake = np.ones((bs, 1), "float32"), np.zeros((bs, 1), "float32")
    rng = np.random.default_rng(0)
    t0 = None
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        imgs = x[rng.integers(0, len(x), bs)]
        noise = rng.standard_normal((bs, cfg.latent_dim)).astype("float32")
        gen = g.predict(noise, verbose=0)
        d.trainable = True
        d.train_on_batch(imgs, valid)
        d.train_on_batch(gen, fake)
        d.trainable = False
        combined.train_on_batch(noise, valid)
    return steps * bs / (time.perf_counter() - t0)


def gandash_images_per_sec(cfg, steps: int, root: Path, update: str) -> float:
    """gandash's trainer; the first logged interval (tracing) is left out."""
    cfg = make_config("fast", {**cfg.to_dict(), "update": update, "steps": steps, "log_every": steps // 5,
                               "sample_every": 10**6, "checkpoint_every": 10**6})
    run = RunStore(root).create(cfg)
    train(run, install_signal_handlers=False)
    rows = run.metrics()[1:]
    return statistics.median(r["images_per_sec"] for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=0, help="steps per block (default per model)")
    ap.add_argument("--model", choices=list(CASES), action="append", help="only these models (default all)")
    args = ap.parse_args()
    ds = load_builtin("mnist", "train")
    root = Path(tempfile.mkdtemp(prefix="gandash-bench-"))
    print(f"{'model':6s} {'update':12s} {'recipe img/s':>13s} {'gandash img/s':>14s} {'ratio':>6s}")
    for arch, preset in CASES.items():
        if args.model and arch not in args.model:
            continue
        cfg = make_config(preset)
        x = np.asarray(scale(ds.images.astype("float32")[..., None], cfg.output_activation))
        steps = args.steps or (300 if arch == "mlp" else 100)
        rec, ours = [], {u: [] for u in UPDATES}
        for _ in range(args.repeats):
            rec.append(recipe_images_per_sec(cfg, x, steps))
            for u in UPDATES:
                ours[u].append(gandash_images_per_sec(cfg, steps * 5, root, u))
        r = statistics.median(rec)
        for u in UPDATES:
            o = statistics.median(ours[u])
            print(f"{arch:6s} {u:12s} {r:13.0f} {o:14.0f} {o / r:6.2f}x   "
                  f"(recipe {[round(v) for v in rec]}, gandash {[round(v) for v in ours[u]]})", flush=True)

if __name__ == "__main__":
    main()
