"""Health diagnoses of a run: the well-known ways GAN training fails, read from what the trainer logs.

``diagnose`` is a pure function of a run's metrics rows and evaluation rows; the trainer
calls it as it goes and writes the result to ``health.json``, so the CLI and every page
show the same verdict. Each alert says what is wrong in plain words, from which step,
and what to try: remedies that each change named settings. Every threshold is in
:data:`THRESHOLDS`, with the reason for its value.
"""
from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from gandash.config import ConfigError, RunConfig, validate
from gandash.store.runs import Run, RunError, atomic_write_json, read_json

# name: (value, why this value). Checked against healthy runs of every preset (BENCHMARKS.md, "Health").
THRESHOLDS: dict[str, tuple[float, str]] = {
    "warmup_steps": (300, "the first few hundred steps of every GAN are rough (D ahead, losses jumping): "
                          "nothing is judged before them"),
    "d_wins_accuracy": (0.99, "D calls over 99 % of the fakes fake: healthy runs of every preset stay below it"),
    "d_wins_steps": (300, "a stretch of steps, not a moment: D pulls ahead for a while in healthy runs too"),
    "d_wins_g_rise": (0.5, "G's loss climbs by at least this much (nats) over the stretch: G is losing ground"),
    "d_wins_window": (400, "D's and G's scores are averaged over this many steps: one interval's dip means nothing"),
    "d_wins_level": (0.15, "D gives the generated images a mean score (D(G(z))) below this, steadily: healthy runs of "
                           "every preset average 0.36 or more after the warm-up"),
    "d_wins_level_acc": (0.85, "…and calls over 85 % of them fake"),
    "d_wins_level_steps": (100, "for two checks in a row at least (the window already smooths)"),
    "d_wins_gap": (0.3, "or D scores real images this much higher than generated ones, on average over the window: "
                        "healthy runs of every preset keep the gap at 0.21 or less (dcgan-keras and acgan under 0.1), "
                        "and D's rate 20× G's opens it to 0.44-0.69"),
    "d_wins_gap_acc": (0.75, "…while calling over 75 % of the fakes fake"),
    "chance_gap": (0.2, "D scores real images at most this much higher than generated ones, averaged over the "
                        "window: it barely tells them apart (D's rate 50× too high: 0.16)…"),
    "chance_confidence": (0.25, "…while the evaluator reads fewer than a quarter of the samples with confidence: "
                                "poor digits (healthy dcgan-tricks, the slowest preset, reads a third by step 750). "
                                "A good generator may fool D; a poor one should not"),
    "vanish_ratio": (0.01, "G's gradient norm below 1 % of its largest typical size so far (a median of 5 rows): "
                           "its weights stop moving; healthy preset runs dip to 4 % for a moment at most"),
    "vanish_steps": (200, "for a stretch of steps, not one interval"),
    "collapse_confidence": (0.3, "the histogram is judged once this share of samples is read with confidence, "
                                 "or (next) once enough lie among real images: before, it means nothing"),
    "collapse_precision": (0.5, "half of the samples inside the real images' manifold: a collapsed G's few "
                                "images can be realistic yet hard to read"),
    "collapse_top_share": (0.4, "one digit in over 40 % of the samples, twice in a row (10 % each is the aim); "
                                "healthy runs reached 39.6 % once, early, and 35 % otherwise"),
    "collapse_entropy_drop": (0.15, "the digit histogram's entropy (1 = all digits alike) falls this far below "
                                    "its best, in two evaluations in a row; healthy runs wobble by up to 0.05, "
                                    "and dcgan-keras dipped by 0.17 for one evaluation"),
    "collapse_recall_drop": (0.5, "recall (coverage) falls to half its best while precision (realism) holds"),
    "collapse_recall_min": (0.3, "recall must first have reached this: below it, recall is mostly noise"),
    "collapse_sliver_recall": (0.03, "recall (coverage) below this in two evaluations in a row…"),
    "collapse_sliver_confidence": (0.6, "…while the evaluator reads most samples with confidence: readable digits "
                                        "that cover a sliver of the data. Healthy runs whose digits are readable "
                                        "cover 0.14 or more"),
    "collapse_spread_ratio": (0.35, "the fixed grid's images, per digit or code, differ less than 35 % as much "
                                    "as they did at best: G draws nearly one image"),
    "collapse_spread_steps": (200, "for two grids in a row at the default sample_every of 100"),
    "oscillation_windows": (4, "the swing must grow over this many windows of 10 logged rows in a row"),
    "oscillation_growth": (3.0, "the last window swings at least 3 times as wide as the first"),
    "oscillation_amplitude": (0.5, "and by at least this much (loss units): small noise growing is not a swing"),
    "stall_share": (0.5, "FD flat over the last half of the training so far"),
    "stall_gain": (0.05, "flat: less than 5 % better; slow healthy presets gain over 13 % in that time"),
    "stall_fd": (30.0, "only while FD is above 30: below it the digits are good and a plateau is convergence"),
    "stall_evals": (3, "at least this many evaluations in that stretch (the probe looks every 250 steps)"),
    "stall_progress": (2.0, "a run whose FD has at least halved since its first evaluation has been learning ..."),
    "stall_patience": (2000, "... and its plateau must last this many steps: healthy mlp-classic sits about 1,000 "
                             "steps at FD 85-97 before it improves again"),
}


