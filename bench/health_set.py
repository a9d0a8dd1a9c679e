"""The labelled set that health alerts are calibrated on: failures provoked on every preset family, and healthy runs.

``make`` trains the set into a runs folder, one process, each run named ``family/label/seed``. ``score`` reads
that folder back, diagnoses every run with today's rules (``health.diagnose``, a pure function of the run's
files) and prints the confusion table: per failure and family, which alerts fired and from which step. Seed 0
is the part the thresholds were chosen on; the other seeds are held out.

    GANDASH_DATA_DIR=../shared/data python -m bench.health_set make OUT [--seeds 0 1] [--healthy-s 300] [--all]
    python -m bench.health_set score OUT [--tuned-seeds 0]
    python -m bench.health_set export OUT tests/data/health [--seeds 0]   # the recorded runs the tests diagnose
    python -m bench.health_set check RUNS_DIR   # any runs folder (a study, say) diagnosed with today's rules

Every run evaluates 300 samples every 250 steps (``eval_every``), as the default quality probe does.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from gandash.config import PRESETS, make_config  # noqa: E402
from gandash.quality import health  # noqa: E402
from gandash.store.runs import RunStore  # noqa: E402

# family: the preset that stands for it
FAMILIES = {"mlp": "mlp-classic", "dcgan-upsample": "dcgan-keras", "dcgan-transposed": "dcgan-tricks",
            "conditional": "fast", "acgan": "acgan", "wgan-gp": "wgan-gp"}
HEALTHY = list(PRESETS)  # every preset, as a user starts it
WARMUP = int(health.limit("warmup_steps"))
FAILURE_STEPS = WARMUP + 1000  # "flagged within 1,000 steps after the warm-up"
PROBE = dict(eval_every=250, eval_samples=300)


def dominance(p: dict, seed: int) -> dict:
    """D's rate 20× (seed 0) or 40× (other seeds) G's: realistic, not extreme."""
    d = min(5 * p.get("d_lr", 2e-4), 0.005)
    return dict(d_lr=d, g_lr=d / (20 if seed == 0 else 40), lr_end=1.0)


# label: (expected alert, overrides of the family's preset, given (preset values, seed)); None: not for WGAN-GP
FAILURES = {
    "d_dominates": ("discriminator_wins", dominance),
    "d_at_chance": ("d_at_chance", lambda p, s: dict(d_lr=0.01, lr_end=1.0)),
    "mode_collapse": ("mode_collapse", lambda p, s: dict(latent_dim=1, latent_dist="sphere")),
    "vanishing": ("vanishing_gradient", lambda p, s: dict(g_optimizer="sgd", g_lr=5.0, g_beta1=0.0,
                                                          batch_norm=False, ema=0.0, lr_end=1.0)),
    "oscillation": ("oscillation", lambda p, s: dict(g_lr=0.05, d_lr=0.05, lr_end=1.0)),
    "no_progress": ("no_progress", lambda p, s: dict(g_lr=1e-7, lr_end=1.0)),
}
NOT_FOR_CRITICS = {"d_dominates", "d_at_chance"}  # a critic gives scores, not probabilities
# Two runs where an expert sees a failure and the first alerts stayed silent: family, label, overrides.
NAMED = {"keras-d50x": ("dcgan-upsample", "d_dominates", dict(d_lr=1e-3, g_lr=2e-5, steps=1400, max_seconds=0.0)),
         "tricks-dlr-0.01": ("dcgan-transposed", "d_at_chance", dict(d_lr=0.01, steps=1300, max_seconds=0.0))}


# What a 2-core CPU affords in an hour per seed (the rest with --all): every failure on the three fastest families,
# discriminator dominance on the others; DCGAN-upsample and WGAN-GP train at 4 and 2 steps/s there.
AFFORDABLE = {"mlp": None, "conditional": None, "dcgan-transposed": None, "dcgan-upsample": {"d_dominates"},
              "acgan": {"d_dominates", "mode_collapse"}, "wgan-gp": set()}


def plan(seeds: list[int], healthy_s: float, failure_s: float, everything: bool = False,
         families: set[str] | None = None, named: set[str] = frozenset(),
         healthy: list[str] | None = None) -> list[tuple[str, str, int, dict]]:
    """(name, preset, seed, overrides) of every run, seed by seed so that a stopped make leaves whole seeds, and
    each seed's healthy runs first, so that every provoked run finished has its healthy twin to be judged against."""
    out = []
    for seed in seeds:
        for preset in healthy or HEALTHY:
            if families and not healthy and not any(FAMILIES.get(f) == preset for f in families):
                continue
            out.append((f"{preset}/healthy/{seed}", preset, seed, dict(max_seconds=healthy_s)))
        for family, preset in FAMILIES.items():
            if families and family not in families:
                continue
            for label, (_, change) in FAILURES.items():
                if preset == "wgan-gp" and label in NOT_FOR_CRITICS:
                    continue
                if not everything and AFFORDABLE[family] is not None and label not in AFFORDABLE[family]:
                    continue
                over = dict(change(PRESETS[preset], seed), steps=FAILURE_STEPS, max_seconds=failure_s)
                out.append((f"{family}/{label}/{seed}", preset, seed, over))
        for key, (family, label, over) in ((k, v) for k, v in NAMED.items() if k in named):
            out.append((f"{family}/{label}/{seed}-{key}", FAMILIES[family], seed, over))
    return out


