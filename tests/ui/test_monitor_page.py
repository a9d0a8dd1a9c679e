"""The Monitor page: curves, grid, time-lapse, log, errors, stop, a trainer not responding, the quality panel."""
from __future__ import annotations

import json
import os
import time
from types import SimpleNamespace

import pytest

from gandash.quality import health
from gandash.store.runs import RowWriter, RunStore
from tests.test_health import healthy_rows, set_from
from tests.ui.apptest import app, texts, written_run


# -- monitor ----------------------------------------------------------------------------
def test_monitor_shows_curves_grid_timelapse_and_log(runs):
    store, ids = runs
    at = app("monitor", store.root, run=ids.ok)
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 3
    assert len(at.get("image")) >= 2  # latest grid + time-lapse frame
    assert at.select_slider(key="tl_step").value == 50
    labels = [b.label for b in at.get("download_button")]
    assert any("PNG" in lbl for lbl in labels) and any("GIF" in lbl for lbl in labels)
    assert "step 50 d_loss" in texts(at, "code")
    assert "started in 9 s (process 1.0 s, imports 5.0 s, data 0.5 s, build 0.5 s, first grid 0.5 s, " \
           "first steps 1.5 s)" in texts(at, "caption")
    assert "tl_step" not in at.query_params  # at the newest: a bookmark keeps following
    at.select_slider(key="tl_step").set_value(25).run()
    assert not at.exception and at.select_slider(key="tl_step").value == 25 and at.query_params["tl_step"] == "25"
    at = app("monitor", store.root, run=ids.ok, tl_step="25")  # opened from that bookmark: the step it shows
    assert at.select_slider(key="tl_step").value == 25
    at.select_slider(key="tl_step").set_value(50).run()
    assert "tl_step" not in at.query_params


def test_monitor_failed_run_shows_error_and_step(runs):
    store, ids = runs
    at = app("monitor", store.root, run=ids.failed)
    assert "failed at step 20: ValueError: boom in the data pipeline" in texts(at, "error")
    assert any(b.label == "Resume" for b in at.button)


def test_progress_and_eta_of_a_run_with_a_time_limit():
    from gandash.ui import common

    status = {"state": "running", "step": 100, "total": 10_000_000, "images_per_sec": 320.0, "wall_time": 60.0}
    frac, text = common.progress(status, 300.0)
    assert frac == pytest.approx(0.2) and text == "100 (stops at 10,000,000 steps or 5m 00s)"
    assert common.eta_seconds(status, 32, 300.0) == pytest.approx(240.0)  # the time limit comes first
    assert common.progress(status) == (pytest.approx(1e-5), "100/10,000,000")
    assert common.progress({"state": "queued"}, 180.0) == (0.0, "0 (stops at 3m 00s)")  # its total is not known yet
    assert common.eta_seconds(dict(status, total=200), 32, 300.0) == pytest.approx(10.0)  # the steps come first
    assert common.eta_seconds(dict(status, state="finished"), 32, 300.0) is None
    assert common.eta_seconds(dict(status, state="paused"), 32, 300.0) is None  # it holds until continued


def test_monitor_damaged_run_still_opens(runs):
    store, ids = runs
    at = app("monitor", store.root, run=ids.broken)
    assert not at.exception
    assert "config.json is missing or not valid JSON" in texts(at, "error")


def test_stop_a_running_run(store, fake_launch):
    run_id = written_run(store, "running", pid=os.getpid())
    lock = store.get(run_id).take_trainer_lock()  # this process stands in for its trainer
    at = app("monitor", store.root, run=run_id)
    at.button(key="monitor_stop").click().run()
    assert ("stop", run_id) in fake_launch
    assert "Stop requested" in texts(at, "success")
    lock.release()


def test_a_paused_trainer_is_shown_not_responding_and_keeps_the_run(store, fake_launch):
    run_id = written_run(store, "running", pid=os.getpid())
    run = store.get(run_id)
    lock = run.take_trainer_lock()
    data = json.loads(run.status_path.read_text())
    data["updated"] = time.time() - 125  # no heartbeat for two minutes
    run.status_path.write_text(json.dumps(data))
    at = app("monitor", store.root, run=run_id)
    assert "not responding for 2m" in texts(at)  # 2 min 5 s, and a few more on a busy machine
    assert "No second trainer can start" in texts(at, "warning")
    assert not any(b.key == "monitor_resume" for b in at.button)
    at = app("runs", store.root)
    assert "not responding for 2m" in texts(at)  # 2 min 5 s, and a few more on a busy machine
    assert not any(b.key == f"resume_{run_id}" for b in at.button)
    lock.release()


