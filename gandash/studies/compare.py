"""Which variant of a study is better, said only when the data can tell: a stated test for every pair of
variants and headline metric, its effect size, and the seeds a clear answer would need."""
from __future__ import annotations

import math
import statistics
from typing import Any

ALPHA = 0.05  # the family-wise error rate of each metric's decisions (Holm over the pairs)
POWER = 0.8  # for "seeds needed": the chance of a clear answer if the difference seen is real
# (key, title, better): the metrics every pair is decided on
HEADLINE = (("fd", "FD", "low"), ("kid", "KID", "low"), ("confidence", "confidence", "high"),
            ("cond_acc", "per-digit acc", "high"), ("time_to_conf", "time to confidence 0.8", "low"))
FIELD = {"time_to_conf": "time_to_conf_bound"}  # a run that never got there counts its whole training time
# A metric's sampling error within one run (an evaluation's noise): FD's bootstrap, KID's spread over subsets, and
# the binomial error of a share of samples (precision's and recall's given the other side's manifold).
SAMPLING_ERROR = {"fd": "fd_se", "kid": "kid_std", "confidence": "confidence_se", "cond_acc": "cond_acc_se",
                  "precision": "precision_se", "recall": "recall_se"}
WELCH = "Welch's t-test over seeds"
Z_SAMPLING = "z-test on each run's sampling error (one seed: the spread between seeds is not counted)"


def centre(values: list[float], errors: list[float] | None = None) -> tuple[float, float]:
    """The mean over seeds and the half-width of its 95 % interval: Student's t over seeds, or with one
    seed, 1.96 × that run's sampling error (NaN when it has none)."""
    from scipy import stats

    vals = [v for v in values if math.isfinite(v)]
    if not vals:
        return math.nan, math.nan
    mean = statistics.fmean(vals)
    if len(vals) >= 2:
        return mean, float(stats.t.ppf(0.975, len(vals) - 1) * statistics.stdev(vals) / math.sqrt(len(vals)))
    err = (errors or [math.nan])[0]
    return mean, 1.96 * err if err is not None and math.isfinite(err) else math.nan


def _finite(xs) -> list[float]:
    return [float(x) for x in xs if isinstance(x, (int, float)) and math.isfinite(x)]


def _test(a: list[float], b: list[float], sa: list[float], sb: list[float]) -> tuple[float, float, float, str]:
    """(p, difference a − b, half-width of its 95 % interval, test name); p is NaN when no test applies."""
    from scipy import stats

    diff = statistics.fmean(a) - statistics.fmean(b)
    if len(a) >= 2 and len(b) >= 2:
        va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
        if va + vb == 0:
            return (1.0 if diff == 0 else 0.0), diff, 0.0, WELCH
        df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
        t = diff / math.sqrt(va + vb)
        return float(2 * stats.t.sf(abs(t), df)), diff, float(stats.t.ppf(0.975, df) * math.sqrt(va + vb)), WELCH
    var = [statistics.variance(x) / len(x) if len(x) >= 2 else (s[0] ** 2 if s and math.isfinite(s[0]) else math.nan)
           for x, s in ((a, sa), (b, sb))]
    if not all(math.isfinite(v) for v in var) or sum(var) == 0:
        return math.nan, diff, math.nan, "none (one seed and no sampling error)"
    z = diff / math.sqrt(sum(var))
    return float(2 * stats.norm.sf(abs(z))), diff, 1.96 * math.sqrt(sum(var)), Z_SAMPLING


