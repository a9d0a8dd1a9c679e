"""Studies: planned from presets, seeds and a budget; bad input refused before anything exists; a leaderboard."""
import json
import math

import pytest

from gandash.store.runs import RunStore
from gandash.studies import study as S
from gandash.studies.study import Budget, Studies, StudyError, leaderboard, to_csv, verdict
from tests.test_cli import cli, wait_for


@pytest.mark.parametrize("kwargs, message", [
    (dict(presets=["fast"], seeds=0, budget="5m"), "seeds"),
    (dict(presets=["fast"], seeds=6, budget="5m"), "seeds"),
    (dict(presets=["fast", "acgan", "mlp-classic", "dcgan-keras", "dcgan-tricks", "wgan-gp", "fast-unsupervised"],
          seeds=1, budget="5m"), "1 to 6 presets"),
    (dict(presets=["turbo"], seeds=1, budget="5m"), "unknown preset 'turbo'"),
    (dict(presets=["fast"], seeds=1, budget="0"), "more than 0"),
    (dict(presets=["fast"], seeds=1, budget="-5m"), "more than 0"),
    (dict(presets=["fast"], seeds=1, budget="soon"), "not a budget"),
    (dict(presets=["fast"], seeds=1, budget="5m", vary="nonsense=1,2"), "vary"),
    (dict(presets=["fast"], seeds=1, budget="5m", vary="d_lr=1e-4,50"), "d_lr"),
    (dict(presets=["fast"], seeds=1, budget="5m", vary="d_lr=1e-4"), "2 to 5 values"),
    (dict(presets=["fast"], seeds=1, budget="5m", vary="seed=1,2"), "set by the study"),
])
def test_bad_study_input_is_refused_with_a_clear_message(tmp_path, kwargs, message):
    with pytest.raises(StudyError, match=message):
        Studies(RunStore(tmp_path)).plan(**kwargs)
    assert not (tmp_path / "_studies").exists() and RunStore(tmp_path).list() == []


def test_a_plan_shares_everything_but_preset_seed_and_the_varied_setting(tmp_path):
    plan = Studies(RunStore(tmp_path)).plan(["fast", "acgan"], 2, "90s", vary="batch_size=32,64")
    assert len(plan["members"]) == 2 * 2 * 2
    for m in plan["members"]:
        o = m["overrides"]
        assert o["max_seconds"] == 90 and o["eval_seconds"] == 9 and o["study"] == plan["id"]
        assert o["seed"] in (0, 1) and o["batch_size"] in (32, 64)
    assert {m["variant"] for m in plan["members"]} == {
        "fast batch_size=32", "fast batch_size=64", "acgan batch_size=32", "acgan batch_size=64"}
    assert Budget.parse("2000steps") == Budget(steps=2000) and Budget.parse("1.5h") == Budget(seconds=5400)


def test_the_cli_refuses_bad_input_and_creates_nothing(tmp_path):
    proc = cli(tmp_path, "study", "start", "--presets", "fast", "--seeds", "0", "--budget", "5m", check=False)
    assert proc.returncode == 2 and "seeds" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "_studies").exists() and RunStore(tmp_path).list() == []
    proc = cli(tmp_path, "study", "show", "nope", check=False)
    assert proc.returncode == 2 and "no study 'nope'" in proc.stderr


@pytest.fixture(scope="module")
def evaluated_root(tmp_path_factory):
    from gandash.quality import evaluate

    root = tmp_path_factory.mktemp("runs")
    evaluate.ensure_evaluator("mnist", root)  # the shipped one, ready in seconds
    return root


