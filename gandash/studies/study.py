"""Studies: a named set of ordinary runs that differ only in preset, seed and one setting, and their leaderboard.

A study is a reader and writer of run directories, nothing more. ``<runs>/_studies/<id>.json``
names its variants, shared budget and member runs; each member's config.json names the study.
The members go through the run queue like any start, so they train one slot at a time and a
budget in seconds means the same for each. The leaderboard is a pure function of the members'
``metrics.csv`` and ``eval.csv``.
"""
from __future__ import annotations

import csv
import io
import math
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gandash.config import FIELD_TYPES, PRESETS, ConfigError, make_config, parse_value
from gandash.errors import GandashError
from gandash.store.runs import ACTIVE_STATES, RUN_ID_RE, RunError, RunStore, atomic_write_json, read_json
from gandash.studies.compare import SAMPLING_ERROR, centre, compare, sentence

STUDIES_DIR = "_studies"
STUDY_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
MAX_PRESETS, MAX_SEEDS, MAX_VALUES = 6, 5, 5
EVAL_POINTS = 10  # in-training evaluations per run, at equal fractions of the budget
REACH_CONFIDENCE = 0.8
EVAL_SHARE = 0.1  # a time budget spends at most this share of itself evaluating
EVAL_LAST_N = 2000  # samples of a run's last evaluation (the leaderboard's)
STARTUP_S = 4.0  # a run's start-up before its first step in a warm slot (2 cores; a cold one takes about 10 s)


def eval_cost(n: int) -> float:
    """Seconds one in-training evaluation of ``n`` samples takes on 2 cores (the default preset, the slowest)."""
    return 0.05 + 0.55 * n / 1000
VARIED = ("architecture", "seed", "study", "name")  # what a study sets itself; never --vary
# Leaderboard columns: (key, title, better is "low" or "high")
COLUMNS = (("fd", "FD", "low"), ("kid", "KID", "low"), ("confidence", "confidence", "high"),
           ("rarest_share", "rarest digit", "high"), ("precision", "precision", "high"), ("recall", "recall", "high"),
           ("cond_acc", "per-digit acc", "high"),
           ("images_per_sec", "images/s", "high"), ("steps_per_sec", "steps/s", "high"),
           ("time_to_conf", f"time to conf {REACH_CONFIDENCE}", "low"))


class StudyError(GandashError):
    """Bad study input; nothing was created."""