def seeds_needed(a: list[float], b: list[float]) -> int | None:
    """Seeds per variant for a clear answer (two-sided, ALPHA, POWER) if the means and spread seen held
    (the normal approximation, at least one more than there are);
    None when there is no spread to go on, 1000 when the means are (almost) equal."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return None
    sd = math.sqrt((statistics.variance(a) + statistics.variance(b)) / 2)
    delta = abs(statistics.fmean(a) - statistics.fmean(b))
    if sd == 0:
        return None
    if delta < 1e-3 * sd:
        return 1000
    z = stats.norm.ppf(1 - ALPHA / 2) + stats.norm.ppf(POWER)
    # the normal approximation understates small samples: never fewer than one seed more than seen
    return min(1000, max(max(len(a), len(b)) + 1, math.ceil(2 * (z * sd / delta) ** 2)))


def _hedges_g(a: list[float], b: list[float]) -> float:
    if len(a) < 2 or len(b) < 2:
        return math.nan
    pooled = math.sqrt(((len(a) - 1) * statistics.variance(a) + (len(b) - 1) * statistics.variance(b))
                       / (len(a) + len(b) - 2))
    if pooled == 0:
        return math.nan
    return (statistics.fmean(a) - statistics.fmean(b)) / pooled * (1 - 3 / (4 * (len(a) + len(b)) - 9))


def _holm(ps: list[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (NaN stays NaN)."""
    order = sorted((p, i) for i, p in enumerate(ps) if math.isfinite(p))
    out, running = [math.nan] * len(ps), 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p))
        out[i] = running
    return out


def compare(per_variant: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every pair of variants on every headline metric: a winner, or None for "no clear difference".

    ``per_variant`` maps each variant to its runs' summaries (``study.run_summary``): seed-level values
    with, where evaluated, their sampling error (:data:`SAMPLING_ERROR`). With two or more seeds a side,
    Welch's t-test compares the means over seeds (a seed's value already carries its sampling noise);
    with one seed, a z-test on the runs' sampling errors. The p-values of one metric are Holm-adjusted
    over its pairs, so each metric names a false winner in at most 5 % of studies where all are equal.
    """
    names = list(per_variant)
    out = []
    for key, title, better in HEADLINE:
        items, values = [], []
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                va, vb = (_finite(s.get(FIELD.get(key, key)) for s in per_variant[n]) for n in (a, b))
                if not va or not vb:
                    continue
                errs = SAMPLING_ERROR.get(key)
                sa, sb = ([s.get(errs, math.nan) for s in per_variant[n]] if errs else [] for n in (a, b))
                p, diff, half, test = _test(va, vb, sa, sb)
                values.append((va, vb))
                items.append({"a": a, "b": b, "metric": key, "title": title, "better": better, "test": test,
                              "p": p, "difference": diff, "difference_ci": [diff - half, diff + half],
                              "effect_size": _hedges_g(va, vb), "mean_a": statistics.fmean(va),
                              "mean_b": statistics.fmean(vb), "n_a": len(va), "n_b": len(vb)})
        for item, (va, vb), adjusted in zip(items, values, _holm([it["p"] for it in items]), strict=True):
            clear = math.isfinite(adjusted) and adjusted < ALPHA and item["difference"] != 0
            lower = item["a"] if item["difference"] < 0 else item["b"]
            higher = item["b"] if lower == item["a"] else item["a"]
            item.update(p_holm=adjusted, winner=(lower if better == "low" else higher) if clear else None)
            item["seeds_needed"] = None if clear else seeds_needed(va, vb)
            out.append(item)
    return out


def _fmt(key: str, v: float) -> str:
    if key == "time_to_conf":
        return f"{v:.1f} s" if abs(v) < 10 else f"{v:.0f} s"
    return f"{v:.2g}" if key == "kid" else f"{v:.3g}"


def sentence(comparisons: list[dict[str, Any]], key: str) -> str | None:
    """What the decisions on one metric say, in one clause: the variant with the best mean, those the data
    cannot tell from it, and whether they are clearly ahead of the rest."""
    items = [c for c in comparisons if c["metric"] == key]
    if not items:
        return None
    means: dict[str, float] = {}
    for c in items:
        means[c["a"]], means[c["b"]] = c["mean_a"], c["mean_b"]
    better, title = items[0]["better"], items[0]["title"]
    top = (min if better == "low" else max)(means, key=means.get)

    def pair(x: str, y: str) -> dict[str, Any]:
        return next(c for c in items if {c["a"], c["b"]} == {x, y})

    tied = [v for v in means if v != top and pair(top, v)["winner"] != top]
    leaders = [top, *tied]
    rest = [v for v in means if v not in leaders]
    ahead = bool(rest) and all(pair(x, y)["winner"] == x for x in leaders for y in rest)
    others = "every other variant" if len(rest) > 1 else (rest[0] if rest else "")
    if not tied:
        p = max(pair(top, v)["p_holm"] for v in rest)
        return (f"{top} has the best {title} ({_fmt(key, means[top])}), clearly ahead of {others} "
                f"({items[0]['test'].split(' (')[0]}, Holm-adjusted p ≤ {p:.2g})")
    need = [pair(top, v)["seeds_needed"] for v in tied if pair(top, v)["seeds_needed"]]
    spread = (f"the spread seen would need about {max(need)} seeds a variant to tell" if need
              else "too few seeds to tell")
    text = (f"no clear difference in {title} between {', '.join(leaders[:-1])} and {leaders[-1]} "
            f"({_fmt(key, means[top])} against {_fmt(key, means[tied[-1]] if len(tied) == 1 else means[top])}"
            f"{'' if len(tied) == 1 else ' at best'}; {spread})")
    if ahead:
        text += f", {'both' if len(leaders) == 2 else 'all'} clearly ahead of {others}"
    return text


def describe(c: dict[str, Any]) -> str:
    """One decision as a line: the winner or "no clear difference", with the test's figures."""
    key = c["metric"]
    head = (f"{c['title']}: {c['winner']} better" if c["winner"] else f"{c['title']}: no clear difference")
    lo, hi = c["difference_ci"]
    figures = [f"{c['a']} {_fmt(key, c['mean_a'])} vs {c['b']} {_fmt(key, c['mean_b'])}"]
    if math.isfinite(lo):
        figures.append(f"difference {_fmt(key, c['difference'])} [{_fmt(key, lo)}, {_fmt(key, hi)}]")
    if math.isfinite(c["effect_size"]):
        figures.append(f"Hedges' g {c['effect_size']:+.2f}")
    if math.isfinite(c["p_holm"]):
        figures.append(f"p {c['p']:.2g}, Holm {c['p_holm']:.2g}")
    if c.get("seeds_needed"):
        figures.append(f"about {c['seeds_needed']} seeds a variant to tell")
    return f"{head} ({'; '.join(figures)}; {c['test']}, {c['n_a']} vs {c['n_b']} runs)"