def test_quality_panel_without_evaluator_says_how_to_get_metrics(runs, monkeypatch):
    from gandash.ui import common

    store, ids = runs
    monkeypatch.setattr(common, "evaluator", lambda: None)
    at = app("monitor", store.root, run=ids.ok)
    info = texts(at, "info")
    assert "Quality metrics are not available yet" in info and "eval_every" in info


def test_quality_panel_offers_to_train_a_missing_evaluator(runs, monkeypatch):
    from gandash.ui import common

    store, ids = runs
    started = []
    fake = SimpleNamespace(evaluator_status=lambda ds, root: {"state": "missing", "accuracy": None, "error": ""},
                           start_evaluator_training=lambda ds, root: started.append(ds) or 4242)
    monkeypatch.setattr(common, "evaluator", lambda: fake)
    at = app("monitor", store.root, run=ids.ok)
    at.button(key=f"train_eval_{ids.ok}").click().run()
    assert started == ["mnist"] and "process 4242" in texts(at, "success")


def test_quality_panel_evaluate_now_then_curves_and_histogram(runs, monkeypatch):
    from gandash.ui import common

    store, ids = runs

    def evaluate_run(run, n):
        row = {"step": 50, "n": n, "fd": 8.5, "classifier_score": 7.1, "digit_entropy": 2.2,
               **{f"hist_{d}": 0.1 for d in range(10)}}
        w = RowWriter(run.eval_path, list(row))
        w.write(row)
        w.close()

    fake = SimpleNamespace(evaluator_status=lambda ds, root: {"state": "ready", "accuracy": 0.99, "error": ""},
                           evaluate_run=evaluate_run, reference_metrics=lambda ds, root: {"fd": 0.37})
    monkeypatch.setattr(common, "evaluator", lambda: fake)
    (store.root / ids.ok / "generator.keras").write_bytes(b"stand-in: only its presence matters here")
    at = app("monitor", store.root, run=ids.ok)
    assert len(at.get("plotly_chart")) == 3
    at.button(key=f"eval_now_{ids.ok}").click().run()
    assert not at.exception and len(at.get("plotly_chart")) == 4  # + the digit histogram
    assert "| Fréchet distance ↓ | 8.5 | 0.37 |" in texts(at)
    at.button(key=f"eval_now_{ids.ok}").click().run()
    assert len(at.get("plotly_chart")) == 5  # two evaluations: + the metric curves


def test_quality_panel_shows_evaluator_training_progress(runs, monkeypatch):
    from gandash.ui import common

    store, ids = runs
    fake = SimpleNamespace(evaluator_status=lambda ds, root: {"state": "training", "progress": 0.4,
                                                              "message": "epoch 2/5", "error": ""})
    monkeypatch.setattr(common, "evaluator", lambda: fake)
    at = app("compare", store.root)
    assert any("epoch 2/5" in str(p.proto.text) for p in at.get("progress"))


# -- health alerts and the discriminator's view ---------------------------------------------
def with_alert(store: RunStore) -> str:
    """A written run whose health.json holds a 'discriminator wins' alert (as the trainer writes it)."""
    run_id = written_run(store)
    run = store.get(run_id)
    rows = set_from(healthy_rows(), 1000, "d_acc_fake", lambda s: 0.997)
    rows = set_from(rows, 1000, "g_loss", lambda s: 1.3 + (s - 1000) / 300)
    assert [a.kind for a in health.check(run, run.config(), rows, 3000)] == ["discriminator_wins"]
    return run_id


def test_runs_shows_an_alert_badge_and_monitor_the_alert_with_its_remedies(store):
    sick, well = with_alert(store), written_run(store)
    at = app("runs", store.root)
    assert not at.exception
    titles = [m.value for m in at.markdown if "badge[" in m.value]
    assert any("⚠ the discriminator is winning" in t for t in titles)
    assert sum("⚠" in t for t in titles) == 1  # the healthy run has none
    at = app("monitor", store.root, run=sick)
    assert not at.exception
    assert "The discriminator is winning" in texts(at, "error") and "from step 1,000" in texts(at, "error")
    assert "Slow the discriminator down" in texts(at)
    fixes = [b for b in at.button if b.label == "Duplicate with this change"]
    assert len(fixes) == len(health.read(store.get(sick))[0].remedies) >= 3
    at = app("monitor", store.root, run=well)
    assert not at.error and not [b for b in at.button if b.label == "Duplicate with this change"]


