"""How often a study's comparisons name a winner where there is none (A/A), from stored runs.

A study whose variants differ only in a setting that changes nothing the model learns (``log_every``,
say) holds, for each preset, runs that are all alike but for their seed. For each such preset:

1. *Resplits*: its runs pooled and split into two equal groups in every way (6 runs: 10 splits); each
   split is decided by ``compare.compare`` as if it were two variants.
2. *Simulation*: 2,000 A/A studies drawn from a normal with the pooled runs' mean and spread, with as
   many seeds a side as the study had.

Printed per metric: the share of comparisons that named a winner (the target is 5 % or less).

    python -m gandash study start --presets fast,mlp-classic --seeds 3 --budget 40s --vary log_every=10,20 --wait
    python -m bench.aa_rate --runs-dir checkpoints --study ID
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from gandash.store.runs import RunStore  # noqa: E402
from gandash.studies import compare as C  # noqa: E402
from gandash.studies import study as S  # noqa: E402


def resplits(pool: list[dict]) -> dict[str, list[bool]]:
    """Per metric, for every split of ``pool`` into two halves: whether a winner was named."""
    half = len(pool) // 2
    named: dict[str, list[bool]] = {}
    for left in itertools.combinations(range(len(pool)), half):
        if 0 not in left:  # each split once, not also its mirror
            continue
        a = [pool[i] for i in left]
        b = [pool[i] for i in range(len(pool)) if i not in left]
        for c in C.compare({"A": a, "B": b}):
            named.setdefault(c["metric"], []).append(c["winner"] is not None)
    return named


def simulated(pool: list[dict], seeds: int, studies: int, rng) -> dict[str, float]:
    """Per metric: the share of simulated A/A studies that named a winner."""
    out = {}
    for key, _, _ in C.HEADLINE:
        field = C.FIELD.get(key, key)
        vals = np.array([s[field] for s in pool if np.isfinite(s.get(field, np.nan))])
        if len(vals) < 3 or vals.std() == 0:
            continue
        wins = 0
        for _ in range(studies):
            a, b = rng.normal(vals.mean(), vals.std(ddof=1), (2, seeds))
            got = C.compare({"A": [{field: v} for v in a], "B": [{field: v} for v in b]})
            wins += any(c["winner"] is not None for c in got if c["metric"] == key)
        out[key] = wins / studies
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs-dir", default="checkpoints")
    ap.add_argument("--study", required=True)
    ap.add_argument("--simulated", type=int, default=2000)
    args = ap.parse_args()
    studies = S.Studies(RunStore(args.runs_dir))
    study = studies.get(args.study)
    per_variant = S.summaries(studies, study)
    rows, comparisons = S.analysis(studies, study)
    print(S.verdict(rows, comparisons))
    for c in comparisons:
        print("  " + C.describe(c))
    rng = np.random.default_rng(0)
    for preset in study["presets"]:
        pool = [s for v, runs in per_variant.items() if v.split()[0] == preset for s in runs]
        named = resplits(pool)
        sim = simulated(pool, study["seeds"], args.simulated, rng)
        print(f"\n{preset}: {len(pool)} runs pooled")
        for key, title, _ in C.HEADLINE:
            if key in named:
                print(f"  {title:24s} resplits: {sum(named[key])} of {len(named[key])} named a winner; "
                      f"simulated: {sim.get(key, float('nan')):.1%} of {args.simulated}")


if __name__ == "__main__":
    main()
