"""Health alerts on provoked failures and on healthy runs: which alert fired, and from which step.

Trains each provoked failure below in a fresh runs folder (with an MNIST evaluator, for the
in-training evaluations), then prints one markdown table row per run with the alerts its trainer
wrote. ``--healthy DIR`` adds the runs of an existing folder (a study of every preset, say), to
count false alarms.

    GANDASH_DATA_DIR=../shared/data python bench/health_alerts.py [--healthy RUNS_DIR] [--only NAME]
        [--evaluators-from RUNS_DIR]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gandash.config import make_config  # noqa: E402
from gandash.quality import health  # noqa: E402
from gandash.store.runs import Run, RunStore  # noqa: E402

# name: (what is provoked, the alert expected, overrides of the fast preset)
PROVOKED = {
    "d-50x": ("D's learning rate 50× G's", "discriminator_wins",
              dict(architecture="dcgan", g_lr=2e-5, d_lr=1e-3, lr_end=1.0, augment=0.0, steps=1500)),
    "two-latents": ("G held to two latent values (1-d latent on the sphere)", "mode_collapse",
                    dict(architecture="dcgan", latent_dim=1, latent_dist="sphere", steps=1500, eval_every=250)),
    "lr-0.05": ("both learning rates 0.05 (100× too high)", "any",
                dict(architecture="dcgan", g_lr=0.05, d_lr=0.05, lr_end=1.0, steps=1500, eval_every=250)),
    "g-saturated": ("G's rate 5 with plain SGD, no batch norm: one step saturates its tanh", "vanishing_gradient",
                    dict(architecture="dcgan", g_optimizer="sgd", g_lr=5.0, g_beta1=0.0, batch_norm=False, lr_end=1.0,
                         ema=0.0, steps=1500)),
    "mlp-frozen": ("an MLP GAN whose G barely learns (G's rate 1e-7)", "no_progress",
                   dict(architecture="mlp", g_lr=1e-7, lr_end=1.0, steps=3000, eval_every=300, augment=0.0)),
}


def alerts_text(run: Run) -> str:
    found = health.read(run)
    return ", ".join(f"{a.kind} @ {a.step:,}" for a in found) or "none"


def provoke(store: RunStore, names: list[str]) -> list[str]:
    rows = []
    from gandash.engine.train import train

    for name in names:
        what, expected, overrides = PROVOKED[name]
        run = store.create(make_config("fast", {**overrides, "name": name}))
        t = time.perf_counter()
        state = train(run, install_signal_handlers=False)
        rows.append(f"| {what} | `{name}` | {expected} | {alerts_text(run)} | {run.status().get('step')} "
                    f"({state}, {time.perf_counter() - t:.0f} s) |")
        print(rows[-1], flush=True)
    return rows


def healthy(folder: Path) -> list[str]:
    rows = []
    for run in RunStore(folder).list():
        cfg = run.config()
        alerts = health.diagnose(run.metrics(), run.eval_rows(), cfg)  # what its trainer writes
        text = ", ".join(f"{a.kind} @ {a.step:,}" for a in alerts) or "none"
        rows.append(f"| {cfg.name or run.id} ({cfg.architecture}) | {run.status().get('step')} | "
                    f"{len(run.eval_rows())} | {text} |")
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--healthy", type=Path, help="a runs folder of healthy runs to check for false alarms")
    ap.add_argument("--only", action="append", choices=list(PROVOKED), help="provoke only these (repeatable)")
    ap.add_argument("--no-provoke", action="store_true")
    ap.add_argument("--evaluators-from", type=Path, help="a runs folder whose trained evaluator to reuse")
    args = ap.parse_args(argv)
    if not args.no_provoke:
        from gandash.quality import evaluate

        with tempfile.TemporaryDirectory() as tmp:
            store = RunStore(Path(tmp) / "runs")
            if args.evaluators_from:
                import shutil

                shutil.copytree(args.evaluators_from / "_evaluators", store.root / "_evaluators",
                                ignore=shutil.ignore_patterns("*.lock"))
            evaluate.ensure_evaluator("mnist", store.root)
            print("| provoked | preset `fast` with | expected | alerts fired (from step) | steps |")
            print("|---|---|---|---|---|")
            provoke(store, args.only or list(PROVOKED))
    if args.healthy:
        print("\n| healthy run | steps | evaluations | alerts |")
        print("|---|---|---|---|")
        healthy(args.healthy)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