def limit(name: str) -> float:
    return THRESHOLDS[name][0]


@dataclasses.dataclass(frozen=True)
class Remedy:
    """One thing to try: a label, the settings it changes, and why it helps."""

    label: str
    changes: dict[str, Any]
    why: str


@dataclasses.dataclass(frozen=True)
class Alert:
    kind: str  # one of KINDS
    message: str  # plain language, with the figures
    step: int  # where it started
    last_step: int  # the last step at which it still held
    ongoing: bool  # it still holds at the latest step checked
    remedies: tuple[Remedy, ...] = ()
    sure: str = ""  # how sure: what this alert did on the calibration set

    @property
    def title(self) -> str:
        return KINDS.get(self.kind) or f"Unknown alert “{self.kind[:40]}”"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["title"] = self.title
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Alert:
        """An alert as health.json stores it. A damaged entry reads as a ``damaged`` alert saying so,
        and one of a kind this version does not know keeps its message: neither hides the others."""
        try:
            kind, message = d["kind"], d["message"]
            step, last = int(d["step"]), int(d["last_step"])
            if not isinstance(kind, str) or not isinstance(message, str) or not isinstance(d["ongoing"], bool):
                raise TypeError
        except (KeyError, TypeError, ValueError, OverflowError, IndexError):
            return cls("damaged", f"health.json holds an entry this version cannot read: {str(d)[:80]}", 0, 0, False)
        raw = d.get("remedies")
        remedies = tuple(r for r in map(_remedy, raw if isinstance(raw, list) else []) if r is not None)
        sure = d.get("sure") if isinstance(d.get("sure"), str) else ""
        return cls(kind, message, step, last, d["ongoing"], remedies if kind in KINDS else (), sure[:300])


def _remedy(d: Any) -> Remedy | None:
    """A stored remedy, or None when it is damaged or changes a setting that does not exist."""
    from gandash.config import FIELD_TYPES

    if not isinstance(d, dict) or not all(isinstance(d.get(k), str) for k in ("label", "why")):
        return None
    changes = d.get("changes")
    if not isinstance(changes, dict) or not changes or not set(changes) <= set(FIELD_TYPES):
        return None
    return Remedy(d["label"], changes, d["why"])