def make(out: Path, seeds: list[int], healthy_s: float, failure_s: float, everything: bool = False,
         families: set[str] | None = None, named: set[str] = frozenset(), healthy: list[str] | None = None) -> int:
    from gandash.engine.train import train
    from gandash.quality import evaluate

    store = RunStore(out)
    done = {r.config().name for r in store.list()}
    evaluate.ensure_evaluator("mnist", store.root)
    for name, preset, seed, over in plan(seeds, healthy_s, failure_s, everything, families, named, healthy):
        if name in done:
            continue
        run = store.create(make_config(preset, {**over, **PROBE, "seed": seed, "name": name}))
        t = time.perf_counter()
        state = train(run, install_signal_handlers=False, queued=False)
        print(f"{name}: {state}, step {run.status().get('step')}, {time.perf_counter() - t:.0f} s", flush=True)
    return 0


HARM = 1.5  # a provoked run failed when its FD is at least this many times its healthy twin's (same seed, step)


def _probe_fd(evals: list[dict], step: float) -> float:
    """FD of the last probe (300 samples) at or before ``step``."""
    fds = [e["fd"] for e in evals if e.get("n") == PROBE["eval_samples"] and e["step"] <= step]
    return fds[-1] if fds else math.nan


def labelled(out: Path) -> list[dict]:
    """Every run of the set: name parts, config, rows, evaluations, and whether a provoked one really failed
    (its last probe's FD at least HARM times that of the healthy run of its preset and seed, at that step)."""
    runs = {r.config().name: r for r in RunStore(out).list()}
    items = []
    for name, run in sorted(runs.items()):
        try:
            family, label, seed = name.split("/")
        except ValueError:
            continue
        evals = run.eval_rows()
        item = dict(name=name, family=family, label=label, seed=int(seed.split("-")[0]), config=run.config().to_dict(),
                    rows=run.metrics(), evals=evals, failed=False, fd=math.nan, healthy_fd=math.nan)
        if label != "healthy":
            twin = runs.get(f"{FAMILIES[family]}/healthy/{item['seed']}")
            last = max((e["step"] for e in evals if e.get("n") == PROBE["eval_samples"]), default=0)
            item["fd"] = _probe_fd(evals, last)
            item["healthy_fd"] = _probe_fd(twin.eval_rows(), last) if twin else math.nan
            # NaN: not judged, not failed; a NAMED run failed by the account of the expert who saw it
            item["failed"] = "-" in seed or bool(item["fd"] >= HARM * item["healthy_fd"])
        items.append(item)
    return items


ABBREV = {"discriminator_wins": "Dw", "d_at_chance": "Dc", "mode_collapse": "mc", "vanishing_gradient": "vg",
          "oscillation": "os", "no_progress": "np"}