def check_a_finished_study_of_fast_and_mlp_classic(root, study_id: str) -> None:
    """The CLI's view of a finished study of fast and mlp-classic, 2 seeds each (tests/test_browser.py starts
    one from the Studies page): leaderboard rows, decisions, CSV, JSON, list, a name taken, delete."""
    store = RunStore(root)
    studies = Studies(store)
    study = studies.get(study_id)
    assert len(study["members"]) == 4 and all(store.get(m["run"]).config().study == study_id
                                             for m in study["members"])
    for m in study["members"]:
        wait_for(store.get(m["run"]), lambda s: s.get("state") == "finished", timeout=60)
    rows, comparisons = S.analysis(studies, study)
    assert rows == leaderboard(studies, study)
    assert [r["variant"] for r in rows] == ["fast", "mlp-classic"]
    for r in rows:
        assert r["runs"] == 2 and r["done"] == 2 and r["failed"] == 0
        assert math.isfinite(r["fd"]) and r["fd_min"] <= r["fd"] <= r["fd_max"] and r["fd_ci"] > 0
        assert r["images_per_sec"] > 0 and math.isfinite(r["kid"])  # the last evaluation (2,000 samples) has KID
    assert math.isfinite(rows[0]["cond_acc"]) and not math.isfinite(rows[1]["cond_acc"])  # only fast is conditional
    assert {c["metric"] for c in comparisons} >= {"fd", "kid", "confidence"}
    csv_text = cli(root, "study", "show", study_id, "--csv").stdout
    assert csv_text == to_csv(rows) and csv_text.splitlines()[0].startswith("variant,runs,done,failed,fd,")
    shown = cli(root, "study", "show", study_id).stdout
    assert "fast" in shown and "mlp-classic" in shown and "Decisions" in shown and " FD" in shown
    shown_json = json.loads(cli(root, "study", "show", study_id, "--json").stdout)
    assert shown_json["verdict"] == verdict(rows, comparisons)
    fd = next(c for c in shown_json["comparisons"] if c["metric"] == "fd")
    assert {fd["a"], fd["b"]} == {"fast", "mlp-classic"} and fd["winner"] in ("fast", "mlp-classic", None)
    assert study_id in cli(root, "study", "list").stdout
    # the same name again is refused; deleting removes the study and its runs
    again = cli(root, "study", "start", "--presets", "fast", "--seeds", "1", "--budget", "20steps",
                "--name", study["name"], check=False)
    assert again.returncode == 2 and "already exists" in again.stderr
    cli(root, "study", "delete", study_id)
    assert studies.list() == [] and store.list() == []


@pytest.mark.slow
def test_a_study_with_training_runs_cannot_be_deleted(evaluated_root, tmp_path):
    from gandash.quality.evaluate import EVALUATOR_DIRNAME

    (tmp_path / EVALUATOR_DIRNAME).symlink_to(evaluated_root / EVALUATOR_DIRNAME)
    study_id = cli(tmp_path, "study", "start", "--presets", "mlp-classic", "--seeds", "1",
                   "--budget", "10m").stdout.strip()
    store = RunStore(tmp_path)
    run = store.get(Studies(store).get(study_id)["members"][0]["run"])
    wait_for(run, lambda s: s.get("state") == "running")
    proc = cli(tmp_path, "study", "delete", study_id, check=False)
    assert proc.returncode == 2 and "still has 1 run(s)" in proc.stderr and store.list() == [run]
    assert "stopped 1 run(s)" in cli(tmp_path, "study", "stop", study_id).stdout
    cli(tmp_path, "study", "delete", study_id)
    assert store.list() == []


@pytest.mark.slow
def test_a_time_budget_evaluates_at_fractions_of_it_and_evaluating_is_not_training_time(evaluated_root):
    import time

    from gandash.engine.train import train
    from tests.conftest import tiny

    store = RunStore(evaluated_root)
    run = store.create(tiny(steps=100000, max_seconds=10.0, eval_seconds=2.0, log_every=2, checkpoint_every=1000))
    t = time.time()
    assert train(run, install_signal_handlers=False) == "finished"
    elapsed = time.time() - t
    evals = run.eval_rows()
    wall = run.metrics()[-1]["wall_time"]
    assert len(evals) >= 3 and 10.0 <= wall < 12.0  # every 2 s of training (tracing counts), and at the end
    assert sum(r["seconds"] for r in evals) > 0 and elapsed > wall + sum(r["seconds"] for r in evals) * 0.9


def _row(variant, **values):
    row = {"variant": variant, "runs": 2, "done": 2}
    for key, v in values.items():
        lo, mid, hi, ci = v if isinstance(v, tuple) else (v, v, v, math.nan)
        row.update({key: mid, f"{key}_min": lo, f"{key}_max": hi, f"{key}_ci": ci})
    return row