KINDS = {
    "mode_collapse": "Mode collapse",
    "discriminator_wins": "The discriminator is winning",
    "vanishing_gradient": "The generator's gradient has vanished",
    "d_at_chance": "The discriminator cannot tell real from generated",
    "oscillation": "The losses swing ever wider",
    "no_progress": "No progress",
    "divergence": "Training diverged",
    "damaged": "A damaged entry in health.json",
}


# -- series helpers ---------------------------------------------------------------------------
def _series(rows: Sequence[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of the rows that have a finite ``key``."""
    pairs = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), float) and math.isfinite(r[key])]
    if not pairs:
        return np.zeros(0), np.zeros(0)
    s, v = np.asarray(pairs, np.float64).T
    return s, v


def _stretches(steps: np.ndarray, mask: np.ndarray, min_steps: float = 0) -> list[tuple[int, int]]:
    """(first index, last index) of each run of consecutive True values spanning at least ``min_steps``."""
    out, start = [], None
    for i, m in enumerate(mask):
        if m and start is None:
            start = i
        if not m and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(mask) - 1))
    return [(a, b) for a, b in out if steps[b] - steps[a] >= min_steps]


def _alert(kind: str, message: str, steps, first: int, last: int, latest: float) -> dict:
    return dict(kind=kind, message=message, step=int(steps[first]), last_step=int(steps[last]),
                ongoing=bool(steps[last] >= latest))


# -- the diagnoses --------------------------------------------------------------------------
def discriminator_wins(rows: Sequence[dict]) -> dict | None:
    """D's accuracy on fakes above 0.99 for a stretch of steps while G's loss climbs."""
    steps, acc = _series(rows, "d_acc_fake")
    if not len(steps):
        return None
    g_steps, g = _series(rows, "g_loss")
    mask = (acc >= limit("d_wins_accuracy")) & (steps >= limit("warmup_steps"))
    for a, b in _stretches(steps, mask, limit("d_wins_steps")):
        inside = (g_steps >= steps[a]) & (g_steps <= steps[b])
        rise = g[inside][-3:].mean() - g[inside][:3].mean() if inside.sum() >= 2 else 0.0
        if rise >= limit("d_wins_g_rise"):
            return _alert("discriminator_wins",
                          f"From step {steps[a]:,.0f} the discriminator spotted {acc[a:b + 1].mean():.1%} of the "
                          f"generated images, and the generator's loss climbed by {rise:.1f}. A critic that is "
                          f"always sure gives the generator little to learn from. Healthy runs of every preset "
                          f"call fewer than 99 % fake for this long.", steps, a, b, steps[-1])
    return None


def _aligned(rows: Sequence[dict], keys: Sequence[str]) -> tuple[np.ndarray, ...]:
    """(steps, one array per key) of the rows where every key is a finite number."""
    keep = [r for r in rows if all(isinstance(r.get(k), float) and math.isfinite(r[k]) for k in keys)]
    return (np.array([r["step"] for r in keep], np.float64),
            *(np.array([r[k] for r in keep], np.float64) for k in keys))


def _trailing_means(steps: np.ndarray, values: Sequence[np.ndarray], window: float) -> tuple[np.ndarray, ...]:
    """At each row, the mean of each series over the rows of the last ``window`` steps (NaN until the
    window lies wholly after the warm-up)."""
    lo = np.searchsorted(steps, steps - window, side="right")
    ready = steps - window >= limit("warmup_steps")
    out = []
    for v in values:
        c = np.concatenate([[0.0], np.cumsum(v)])
        idx = np.arange(len(v))
        means = (c[idx + 1] - c[lo]) / np.maximum(idx + 1 - lo, 1)
        out.append(np.where(ready, means, np.nan))
    return tuple(out)


def discriminator_level(rows: Sequence[dict]) -> dict | None:
    """D scores the generated images low, or far below the real ones, and calls most of them fake, steadily
    (means over a window)."""
    steps, real, fake, acc = _aligned(rows, ("d_real", "d_fake", "d_acc_fake"))
    if not len(steps):
        return None
    window = limit("d_wins_window")
    m_real, m_fake, m_acc = _trailing_means(steps, (real, fake, acc), window)
    low = (m_fake <= limit("d_wins_level")) & (m_acc >= limit("d_wins_level_acc"))
    apart = (m_real - m_fake >= limit("d_wins_gap")) & (m_acc >= limit("d_wins_gap_acc"))
    for a, b in _stretches(steps, low | apart, limit("d_wins_level_steps")):
        return _alert("discriminator_wins",
                      f"From step {steps[a]:,.0f} the discriminator has been sure of the generated images: over "
                      f"the last {window:,.0f} steps it scored them {m_fake[b]:.2f} on average against "
                      f"{m_real[b]:.2f} for real ones (1 = sure it is real), and called {m_acc[b]:.0%} of them fake. "
                      f"Healthy runs of every preset score generated images 0.36 or more, within 0.21 of real ones. "
                      f"A critic this sure gives the generator little to learn from.",
                      steps, a, b, steps[-1])
    return None


def d_at_chance(rows: Sequence[dict], evals: Sequence[dict]) -> dict | None:
    """D scores real and generated images nearly alike while the images are poor: D has stopped telling
    them apart, not because G is good."""
    steps, real, fake = _aligned(rows, ("d_real", "d_fake"))
    ev = [e for e in evals if isinstance(e.get("confidence"), float) and math.isfinite(e["confidence"])]
    if not len(steps) or not ev:
        return None
    window = limit("d_wins_window")
    m_real, m_fake = _trailing_means(steps, (real, fake), window)
    mask = m_real - m_fake <= limit("chance_gap")
    for a, b in _stretches(steps, mask, limit("d_wins_level_steps")):
        seen = [e for e in ev if steps[a] - window <= e["step"] <= steps[b]]
        if seen and seen[-1]["confidence"] < limit("chance_confidence"):
            return _alert("d_at_chance",
                          f"From step {steps[a]:,.0f} the discriminator has barely told real from generated: over "
                          f"the last {window:,.0f} steps it scored real images {m_real[b]:.2f} and generated ones "
                          f"{m_fake[b]:.2f}. Yet the evaluator reads "
                          f"only {seen[-1]['confidence']:.0%} of the samples with confidence (step "
                          f"{seen[-1]['step']:,}), so the generator has not earned it: D has stopped learning. "
                          f"Healthy runs of every preset read a third of their samples or more with confidence by "
                          f"step 750.", steps, a, b, steps[-1])
    return None


def vanishing_gradient(rows: Sequence[dict], window: int = 5) -> dict | None:
    """G's gradient norm falls below a small share of its largest typical size so far, for a stretch of steps."""
    steps, norm = _series(rows, "g_grad_norm")
    if len(steps) < window:
        return None
    typical = np.array([np.median(norm[max(0, i - window + 1):i + 1]) for i in range(len(norm))])
    peak = np.maximum.accumulate(typical)  # "its size earlier in training": the largest rolling median yet
    mask = (norm < limit("vanish_ratio") * peak) & (steps >= limit("warmup_steps"))
    for a, b in _stretches(steps, mask, limit("vanish_steps")):
        return _alert("vanishing_gradient",
                      f"From step {steps[a]:,.0f} the generator's gradient is {norm[a:b + 1].mean() / peak[a]:.2%} "
                      f"of its size earlier in training ({peak[a]:.3g}): its weights barely move, so it "
                      f"stops learning. Healthy runs of every preset dip to 4 % for a moment at most.",
                      steps, a, b, steps[-1])
    return None


def oscillation(rows: Sequence[dict], window: int = 10) -> dict | None:
    """Either loss swings with an amplitude that grows over several windows in a row."""
    need = int(limit("oscillation_windows"))
    for key in ("g_loss", "d_loss"):
        steps, v = _series(rows, key)
        keep = steps >= limit("warmup_steps")
        steps, v = steps[keep], v[keep]
        n = len(v) // window
        if n < need:
            continue
        amp = np.array([v[i * window:(i + 1) * window].std() for i in range(n)])
        floor = max(limit("oscillation_amplitude"), 0.25 * float(np.median(np.abs(v))))
        for i in range(n - need + 1):
            seg = amp[i:i + need]
            if np.all(np.diff(seg) > 0) and seg[-1] >= limit("oscillation_growth") * seg[0] and seg[-1] >= floor:
                first, last = i * window, (i + need) * window - 1
                return _alert("oscillation",
                              f"Between steps {steps[first]:,.0f} and {steps[last]:,.0f} the {key.replace('_', ' ')} "
                              f"swung ever wider (its spread grew from {seg[0]:.2f} to {seg[-1]:.2f}): the two "
                              f"networks chase each other instead of settling.", steps, first, last, steps[-1])
    return None


def _readable(evals: Sequence[dict]) -> list[dict]:
    """The evaluations whose digit histogram means something: past the warm-up, samples readable or realistic."""
    return [e for e in evals if e.get("step", 0) >= limit("warmup_steps")
            and (e.get("confidence", 0.0) >= limit("collapse_confidence")
                 or e.get("precision", 0.0) >= limit("collapse_precision"))]


def mode_collapse(rows: Sequence[dict], evals: Sequence[dict], conditional: bool = False) -> dict | None:
    """One digit takes over, the digit histogram's entropy falls, recall falls while precision holds,
    or the fixed grid's images stop differing."""
    ev = _readable(evals)
    steps = np.array([e["step"] for e in ev], np.float64)
    latest = max([r["step"] for r in rows] + [e["step"] for e in evals], default=0)
    hists = np.array([[e.get(f"hist_{k}", 0.0) for k in range(10)] for e in ev]).reshape(-1, 10)
    top = hists.max(axis=1) if len(ev) else np.zeros(0)
    for a, b in _stretches(steps, top > limit("collapse_top_share")):
        if b > a:  # two evaluations in a row
            digit = int(hists[b].argmax())
            return _alert("mode_collapse",
                          f"From step {steps[a]:,.0f} one kind of image ({digit}) made up {top[b]:.0%} of the "
                          f"samples, where each of the 10 should be about 10 %: the generator covers only part "
                          f"of the data. In healthy runs no digit passed 40 %.", steps, a, b, latest)
    ent = np.array([e.get("digit_entropy", 1.0) for e in ev])
    best = np.maximum.accumulate(ent) if len(ent) else ent
    dropped = np.array([i > 0 and best[i - 1] - ent[i] >= limit("collapse_entropy_drop") for i in range(len(ent))])
    for a, b in _stretches(steps, dropped):
        if b > a:  # two evaluations in a row: a healthy run's variety dips for one evaluation at times
            return _alert("mode_collapse",
                          f"From step {steps[a]:,.0f} the variety of digits fell (entropy {best[a - 1]:.2f} → "
                          f"{ent[b]:.2f}, 1 = every digit equally): the generator is dropping kinds of image. "
                          f"Healthy runs wobble by 0.05.",
                          steps, a, b, latest)
    rec = np.array([e.get("recall", np.nan) for e in ev])
    prec = np.array([e.get("precision", np.nan) for e in ev])
    conf = np.array([e.get("confidence", np.nan) for e in ev])
    sliver = (rec < limit("collapse_sliver_recall")) & (conf >= limit("collapse_sliver_confidence"))
    for a, b in _stretches(steps, sliver):
        if b > a:
            return _alert("mode_collapse",
                          f"From step {steps[a]:,.0f} the evaluator reads {conf[b]:.0%} of the samples as clear "
                          f"digits, yet they cover almost none of the variety of real ones (recall {rec[b]:.2f}): "
                          f"the generator draws a few images per digit, whatever its noise. Healthy runs with "
                          f"readable digits cover 0.14 or more.", steps, a, b, latest)
    fell = np.zeros(len(rec), bool)
    for i in range(1, len(rec)):
        if np.isfinite(rec[:i]).any():
            j = int(np.nanargmax(rec[:i]))  # the best recall before this evaluation
            fell[i] = (rec[j] >= limit("collapse_recall_min") and rec[i] <= limit("collapse_recall_drop") * rec[j]
                       and prec[i] >= 0.9 * prec[j])
    for a, b in _stretches(steps, fell):
        if b > a:
            return _alert("mode_collapse",
                          f"From step {steps[a]:,.0f} recall fell from {np.nanmax(rec[:a]):.2f} to {rec[b]:.2f} "
                          f"while precision held ({prec[b]:.2f}): the images stay realistic but cover less and "
                          f"less of the data.", steps, a, b, latest)
    s_steps, spread = _series(rows, "sample_spread")
    if len(spread):
        best = np.maximum.accumulate(spread)
        mask = (spread < limit("collapse_spread_ratio") * best) & (s_steps >= limit("warmup_steps"))
        for a, b in _stretches(s_steps, mask, limit("collapse_spread_steps")):
            per = "digit" if conditional else "kind"
            return _alert("mode_collapse",
                          f"From step {s_steps[a]:,.0f} the fixed-noise samples of each {per} differ only "
                          f"{spread[b] / best[b]:.0%} as much as they did: the generator draws nearly one "
                          f"image whatever its noise.", s_steps, a, b, s_steps[-1])
    return None


def _comparable(evals: Sequence[dict]) -> list[dict]:
    """The evaluations of the sample count most of them used: FD depends on it (a study's last one
    scores 2,000 samples where the others score 500; a probe scores 300)."""
    counts = Counter(e.get("n") for e in evals)
    if not counts:
        return []
    n = max(counts, key=lambda k: (counts[k], k if isinstance(k, (int, float)) else 0))
    return [e for e in evals if e.get("n") == n]


def no_progress(evals: Sequence[dict]) -> dict | None:
    """FD flat over the last half of the training so far, while still far from good (after good progress:
    flat for ``stall_patience`` steps)."""
    steps, fd = _series(_comparable(evals), "fd")
    if len(steps) < limit("stall_evals") or steps[-1] <= 0:
        return None
    start = steps[-1] * (1 - limit("stall_share"))
    inside = np.nonzero(steps >= start)[0]
    if len(inside) < limit("stall_evals"):
        return None
    a = int(inside[0])
    gain = (fd[a] - fd[a:].min()) / fd[a]
    learning = fd[0] / fd[a] >= limit("stall_progress")  # a plateau after progress earns patience
    if learning and steps[-1] - steps[a] < limit("stall_patience"):
        return None
    if gain < limit("stall_gain") and fd[-1] > limit("stall_fd"):
        return _alert("no_progress",
                      f"FD has stayed at about {fd[-1]:.0f} since step {steps[a]:,.0f} (half of the training so "
                      f"far; {gain:.0%} better): more of the same training is unlikely to help.",
                      steps, a, len(steps) - 1, steps[-1])
    return None


def diagnose(rows: Sequence[dict], evals: Sequence[dict], cfg: RunConfig) -> list[Alert]:
    """Every alert the metrics and evaluations show, each with its remedies for this config."""
    probabilities = cfg.architecture != "wgan-gp"  # a critic's scores are not probabilities
    found = [(discriminator_wins(rows) or discriminator_level(rows)) if probabilities else None,
             d_at_chance(rows, evals) if probabilities else None,
             vanishing_gradient(rows), oscillation(rows),
             mode_collapse(rows, evals, cfg.takes_label), no_progress(evals)]
    return [Alert(**a, remedies=remedies(a["kind"], cfg), sure=sure(a["kind"])) for a in found if a]


# kind: (runs provoked for it that it flagged, those runs, healthy runs it fired on, healthy runs), from
# `python -m bench.health_set score` on the held-out seeds (BENCHMARKS.md, "Health alerts").
CALIBRATION: dict[str, tuple[int, int, int, int]] = {
    "discriminator_wins": (2, 3, 0, 4), "d_at_chance": (1, 2, 0, 4), "mode_collapse": (3, 3, 0, 4),
    "vanishing_gradient": (3, 3, 0, 4), "oscillation": (2, 3, 0, 4), "no_progress": (3, 3, 0, 4)}


def sure(kind: str) -> str:
    """How far to trust an alert of this kind, in words, from the calibration set."""
    if kind not in CALIBRATION:
        return ""
    hit, provoked, false, healthy = CALIBRATION[kind]
    return (f"On runs held out from tuning, this alert flagged {hit} of {provoked} runs provoked to fail this way, "
            f"and fired on {false} of {healthy} healthy runs.")


# -- what to try ----------------------------------------------------------------------------------
def _candidates(kind: str, cfg: RunConfig) -> list[Remedy]:
    slower_d = Remedy("Slow the discriminator down", {"d_lr": cfg.d_lr / 4},
                      "a quarter of D's learning rate lets G keep up (two time-scale updates)")
    matched = Remedy("Bring D's rate near G's", {"d_lr": 2 * cfg.g_lr} if cfg.d_lr > 4 * cfg.g_lr else {},
                     f"D learns {cfg.d_lr / cfg.g_lr:.0f}× as fast as G; twice G's rate is the usual most")
    smooth = Remedy("One-sided label smoothing", {"real_label": 0.9},
                    "D aims at 0.9 for real images, so it cannot grow certain of them")
    noise = Remedy("Noisy labels", {"label_noise": 0.1} if cfg.label_noise < 0.1 else {},
                   "D's targets get a little noise: less overconfidence")
    spectral = Remedy("Spectral normalisation", {"spectral_norm": True},
                      "bounds how sharply D can change, which keeps its gradients useful to G")
    augment = Remedy("Augment D's inputs", {"augment": 0.3},
                     "D sees real and fake images turned and shifted a little, so it cannot memorise the real ones")
    wgan = Remedy("Switch to WGAN-GP", {"architecture": "wgan-gp", "conditional": cfg.is_conditional},
                  "the Wasserstein loss gives G a useful gradient even when the critic is ahead")
    slower = Remedy("Lower both learning rates", {"g_lr": cfg.g_lr / 2, "d_lr": cfg.d_lr / 2},
                    "smaller steps for both networks damp the back and forth")
    targets = [] if cfg.architecture == "wgan-gp" else [smooth, noise]  # a critic has no targets
    table = {
        "discriminator_wins": [matched, slower_d, *targets, spectral, augment, wgan],
        "vanishing_gradient": [*targets, slower_d, spectral, wgan],
        "d_at_chance": [
            Remedy("Lower D's learning rate", {"d_lr": cfg.d_lr / 10},
                   "a rate too high for D makes each step overshoot, so it never learns what is real"),
            Remedy("Adam β1 0.5", {"d_beta1": 0.5}, "less momentum for D: the DCGAN paper's setting"),
            Remedy("Less label noise", {"label_noise": 0.0, "label_flip": 0.0},
                   "noisy or flipped targets can blur what D is asked to learn"),
            spectral],
        "mode_collapse": [
            Remedy("A wider latent", {"latent_dim": min(1024, max(64, 2 * cfg.latent_dim)),
                                      "latent_dist": "normal"},
                   "more noise dimensions give G room to draw different images"),
            Remedy("Less augmentation", {"augment": 0.3} if cfg.augment > 0.6 else {},
                   "heavy augmentation hides a lack of variety from D"),
            Remedy("Occasional label flips", {"label_flip": 0.05},
                   "a few swapped targets keep D from settling on what G draws now"),
            wgan],
        "oscillation": [
            slower,
            Remedy("Rates that fall towards the end", {"lr_end": 0.25} if cfg.steps > 0 else {},
                   "learning rates falling to a quarter settle the two networks"),
            Remedy("Sample from a weight average", {"ema": 0.999}, "the averaged generator does not swing"),
            Remedy("Adam β1 0.5", {"g_beta1": 0.5, "d_beta1": 0.5}, "less momentum: the DCGAN paper's setting")],
        "no_progress": [
            Remedy("Raise both learning rates", {"g_lr": cfg.g_lr * 2, "d_lr": cfg.d_lr * 2},
                   "larger steps, if training is merely slow"),
            Remedy("Use convolutions", {"architecture": "dcgan"} if cfg.architecture == "mlp" else {},
                   "a DCGAN suits images better than an MLP"),
            Remedy("Augment D's inputs", {"augment": 0.6} if cfg.augment == 0 else {},
                   "keeps D from memorising the training images, which stalls G"),
            spectral],
        "divergence": [
            slower,
            Remedy("Clip gradients", {"g_clipvalue": 1.0, "d_clipvalue": 1.0}, "no single step can blow up"),
            spectral,
            Remedy("Compute in float32", {"mixed_precision": False, "bfloat16": False},
                   "float16 overflows, and bfloat16 rounds, more easily")],
    }
    return table.get(kind, [])  # a damaged entry has none


def remedies(kind: str, cfg: RunConfig) -> tuple[Remedy, ...]:
    """The remedies that change something in this config and give a valid one."""
    out = []
    for r in _candidates(kind, cfg):
        changes = {k: v for k, v in r.changes.items() if getattr(cfg, k) != v}
        if not changes:
            continue
        try:
            validate(dataclasses.replace(cfg, **changes))
        except (ConfigError, TypeError):
            continue
        out.append(Remedy(r.label, changes, r.why))
    return tuple(out)


# -- health.json ------------------------------------------------------------------------------------
def write(run: Run, alerts: Iterable[Alert], step: int) -> None:
    atomic_write_json(run.health_path, {"step": int(step), "alerts": [a.to_dict() for a in alerts]})


def check(run: Run, cfg: RunConfig, rows: Sequence[dict], step: int) -> list[Alert]:
    """Diagnose the run (its rows, and its eval.csv) and write health.json; what the trainer calls."""
    alerts = diagnose(rows, run.eval_rows(), cfg)
    write(run, alerts, step)
    return alerts


def read(run: Run, status: dict | None = None) -> list[Alert]:
    """The run's alerts from health.json, plus divergence when the trainer ended it so."""
    data = read_json(run.health_path)
    if data is None and run.health_path.exists():
        data = {"alerts": ["the file is not a JSON object"]}
    stored = (data or {}).get("alerts", [])
    found = [Alert.from_dict(d) for d in (stored if isinstance(stored, list) else [stored])]
    alerts = [a for a in found if a.kind != "damaged"]
    damaged = [a for a in found if a.kind == "damaged"]
    if damaged:  # one line for them all
        more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
        alerts.append(dataclasses.replace(damaged[0], message=damaged[0].message + more))
    status = run.status() if status is None else status
    if status.get("state") == "diverged":
        step = int(status.get("step") or 0)
        try:
            fixes = remedies("divergence", run.config())
        except RunError:  # a damaged config still shows the alert
            fixes = ()
        alerts.append(Alert("divergence", f"{status.get('error') or 'the losses became NaN'}. The last good "
                            f"checkpoint is kept.", step, step, True, fixes))
    return alerts


def summary(alerts: Sequence[Alert]) -> str:
    """One line for lists: 'mode collapse (from step 1,200); …', or '' when healthy."""
    return "; ".join(f"{a.title.lower()} (from step {a.step:,}{'' if a.ongoing else ', passed'})" for a in alerts)