TESTS_NOTE = ("Each pair is decided per metric with Welch's t-test over the seeds' values (with one seed a side, "
              "a z-test on the runs' sampling error); a metric's p-values are Holm-adjusted over its pairs and a "
              "winner is named below 0.05. Effect size: Hedges' g (the difference in pooled seed-to-seed "
              "standard deviations); the difference's 95 % interval; and, when nothing is clear, about how many "
              "seeds a variant the spread seen would need.")


def table(comparisons: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The decisions as rows of text, for the Studies page and the report."""
    rows = []
    for c in comparisons:
        key, (lo, hi) = c["metric"], c["difference_ci"]
        rows.append({"metric": c["title"], "pair": f"{c['a']} vs {c['b']}",
                     "decision": f"{c['winner']} better" if c["winner"] else "no clear difference",
                     "means": f"{_fmt(key, c['mean_a'])} vs {_fmt(key, c['mean_b'])}",
                     "difference [95 %]": (f"{_fmt(key, c['difference'])} [{_fmt(key, lo)}, {_fmt(key, hi)}]"
                                           if math.isfinite(lo) else _fmt(key, c["difference"])),
                     "Hedges' g": f"{c['effect_size']:+.2f}" if math.isfinite(c["effect_size"]) else "–",
                     "p (Holm)": f"{c['p_holm']:.2g}" if math.isfinite(c["p_holm"]) else "–",
                     "seeds needed": str(c["seeds_needed"]) if c.get("seeds_needed") else "",
                     "test": f"{c['test'].split(' (')[0]}, {c['n_a']} vs {c['n_b']} runs"})
    return rows
