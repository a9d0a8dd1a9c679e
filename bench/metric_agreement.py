"""Whether KID, FD within each digit and CAS rank a study's runs as FD does, from stored runs.

Each finished run of the study is scored again on ``--n`` samples (seed 0) with every metric, CAS
included for conditional models; nothing is written to the runs (the study's own figures stay).
Printed: each preset's median of each metric with real data's beside it, and Spearman's rank
correlation of each metric with FD over the runs (for CAS, over the conditional runs).

    python -m gandash study start --presets fast,fast-unsupervised,acgan,mlp-classic,dcgan-tricks,wgan-gp \
        --seeds 3 --budget 2m --name bench-2m --wait
    python -m bench.metric_agreement --runs-dir checkpoints --study ID [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from gandash.store.runs import RunStore  # noqa: E402
from gandash.studies import study as S  # noqa: E402

# (key, title, sign): sign +1 when lower is better, as FD; -1 when higher is better
METRICS = (("fd", "FD", 1), ("kid", "KID", 1), ("fd_digit", "FD within digits", 1),
           ("confidence", "confidence", -1), ("cas", "CAS", -1))


def score(store: RunStore, study: dict, n: int) -> tuple[list[dict], dict]:
    """Per finished run: its preset and every metric of ``n`` fresh samples; and real data's figures."""
    from gandash.explore.sampling import load_generator
    from gandash.quality.evaluate import evaluate_generator

    out, reference = [], {}
    for member, run in S.Studies(store).runs(study):
        if run is None or run.status().get("state") != "finished" or not run.generator_path.exists():
            continue
        cfg = run.config()
        result = evaluate_generator(load_generator(run.generator_path), cfg, store.root, n=n,
                                    with_cas=cfg.is_conditional)
        reference.update({k: v for k, v in result["reference"].items() if k not in reference})
        out.append({"run": run.id, "preset": member.get("preset"), "seed": member.get("seed"),
                    **{k: float(result.get(k, math.nan)) for k, _, _ in METRICS}})
        print(f"  {run.id}: FD {out[-1]['fd']:.2f}, KID {out[-1]['kid']:.4f}, CAS {out[-1]['cas']:.3f}",
              file=sys.stderr, flush=True)
    return out, reference


def agreement(rows: list[dict]) -> dict[str, dict]:
    """Spearman's rho of each metric against FD (sign-aligned: +1 = the same order), over the runs
    that have both; and the share of preset pairs the two metrics' medians order alike."""
    out = {}
    presets = sorted({r["preset"] for r in rows})
    med = {p: {k: float(np.nanmedian([r[k] for r in rows if r["preset"] == p])) for k, _, _ in METRICS}
           for p in presets}
    for key, _, sign in METRICS[1:]:
        have = [r for r in rows if math.isfinite(r[key]) and math.isfinite(r["fd"])]
        if len(have) < 4:
            continue
        rho, p = stats.spearmanr([r["fd"] for r in have], [sign * r[key] for r in have])
        pairs = [(a, b) for i, a in enumerate(presets) for b in presets[i + 1:]
                 if math.isfinite(med[a][key]) and math.isfinite(med[b][key])]
        alike = sum((med[a]["fd"] < med[b]["fd"]) == (sign * med[a][key] < sign * med[b][key]) for a, b in pairs)
        out[key] = {"rho": float(rho), "p": float(p), "runs": len(have), "pairs_alike": alike, "pairs": len(pairs)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs-dir", default="checkpoints")
    ap.add_argument("--study", required=True)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--json", help="write every run's figures here too")
    args = ap.parse_args()
    store = RunStore(args.runs_dir)
    study = S.Studies(store).get(args.study)
    rows, reference = score(store, study, args.n)
    presets = list(dict.fromkeys(r["preset"] for r in rows))
    print(f"{len(rows)} runs, {args.n:,} samples each (seed 0), the evaluator's features")
    print(f"{'preset':20s}" + "".join(f"{t:>18s}" for _, t, _ in METRICS))
    for p in [*presets, "real data"]:
        cells = []
        for key, _, _ in METRICS:
            if p == "real data":
                v = reference.get(key, math.nan)
                cells.append(f"{v:18.3f}" if isinstance(v, (int, float)) else f"{'–':>18s}")
                continue
            vals = [r[key] for r in rows if r["preset"] == p and math.isfinite(r[key])]
            cells.append(f"{np.median(vals):9.3f} ({min(vals):.3g}–{max(vals):.3g})" if vals else f"{'–':>18s}")
        print(f"{p:20s}" + "".join(c.rjust(18) for c in cells))
    print("\nAgreement with FD (Spearman's rho over runs, sign-aligned; preset medians ordered alike):")
    for key, a in agreement(rows).items():
        print(f"  {key:10s} rho {a['rho']:+.2f} (p {a['p']:.2g}, {a['runs']} runs); "
              f"{a['pairs_alike']} of {a['pairs']} preset pairs ordered as FD orders them")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": rows, "reference": reference}, indent=2))


if __name__ == "__main__":
    main()