def test_duplicate_with_this_change_opens_train_with_that_one_setting_changed(store):
    sick = with_alert(store)
    cfg = store.get(sick).config()
    at = app("monitor", store.root, run=sick)
    fix = [b for b in at.button if b.label == "Duplicate with this change"][0]  # slow the discriminator down
    fix.click().run()
    assert not at.exception
    assert at.number_input(key="f_d_lr").value == pytest.approx(cfg.d_lr / 4)
    assert at.number_input(key="f_g_lr").value == pytest.approx(cfg.g_lr)  # nothing else changed
    assert "with one change" in texts(at, "info") and "d_lr" in texts(at, "info")
    assert at.text_input(key="f_name").value.endswith("(slow the discriminator down)")


def test_monitor_shows_the_discriminators_view_when_asked(trained):
    store, ids = trained
    at = app("monitor", store.root, run=ids["acgan"])
    assert not at.exception and "Overlap of real and generated" not in [m.label for m in at.metric]
    at.toggle(key="dview").set_value(True).run()
    assert not at.exception and not at.error
    assert "Overlap of real and generated" in [m.label for m in at.metric]


def test_teach_buttons_pause_step_one_network_slow_motion_and_continue(store):
    """Each teach button writes its request and shows what the trainer answered (a thread answers here)."""
    import threading

    from gandash.store import control

    run_id = written_run(store, "running", pid=os.getpid())
    run = store.get(run_id)
    lock = run.take_trainer_lock()  # this process stands in for its trainer; a thread answers its requests
    asked, stop = [], threading.Event()

    def trainer():
        inbox = control.Inbox(run)
        while not stop.wait(0.05):
            if (req := inbox.pending()) is not None:
                asked.append(req)
                step = run.status().step + (req.n if req.action == "step" and req.only != "d" else 0)
                run.write_status(state="running" if req.action == "continue" else "paused", step=step,
                                 slow=req.slow, **inbox.done(req))

    thread = threading.Thread(target=trainer, daemon=True)
    thread.start()
    try:
        at = app("monitor", store.root, run=run_id)
        assert [b.key for b in at.button if b.key and b.key.startswith("teach")] == ["teach_pause"]
        at.button(key="teach_pause").click().run()
        assert "Pause: paused at step 50." in texts(at, "success")
        at.number_input(key="teach_n").set_value(5).run()
        at.button(key="teach_stepd").click().run()
        assert "5 updates of the discriminator alone: paused at step 50." in texts(at, "success")
        at.button(key="teach_step").click().run()
        assert "5 steps of both networks: paused at step 55." in texts(at, "success")
        at.button(key="teach_slowmo").click().run()
        assert "Slow motion, one step every 1 s: running at step 55." in texts(at, "success")
        assert {"teach_pause", "teach_continue"} <= {b.key for b in at.button} and "teach_step" not in \
            {b.key for b in at.button}  # in slow motion: pause, or on at full speed
        at.button(key="teach_continue").click().run()
        assert [(r.action, r.n, r.only, r.slow) for r in asked] == [
            ("pause", 0, "", 0.0), ("step", 5, "d", 0.0), ("step", 5, "", 0.0), ("continue", 0, "", 1.0),
            ("continue", 0, "", 0.0)]
        assert [b.key for b in at.button if b.key and b.key.startswith("teach")] == ["teach_pause"]
    finally:
        stop.set()
        thread.join()
        lock.release()


@pytest.mark.parametrize("state", ["running", "paused"])
def test_a_paused_run_redraws_nothing_until_it_steps_or_continues(store, state, monkeypatch):
    """While training, the curves, the overview and the map redraw every couple of seconds; while paused, each redraw
    would only grey the page for a moment, so one check that draws nothing redraws the page when the run moves."""
    import streamlit as st

    real, timed = st.fragment, []

    def fragment(func=None, *, run_every=None):
        if func is not None:
            return fragment(run_every=run_every)(func)

        def wrap(f):
            def body(*a, **k):
                timed.append(f.__name__)
                return f(*a, **k)
            return real(body, run_every=run_every) if run_every else real(f)
        return wrap

    monkeypatch.setattr(st, "fragment", fragment)
    run_id = written_run(store, state, pid=os.getpid())
    lock = store.get(run_id).take_trainer_lock()  # this process stands in for its trainer
    try:
        at = app("monitor", store.root, run=run_id, overview="true", map="true")
        assert not at.exception, at.exception
        if state == "running":
            assert sorted(timed) == ["_diagram", "_panel", "panel"]
            assert "paused" not in texts(at)
        else:
            assert timed == ["watch"]
            assert len(at.get("plotly_chart")) >= 3  # the curves and the map are drawn once, not redrawn
    finally:
        lock.release()