def score(out: Path, tuned: set[int], matrix: bool = False) -> int:
    """The confusion table, the tuned seeds and the held-out ones apart. ``matrix``: one row per failure, one
    column per family, each cell the first alert and its step per seed (° marks a provoked run that did no harm)."""
    short: dict[tuple[str, str], list[str]] = defaultdict(list)
    from gandash.config import config_from_dict

    table: dict[tuple[str, str], list[str]] = defaultdict(list)
    # tuned?: [failures, flagged in time, healthy, false alarms, provoked without harm, flagged anyway]
    tally = {True: [0] * 6, False: [0] * 6}
    for it in labelled(out):
        cfg = config_from_dict(it["config"])
        alerts = health.diagnose(it["rows"], it["evals"], cfg)
        part, t = it["seed"] in tuned, tally[it["seed"] in tuned]
        first = min((a.step for a in alerts), default=math.inf)
        if it["label"] == "healthy":
            t[2] += 1
            t[3] += bool(alerts)
        elif it["failed"]:
            t[0] += 1
            t[1] += first <= FAILURE_STEPS
        else:
            t[4] += 1
            t[5] += bool(alerts)
        fired = ", ".join(f"{a.kind} @ {a.step:,}" for a in alerts) or "none"
        harm = "" if it["label"] == "healthy" else (
            f" (FD {it['fd']:.0f} vs {it['healthy_fd']:.0f}{'' if it['failed'] else ', no harm'})")
        table[(it["label"], it["family"])].append(f"{it['seed']}{'' if part else '*'}: {fired}{harm}")
        first_alert = min(alerts, key=lambda a: a.step, default=None)
        family = next((f for f, p in FAMILIES.items() if p == it["family"]), it["family"]) \
            if it["label"] == "healthy" else it["family"]
        cell = f"{ABBREV[first_alert.kind]} {first_alert.step:,}" if first_alert else "–"
        mark = "" if it["label"] == "healthy" or it["failed"] else "°"
        name_tail = it["name"].split("/")[2]
        short[(it["label"], family)].append(f"{name_tail}{'' if part else '*'}: {cell}{mark}")
    if matrix:
        fams = [*FAMILIES, *(p for p in HEALTHY if p not in FAMILIES.values())]  # + presets that stand for none
        print("| provoked \\ family | " + " | ".join(fams) + " |\n|---|" + "---|" * len(fams))
        for label in ["healthy", *FAILURES]:
            cells = [" · ".join(short.get((label, f), [])) or "" for f in fams]
            print(f"| {label} | " + " | ".join(cells) + " |")
    else:
        print("| provoked | family | alerts fired (from step), per seed (* held out) |\n|---|---|---|")
        for (label, family), cells in table.items():
            print(f"| {label} | {family} | {'; '.join(cells)} |")
    print(f"\nCALIBRATION (held out) = {calibration(out, tuned)}")
    for part, name in ((True, "tuned on"), (False, "held out")):
        f, caught, h, alarms, harmless, flagged = tally[part]
        if f or h:
            print(f"\n{name}: {caught} of {f} provoked failures flagged by step {FAILURE_STEPS:,}; "
                  f"{alarms} of {h} healthy runs raised an alert; {flagged} of {harmless} provoked runs that did "
                  f"no harm raised one")
    return 0


def calibration(out: Path, tuned: set[int]) -> dict[str, tuple[int, int, int, int]]:
    """Per alert kind, on the held-out runs: (failures provoked for it that it flagged by FAILURE_STEPS, those
    failures, healthy runs it fired on, healthy runs): what ``health.CALIBRATION`` holds."""
    from gandash.config import config_from_dict

    tally = {kind: [0, 0, 0, 0] for kind, _ in FAILURES.values()}
    for it in labelled(out):
        if it["seed"] in tuned or not (it["label"] == "healthy" or it["failed"]):
            continue
        alerts = health.diagnose(it["rows"], it["evals"], config_from_dict(it["config"]))
        fired = {a.kind for a in alerts if a.step <= FAILURE_STEPS}
        if it["label"] == "healthy":
            for kind, t in tally.items():
                t[2] += kind in fired
                t[3] += 1
        else:
            kind = FAILURES[it["label"]][0]
            tally[kind][0] += kind in fired
            tally[kind][1] += 1
    return {k: tuple(v) for k, v in tally.items() if v[1]}