@dataclass(frozen=True)
class Budget:
    steps: int = 0
    seconds: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Budget:
        """``5m``, ``90s``, ``1h`` (training time) or ``2000`` / ``2000steps`` (steps)."""
        text = str(text)
        m = len(text) <= 40 and re.fullmatch(r"\s*(-?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*(s|m|h|min|steps?)?\s*",
                                             text.lower())
        if not m:
            raise StudyError(f"budget: {text[:40]!r} is not a budget; write e.g. 5m, 90s or 2000steps")
        value, unit = float(m.group(1)), m.group(2) or "steps"
        if not math.isfinite(value) or value > 1e12:
            raise StudyError(f"budget: {text!r} is too large; at most 30 days or 10000000 steps")
        if value <= 0:
            raise StudyError(f"budget: {text!r} must be more than 0")
        if unit.startswith("step"):
            if value != int(value) or value > 10_000_000:
                raise StudyError(f"budget: {text!r} must be a whole number of steps up to 10000000")
            return cls(steps=int(value))
        seconds = value * {"s": 1, "m": 60, "min": 60, "h": 3600}[unit]
        if seconds > 30 * 86400:
            raise StudyError(f"budget: {text!r} is longer than 30 days")
        return cls(seconds=seconds)

    def describe(self) -> str:
        return f"{self.steps:,} steps" if self.steps else _duration(self.seconds)

    def evaluations(self) -> tuple[int, int]:
        """(evaluations per run, samples in each but the last) for this budget.

        A budget in steps gets :data:`EVAL_POINTS` full evaluations (its speed is not known in advance).
        A time budget spends at most :data:`EVAL_SHARE` of itself evaluating. The last evaluation, which the
        leaderboard reads, always scores :data:`EVAL_LAST_N` samples; the others (the curves) score as many
        as fit: :data:`EVAL_POINTS` of 2,000 or 1,000 where the budget allows, else as many of 500 as fit, and
        never fewer than 3 points. Every run of a study has the same budget, so the same plan: its variants'
        curves compare point by point.
        """
        if self.steps:
            return EVAL_POINTS, EVAL_LAST_N
        share = EVAL_SHARE * self.seconds - eval_cost(EVAL_LAST_N)
        for n in (2000, 1000):
            if share >= (EVAL_POINTS - 1) * eval_cost(n):
                return EVAL_POINTS, n
        return max(3, min(EVAL_POINTS, 1 + int(share // eval_cost(500)))), 500

    def overrides(self) -> dict[str, Any]:
        points, n = self.evaluations()
        if self.steps:
            return {"steps": self.steps, "max_seconds": 0.0, "eval_every": max(1, self.steps // points),
                    "eval_samples": n}
        return {"steps": 10_000_000, "max_seconds": self.seconds, "eval_seconds": self.seconds / points,
                "eval_every": 0, "eval_samples": n}

    def describe_evaluations(self) -> str:
        points, n = self.evaluations()
        if n == EVAL_LAST_N:
            return f"{points} evaluations of {EVAL_LAST_N:,} samples per run"
        return (f"{points} evaluations per run: {points - 1} of {n:,} samples for the curves, "
                f"the last of {EVAL_LAST_N:,}")


def damage(data: Any, study_id: str) -> str:
    """What makes a stored study unreadable ('' when nothing): every field a reader uses, checked."""
    def bad(value, kind) -> bool:
        return not isinstance(value, kind) or isinstance(value, bool) and kind is not bool

    if not isinstance(data, dict):
        return "not a JSON object"
    for key, kind in (("id", str), ("name", str), ("budget", str), ("dataset", str), ("presets", list),
                      ("members", list), ("seeds", int)):
        if bad(data.get(key), kind):
            return f"{key!r} is missing or not a {kind.__name__}"
    if data["id"] != study_id:
        return f"it names itself {data['id'][:40]!r}"
    try:
        Budget.parse(data["budget"])
    except StudyError as e:
        return str(e)
    if not all(isinstance(p, str) for p in data["presets"]):
        return "'presets' holds something other than names"
    vary = data.get("vary", {})
    if not isinstance(vary, dict) or not all(isinstance(k, str) and isinstance(v, list) for k, v in vary.items()):
        return "'vary' is not a setting and its values"
    for key in ("budget_steps", "budget_seconds", "created"):
        if key in data and (bad(data[key], (int, float)) or not math.isfinite(data[key])):
            return f"{key!r} is not a number"
    if "backend" in data and not isinstance(data["backend"], str):
        return "'backend' is not a name"
    for m in data["members"]:
        if not isinstance(m, dict) or any(bad(m.get(k), t) for k, t in
                                           (("preset", str), ("variant", str), ("seed", int), ("overrides", dict))):
            return "a member is not a preset, variant, seed and settings"
        if "run" in m and not (isinstance(m["run"], str) and RUN_ID_RE.fullmatch(m["run"])):
            return "a member names a run id that is not one"
    return ""


def plain_number(x: float) -> str:
    """``x`` as a budget amount is typed: 1000000 rather than 1e+06, 2.5 rather than 2.500000."""
    if math.isfinite(x) and x == int(x):
        return str(int(x))
    return f"{x:.6f}".rstrip("0").rstrip(".") if math.isfinite(x) else str(x)


def _duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s} s" if m and s else (f"{m} min" if m else f"{s} s")


class Studies:
    """The studies of one runs folder."""

    def __init__(self, store: RunStore):
        self.store = store
        self.dir = store.root / STUDIES_DIR

    def path(self, study_id: str) -> Path:
        if not isinstance(study_id, str) or not STUDY_ID_RE.fullmatch(study_id):
            raise StudyError(f"invalid study id {study_id!r}")
        return self.dir / f"{study_id}.json"

    def get(self, study_id: str) -> dict[str, Any]:
        """The study's record; StudyError when there is none or it is damaged."""
        path = self.path(study_id)
        data = read_json(path)
        if data is None:
            if path.exists():
                raise StudyError(f"study {study_id}: study file is damaged (not a JSON object)")
            raise StudyError(f"no study {study_id!r} in {self.store.root}")
        why = damage(data, study_id)
        if why:
            raise StudyError(f"study {study_id}: study file is damaged ({why})")
        return data

    def _all(self) -> list[tuple[str, dict[str, Any] | None, str]]:
        """(id, record or None, why it is damaged or '') for each study file, newest first."""
        try:
            paths = sorted(self.dir.glob("*.json"), reverse=True)
        except OSError:
            return []
        out = []
        for path in paths:
            if not STUDY_ID_RE.fullmatch(path.stem):
                continue
            data = read_json(path)
            why = "not a JSON object" if data is None else damage(data, path.stem)
            out.append((path.stem, None if why else data, why))
        return out

    def list(self) -> list[dict[str, Any]]:
        """The readable studies, newest first (see :meth:`damaged` for the others)."""
        return [d for _, d, why in self._all() if not why]

    def damaged(self) -> list[tuple[str, str]]:
        """(id, what is wrong) of each study file that cannot be read, to show in one line each."""
        return [(i, why) for i, _, why in self._all() if why]

    def plan(self, presets: list[str], seeds: int, budget: str, *, vary: str = "", name: str = "",
             dataset: str = "mnist") -> dict[str, Any]:
        """Check everything and return the study (not yet written); StudyError on bad input."""
        presets = [p.strip() for p in presets if p.strip()]
        if not 1 <= len(presets) <= MAX_PRESETS:
            raise StudyError(f"presets: choose 1 to {MAX_PRESETS} presets, got {len(presets)}")
        unknown = [p for p in presets if p not in PRESETS]
        if unknown:
            raise StudyError(f"presets: unknown preset {unknown[0]!r}; choose from {', '.join(PRESETS)}")
        if len(set(presets)) != len(presets):
            raise StudyError("presets: a preset is named twice")
        if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
            raise StudyError(f"seeds: choose 1 to {MAX_SEEDS} seeds per variant, got {seeds!r}")
        limit = Budget.parse(budget)
        field, values = _parse_vary(vary)
        name = (name or "").strip() or f"{'-vs-'.join(presets)}"[:40]
        study_id = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:40] or "study"
        study_id = f"{study_id}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"[:64]
        if any(s.get("name") == name for s in self.list()):
            raise StudyError(f"name: a study called {name!r} already exists; choose another name")
        members = []
        for preset in presets:
            for value in values or [None]:
                for seed in range(seeds):
                    overrides = {**limit.overrides(), "seed": seed, "dataset": dataset, "study": study_id}
                    if limit.seconds and PRESETS[preset].get("lr_end", 1.0) < 1:
                        # its rates decay over its own steps: keep them, so it trains as tuned
                        overrides.pop("steps")
                    variant = preset
                    if field:
                        overrides[field] = value
                        variant = f"{preset} {field}={value}"
                    overrides["name"] = f"{variant} seed {seed}"[:100]
                    try:
                        make_config(preset, overrides)
                    except ConfigError as e:
                        raise StudyError(f"{variant}: {e}") from None
                    members.append({"preset": preset, "variant": variant, "seed": seed, "overrides": overrides})
        return {"id": study_id, "name": name, "presets": presets, "seeds": seeds, "budget": budget,
                "budget_steps": limit.steps, "budget_seconds": limit.seconds, "vary": {field: values} if field else {},
                "dataset": dataset, "created": time.time(), "members": members}

    def start(self, plan: dict[str, Any], backend: str = "local") -> dict[str, Any]:
        """Write study.json, then create and queue every member run (here, or as Ray tasks)."""
        from gandash import backends
        from gandash.backends.launcher import start

        if self.path(plan["id"]).exists():
            raise StudyError(f"a study {plan['id']!r} already exists")
        with backends.get(backend).connected():  # no cluster: the error before anything is written
            self.dir.mkdir(parents=True, exist_ok=True)
            plan = {**plan, "backend": backend}
            atomic_write_json(self.path(plan["id"]), plan)
            for member in plan["members"]:
                run = start(self.store, make_config(member["preset"], member["overrides"]), backend=backend)
                member["run"] = run.id
                atomic_write_json(self.path(plan["id"]), plan)  # each member recorded as soon as it exists
        return plan

    def runs(self, study: dict[str, Any]) -> list[tuple[dict[str, Any], Any]]:
        """(member, Run or None when deleted) for each member that was created."""
        out = []
        for m in study.get("members", []):
            if m.get("run"):
                try:
                    out.append((m, self.store.get(m["run"])))
                except RunError:
                    out.append((m, None))
        return out

    def stop(self, study_id: str) -> int:
        """Stop (or cancel in the queue) every member still active; return how many."""
        from gandash.backends.launcher import stop

        active = [(run, run.status()) for _, run in self.runs(self.get(study_id)) if run is not None]
        active = [(run, st) for run, st in active if st.active]
        # the waiting ones first: a slot freed by a stopped trainer must not start the next member
        for run, _ in sorted(active, key=lambda item: item[1].state != "queued"):
            stop(run, wait=60)
        return len(active)

    def delete(self, study_id: str) -> None:
        """Delete the study and its runs; refused while any of them trains or waits."""
        study = self.get(study_id)
        busy = [run.id for _, run in self.runs(study)
                if run is not None and run.status().get("state") in ACTIVE_STATES]
        if busy:
            raise StudyError(f"study {study_id} still has {len(busy)} run(s) training or queued "
                             f"({busy[0]}…); stop it first with `study stop {study_id}`")
        for _, run in self.runs(study):
            if run is not None:
                self.store.delete(run.id)
        self.path(study_id).unlink(missing_ok=True)


def _parse_vary(vary: str) -> tuple[str, list[Any]]:
    if not vary:
        return "", []
    field, sep, values_text = vary.partition("=")
    field = field.strip()
    if not sep or field not in FIELD_TYPES:
        raise StudyError(f"vary: {vary!r} must be FIELD=V1,V2 with a known setting "
                         f"(e.g. d_lr=1e-4,2e-4); {field!r} is not one")
    if field in VARIED:
        raise StudyError(f"vary: {field} is set by the study itself; vary another setting")
    try:
        values = [parse_value(field, v) for v in values_text.split(",") if v.strip()]
    except ConfigError as e:
        raise StudyError(f"vary: {e}") from None
    if not 2 <= len(values) <= MAX_VALUES:
        raise StudyError(f"vary: give 2 to {MAX_VALUES} values for {field}, got {len(values)}")
    return field, values


# -- the leaderboard: a pure function of the members' run directories ------------------------------
def run_summary(run) -> dict[str, Any]:
    """One member's figures: its last evaluation, speed, and when it first reached the confidence."""
    st = run.status()
    metrics = run.metrics()
    wall_at = {int(r["step"]): r.get("wall_time", math.nan) for r in metrics}
    evals = run.eval_rows()
    last = evals[-1] if evals else {}
    reached = next((wall_at.get(int(r["step"]), math.nan) for r in evals
                    if r.get("confidence", 0) >= REACH_CONFIDENCE), math.nan)
    ips = [r["images_per_sec"] for r in metrics if math.isfinite(r.get("images_per_sec", math.nan))]
    out = {k: last.get(k, math.nan) for k in (*(k for k, _, _ in COLUMNS), *SAMPLING_ERROR.values()) if k in last}
    ended = st.get("state") in ("finished", "stopped") and metrics and metrics[-1].get("wall_time")
    out.update(images_per_sec=statistics.median(ips) if ips else math.nan, time_to_conf=reached,
               # never reached: at least the whole run (a lower bound, for the comparisons)
               time_to_conf_bound=reached if math.isfinite(reached) else (metrics[-1]["wall_time"] if ended
                                                                          else math.nan),
               state=st.get("state", "?"), step=int(st.get("step") or 0), device=st.get("device", ""),
               slots=st.get("slots") or 1,
               steps_per_sec=(metrics[-1]["step"] / metrics[-1]["wall_time"]
                              if metrics and metrics[-1].get("wall_time") else math.nan),
               curve=[(wall_at.get(int(r["step"]), math.nan), r) for r in evals])
    return out


def summaries(studies: Studies, study: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each variant's run summaries (one per seed that has a run directory)."""
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for member, run in studies.runs(study):
        by_variant.setdefault(member["variant"], [])
        if run is not None:
            by_variant[member["variant"]].append(run_summary(run))
    return by_variant


def leaderboard(studies: Studies, study: dict[str, Any],
                per_variant: dict[str, list[dict[str, Any]]] | None = None) -> list[dict[str, Any]]:
    """One row per variant: the mean over seeds of each column with the half-width of its 95 % interval
    (``KEY_ci``: Student's t over seeds, or one run's sampling error), min and max, and failures."""
    rows = []
    for variant, runs in (summaries(studies, study) if per_variant is None else per_variant).items():
        row: dict[str, Any] = {"variant": variant, "runs": len(runs),
                               "done": sum(s["state"] in ("finished", "stopped") for s in runs),
                               "failed": sum(s["state"] in ("failed", "diverged") for s in runs)}
        for key, _, _ in COLUMNS:
            have = [s for s in runs if isinstance(s.get(key), (int, float)) and math.isfinite(s[key])]
            vals = [s[key] for s in have]
            err = SAMPLING_ERROR.get(key)
            row[key], row[f"{key}_ci"] = centre(vals, [s.get(err, math.nan) for s in have] if err else None)
            row[f"{key}_min"], row[f"{key}_max"] = (min(vals), max(vals)) if vals else (math.nan, math.nan)
        rows.append(row)
    return rows


def analysis(studies: Studies, study: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The leaderboard and the pairwise decisions (``compare.compare``), from one read of the runs."""
    per_variant = summaries(studies, study)
    return leaderboard(studies, study, per_variant), compare(per_variant)


def best(rows: list[dict[str, Any]], key: str) -> str | None:
    """The variant with the best median in a column (None when no variant has a value, or all tie)."""
    better = dict((k, b) for k, _, b in COLUMNS)[key]
    have = [r for r in rows if math.isfinite(r.get(key, math.nan))]
    if not have or (len(have) > 1 and len({r[key] for r in have}) == 1):
        return None  # nothing to compare, or every variant ties
    pick = min if better == "low" else max
    return pick(have, key=lambda r: r[key])["variant"]


def best_by_column(rows: list[dict[str, Any]]) -> dict[str, str | None]:
    """Each column's best variant, to mark in a table (none marked when there is only one row)."""
    return {key: best(rows, key) for key, _, _ in COLUMNS} if len(rows) > 1 else {}


def verdict(rows: list[dict[str, Any]], comparisons: list[dict[str, Any]] | None = None) -> str:
    """One sentence. From the pairwise decisions when there are any (which variant is clearly best in time to
    confidence and in FD, or that the data cannot tell); otherwise from the table, e.g. 'acgan reached
    confidence 0.8 first (1 min 40 s); fast has the best FD (9.8)'."""
    said = [t for t in (sentence(comparisons or [], "time_to_conf"), sentence(comparisons or [], "fd")) if t]
    if said:
        text = "; ".join(said)  # a variant's name keeps its case; "no clear difference…" starts a sentence
        return (text[0].upper() + text[1:] if text.startswith("no clear") else text) + "."
    parts = []
    first = best(rows, "time_to_conf")
    if first:
        t = next(r["time_to_conf"] for r in rows if r["variant"] == first)
        parts.append(f"{first} reached confidence {REACH_CONFIDENCE} first ({_duration(t)})")
    fd = best(rows, "fd")
    if fd:
        parts.append(f"{fd} has the best FD ({next(r['fd'] for r in rows if r['variant'] == fd):.1f})")
    if not parts:
        return "No run has been evaluated yet: the verdict appears with the first in-training evaluations."
    return "; ".join(parts) + "."


def plain_json(value: Any) -> Any:
    """``value`` with NaN and infinities as None: strict JSON for `study show --json`."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    return value


def cell(row: dict[str, Any], key: str) -> str:
    """A leaderboard cell as text: the mean, ± the half-width of its 95 % interval, then min–max over seeds
    when they differ."""
    v, lo, hi = row.get(key, math.nan), row.get(f"{key}_min", math.nan), row.get(f"{key}_max", math.nan)
    if not math.isfinite(v):
        return "not reached" if key == "time_to_conf" and row.get("done") else "–"
    fmt = _duration if key == "time_to_conf" else (
        lambda x: f"{x:,.0f}" if abs(x) >= 100 else (f"{x:.2g}" if abs(x) < 0.01 else f"{x:.3g}"))
    ci = row.get(f"{key}_ci", math.nan)
    shown = isinstance(ci, float) and math.isfinite(ci) and ci > 0 and fmt(ci) not in ("0", "0 s")
    text = fmt(v) + (f" ± {fmt(ci)}" if shown else "")
    return text if row.get("runs", 1) < 2 or fmt(lo) == fmt(hi) else f"{text} ({fmt(lo)}–{fmt(hi)})"


def to_csv(rows: list[dict[str, Any]]) -> str:
    cols = ["variant", "runs", "done", "failed"] + [f"{k}{s}" for k, _, _ in COLUMNS
                                                    for s in ("", "_ci", "_min", "_max")]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([(f"{r[c]:.6g}" if isinstance(r.get(c), float) and math.isfinite(r[c])
                     else ("" if isinstance(r.get(c), float) else r.get(c, ""))) for c in cols])
    return buf.getvalue()


def estimate_seconds(plan: dict[str, Any], slots: int) -> float:
    """Wall time the queue needs for a time-budget study: each run's budget, start-up and evaluations,
    in waves of ``slots`` (NaN for a budget in steps, whose speed is not known before it runs)."""
    waves = math.ceil(len(plan.get("members", [])) / max(1, slots))
    return waves * run_seconds(plan.get("budget_seconds") or math.nan)


def run_seconds(budget_seconds: float) -> float:
    """Wall time of one run of a time budget: the budget, a warm start-up and its evaluations."""
    if not math.isfinite(budget_seconds) or budget_seconds <= 0:
        return math.nan
    points, n = Budget(seconds=budget_seconds).evaluations()
    return budget_seconds + STARTUP_S + (points - 1) * eval_cost(n) + eval_cost(EVAL_LAST_N)


def progress(studies: Studies, study: dict[str, Any]) -> dict[str, Any]:
    """Runs done of all, and an ETA of the whole study from the budget and the queue's slots (none while a
    run of it is paused)."""
    states = [run.status() if run is not None else {"state": "deleted"} for _, run in studies.runs(study)]
    total = len(study.get("members", []))
    done = sum(s.get("state") not in ACTIVE_STATES for s in states)
    per_run = study.get("budget_seconds") or math.nan
    one = run_seconds(per_run) if isinstance(per_run, (int, float)) else math.nan
    slots = study_slots(studies, study, states)
    waiting = sum(s.get("state") == "queued" for s in states)
    training_left = [max(0.0, per_run - float(s.get("wall_time") or 0)) for s in states if s.get("state") == "running"]
    paused = sum(s.get("state") == "paused" for s in states)  # holds its slot until someone continues it
    eta = (math.ceil(waiting / slots) * one
           + (max(training_left) if training_left else 0.0)) if not paused else math.nan
    return {"done": done, "total": total, "eta_seconds": eta if done < total else 0.0, "paused": paused,
            "states": states}


def study_slots(studies: Studies, study: dict[str, Any], states: list[dict[str, Any]]) -> int:
    """How many of a study's runs train at once on its backend (on a cluster: those training now plus
    what fits in its free resources)."""
    from gandash import backends

    running = sum(s.get("state") in ("running", "paused") for s in states)  # a paused run holds its slot
    members = study.get("members") or [{}]
    try:
        cfg = make_config(members[0].get("preset", "fast"), members[0].get("overrides", {}))
        return backends.get(study.get("backend")).slots(cfg, studies.store.root, running=running)
    except (RunError, ConfigError):  # the cluster does not answer now: what trains is all we know
        return max(1, running)


# -- over training time: every variant compared at the same training seconds ------------------------
def wall_of_steps(run) -> tuple[list[float], list[float]]:
    """(steps, training seconds) of a run's logged rows, starting at (0, 0): maps any step to a time."""
    rows = [r for r in run.metrics() if math.isfinite(r.get("wall_time", math.nan))]
    return [0.0] + [float(r["step"]) for r in rows], [0.0] + [float(r["wall_time"]) for r in rows]


def quality_over_time(studies: Studies, study: dict[str, Any], metric: str,
                      points: int = 60) -> dict[str, dict[str, list[float]]]:
    """Per variant: the median and min-max over seeds of an eval metric on a common time grid."""
    groups: dict[str, list] = {}
    for member, run in studies.runs(study):
        if run is not None:
            groups.setdefault(member["variant"], []).append(run)
    return curves_over_time(groups, metric, points)


def seed_groups(runs) -> dict[str, list]:
    """Runs that differ only in their seed (and name), grouped under the name of the first of them."""
    groups: dict[tuple, list] = {}
    for run in runs:
        try:
            cfg = run.config()
        except RunError:
            continue
        key = tuple(sorted((k, str(v)) for k, v in cfg.to_dict().items() if k not in ("seed", "name", "study")))
        groups.setdefault(key, []).append(run)
    out = {}
    for members in groups.values():
        cfg = members[0].config()
        out[f"{cfg.name or cfg.architecture} × {len(members)} seeds"] = members
    return out


def curves_over_time(groups: dict[str, list], metric: str, points: int = 60) -> dict[str, dict[str, list[float]]]:
    """Per group of runs: the median and min-max of an eval metric on a common grid of training time.

    Each run's evaluations are placed at the training seconds they were made and interpolated
    linearly between them; a run counts at a time only once it has been evaluated at or after it.
    """
    import numpy as np

    per_variant: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for name, runs in groups.items():
        for run in runs:
            evals = [r for r in run.eval_rows() if math.isfinite(r.get(metric, math.nan))]
            if not evals:
                continue
            steps, walls = wall_of_steps(run)
            t = np.interp([float(r["step"]) for r in evals], steps, walls)
            per_variant.setdefault(name, []).append((t, np.array([r[metric] for r in evals])))
    t_max = max((c[0][-1] for curves in per_variant.values() for c in curves), default=0.0)
    grid = np.linspace(0.0, t_max, points) if t_max > 0 else np.zeros(1)
    out = {}
    for variant, curves in per_variant.items():
        stack = np.full((len(curves), len(grid)), np.nan)
        for i, (t, v) in enumerate(curves):
            inside = (grid >= t[0]) & (grid <= t[-1])
            stack[i, inside] = np.interp(grid[inside], t, v)
        have = ~np.all(np.isnan(stack), axis=0)
        if not have.any():
            continue
        cols = stack[:, have]
        out[variant] = {"t": grid[have].tolist(), "median": np.nanmedian(cols, axis=0).tolist(),
                        "lo": np.nanmin(cols, axis=0).tolist(), "hi": np.nanmax(cols, axis=0).tolist(),
                        "runs": len(curves)}
    return out


def grid_times(studies: Studies, study: dict[str, Any]) -> list[float]:
    """Training seconds at which some member saved a sample grid, sorted: the grid slider's stops."""
    import numpy as np

    times = set()
    for _, run in studies.runs(study):
        if run is not None and run.sample_steps():
            steps, walls = wall_of_steps(run)
            times.update(round(float(t), 1) for t in np.interp(run.sample_steps(), steps, walls))
    return sorted(times)


def grid_at(run, seconds: float) -> tuple[int, float] | None:
    """(step, training seconds) of the run's last grid saved by ``seconds`` of training, or None."""
    import numpy as np

    samples = run.sample_steps()
    if not samples:
        return None
    steps, walls = wall_of_steps(run)
    at = [(s, float(t)) for s, t in zip(samples, np.interp(samples, steps, walls)) if t <= seconds + 0.05]
    return at[-1] if at else None


def fairness(studies: Studies, study: dict[str, Any]) -> str:
    """How far the wall times compare: exactly when every run had the machine, roughly when they shared
    it; and which runs ended at their preset's last step before the time budget."""
    slots = slots_used(studies, study)
    text = ("Every run trained alone in the queue's one slot, so equal training seconds mean equal compute."
            if slots <= 1 else f"Runs shared the machine ({slots} slots), so each had a share of its cores: "
            "wall times then compare only roughly.")
    budget = study.get("budget_seconds") or 0
    early = []
    for member, run in studies.runs(study):
        st = run.status() if run is not None else {}
        wall = float(st.get("wall_time") or 0)
        if budget and st.get("state") == "finished" and wall < 0.95 * budget:
            early.append(f"{member['variant']} seed {member['seed']} ({_duration(wall)})")
    if early:
        text += (" Ended at their preset's last step before the budget: " + ", ".join(early[:4])
                 + (" and more" if len(early) > 4 else "") + ".")
    return text


def slots_used(studies: Studies, study: dict[str, Any]) -> int:
    """The most slots any member's runs folder had while it trained."""
    return max((int(run.status().get("slots") or 1) for _, run in studies.runs(study) if run is not None),
               default=1)