def test_the_verdict_names_the_best_variants_and_stays_silent_on_ties():
    rows = [_row("acgan", fd=40.0, time_to_conf=100.0), _row("fast", fd=9.84, time_to_conf=math.nan)]
    assert verdict(rows) == "acgan reached confidence 0.8 first (1 min 40 s); fast has the best FD (9.8)."
    tied = [_row("a", fd=200.0, confidence=0.0), _row("b", fd=200.0, confidence=0.0)]
    assert S.best(tied, "confidence") is None and S.best(tied, "fd") is None
    assert verdict(tied).startswith("No run has been evaluated yet")
    assert S.best([_row("a", fd=5.0), _row("b", fd=math.nan)], "fd") == "a"


def test_a_leaderboard_cell_shows_the_mean_its_interval_then_the_range_over_seeds():
    row = _row("fast", fd=(3.21, 3.32, 3.49, 0.352), confidence=(0.98, 0.98, 0.98, 0.0),
               images_per_sec=(690.0, 696.0, 702.4, math.nan), time_to_conf=math.nan, kid=(0.001, 0.002, 0.003, 0.0041))
    assert S.cell(row, "fd") == "3.32 ± 0.352 (3.21–3.49)"
    assert S.cell(row, "kid") == "0.002 ± 0.0041 (0.001–0.003)"
    assert S.cell(row, "confidence") == "0.98"  # one value when the seeds agree
    assert S.cell(row, "images_per_sec") == "696 (690–702)"
    assert S.cell(row, "time_to_conf") == "not reached"
    assert S.cell({**row, "done": 0}, "time_to_conf") == "–"  # not reached yet, but still training


def test_the_total_time_counts_waves_of_slots_with_start_up_and_evaluations():
    plan = {"budget_seconds": 60.0, "members": [{}] * 5}
    points, n = S.Budget(seconds=60.0).evaluations()
    one = 60.0 + S.STARTUP_S + (points - 1) * S.eval_cost(n) + S.eval_cost(S.EVAL_LAST_N)
    assert S.estimate_seconds(plan, 1) == pytest.approx(5 * one)
    assert S.estimate_seconds(plan, 2) == pytest.approx(3 * one)
    assert math.isnan(S.estimate_seconds({"budget_steps": 100, "members": [{}]}, 1))


class _FakeRun:
    def __init__(self, evals, walls):
        self._evals, self._walls = evals, walls

    def eval_rows(self):
        return [{"step": s, "confidence": c} for s, c in self._evals]

    def metrics(self):
        return [{"step": s, "wall_time": w} for s, w in self._walls]

    def sample_steps(self):
        return [s for s, _ in self._walls]


class _FakeStudies:
    def __init__(self, runs):
        self._runs = runs

    def runs(self, study):
        return self._runs


def test_a_paused_run_leaves_its_study_without_an_eta_until_it_continues(tmp_path):
    class Held:
        def __init__(self, **status):
            self._status = status

        def status(self):
            return self._status

    running, queued = Held(state="running", wall_time=10.0), Held(state="queued")
    studies = _FakeStudies([(None, running), (None, queued), (None, Held(state="finished"))])
    studies.store = RunStore(tmp_path)
    study = {"budget_seconds": 60.0, "members": [{"preset": "fast"}] * 3}
    p = S.progress(studies, study)
    assert (p["done"], p["paused"]) == (1, 0) and p["eta_seconds"] >= 50.0 + S.run_seconds(60.0)
    running._status = {"state": "paused", "wall_time": 10.0}
    p = S.progress(studies, study)
    assert (p["done"], p["paused"]) == (1, 1) and math.isnan(p["eta_seconds"])


def test_quality_over_time_puts_seeds_on_one_time_grid_with_a_band():
    # two seeds of one variant, evaluated at different steps; both train at 10 steps a second
    walls = [(s, s / 10) for s in range(10, 201, 10)]
    a = _FakeRun([(100, 0.2), (200, 0.6)], walls)
    b = _FakeRun([(100, 0.4), (200, 0.8)], walls)
    curves = S.quality_over_time(_FakeStudies([({"variant": "v"}, a), ({"variant": "v"}, b)]), {}, "confidence",
                                 points=21)["v"]
    assert curves["runs"] == 2 and curves["t"][0] == pytest.approx(10.0) and curves["t"][-1] == pytest.approx(20.0)
    assert curves["median"][0] == pytest.approx(0.3) and curves["median"][-1] == pytest.approx(0.7)
    assert curves["lo"][-1] == pytest.approx(0.6) and curves["hi"][-1] == pytest.approx(0.8)
    assert S.grid_at(a, 5.0) == (50, 5.0) and S.grid_at(a, 0.5) is None