def export(out: Path, dest: Path, seeds: set[int]) -> int:
    """The healthy runs and the failed provoked ones of ``seeds``, compact (the columns the diagnosis reads),
    one .json.gz each: the recorded runs tests/test_health_provoked.py diagnoses."""
    import gzip
    import json

    keys = ("step", "d_loss", "g_loss", "d_real", "d_fake", "d_acc_fake", "g_grad_norm", "sample_spread")
    ekeys = ("step", "n", "fd", "confidence", "precision", "recall", "digit_entropy", *(f"hist_{k}" for k in range(10)))
    dest.mkdir(parents=True, exist_ok=True)
    for it in labelled(out):
        if it["seed"] not in seeds or not (it["label"] == "healthy" or it["failed"]):
            continue
        slim = dict(name=it["name"], label=it["label"], expected=(FAILURES.get(it["label"]) or ("",))[0],
                    config=it["config"],
                    rows=[{k: round(r[k], 5) for k in keys if k in r and math.isfinite(r[k])} for r in it["rows"]],
                    evals=[{k: round(e[k], 5) for k in ekeys if k in e and math.isfinite(e[k])} for e in it["evals"]])
        path = dest / (it["name"].replace("/", "-") + ".json.gz")
        with gzip.open(path, "wt") as f:
            json.dump(slim, f, separators=(",", ":"))
        print(f"{path}: {path.stat().st_size / 1024:.0f} KiB")
    return 0


def check(folder: Path) -> int:
    """Any runs folder (a study of every preset, say), diagnosed with today's rules: false alarms on healthy runs."""
    print("| run | steps | evaluations | alerts (from step) |\n|---|---|---|---|")
    for run in RunStore(folder).list():
        cfg = run.config()
        alerts = health.diagnose(run.metrics(), run.eval_rows(), cfg)
        text = ", ".join(f"{a.kind} @ {a.step:,}" for a in alerts) or "none"
        print(f"| {cfg.name or run.id} ({cfg.architecture}) | {run.status().get('step')} | {len(run.eval_rows())} | "
              f"{text} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("out", type=Path)
    m.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    m.add_argument("--healthy-s", type=float, default=300.0, help="training seconds of each healthy run")
    m.add_argument("--failure-s", type=float, default=240.0, help="at most this many seconds per provoked run")
    m.add_argument("--all", action="store_true", help="every failure on every family (hours on 2 cores)")
    m.add_argument("--families", nargs="+", choices=list(FAMILIES), help="only these families (and their presets)")
    m.add_argument("--named", nargs="*", choices=list(NAMED), default=[], help="also these runs an expert flags")
    m.add_argument("--healthy", nargs="*", choices=HEALTHY, help="healthy runs of these presets (default: every "
                   "preset, or those of --families)")
    s = sub.add_parser("score")
    s.add_argument("out", type=Path)
    s.add_argument("--tuned-seeds", type=int, nargs="+", default=[0])
    s.add_argument("--matrix", action="store_true", help="one row per failure, one column per family")
    e = sub.add_parser("export")
    e.add_argument("out", type=Path)
    e.add_argument("dest", type=Path)
    e.add_argument("--seeds", type=int, nargs="+", default=[0])
    c = sub.add_parser("check")
    c.add_argument("folder", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "check":
        return check(args.folder)
    if args.cmd == "export":
        return export(args.out, args.dest, set(args.seeds))
    if args.cmd == "make":
        return make(args.out, args.seeds, args.healthy_s, args.failure_s, args.all,
                    set(args.families) if args.families else None, set(args.named), args.healthy)
    return score(args.out, set(args.tuned_seeds), args.matrix)


if __name__ == "__main__":
    sys.exit(main())
