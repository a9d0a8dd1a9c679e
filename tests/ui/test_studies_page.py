"""The Studies page (form, leaderboard, curves, grids, exports) and the Runs table that studies fill."""
from __future__ import annotations

import time

import numpy as np
import pytest

from gandash.config import make_config
from gandash.explore.images import png_bytes, to_grid_image
from gandash.store.runs import RowWriter, atomic_write_json
from gandash.studies import study as S
from gandash.studies.report import study_html
from tests.ui.apptest import COLUMNS, app, texts


def evaluated_run(store, study_id: str, preset: str, seed: int, quality: float):
    """A finished member run written directly: metrics, 4 evaluations over 40 s of training, 3 grids."""
    run = store.create(make_config(preset, {"name": f"{preset} seed {seed}", "seed": seed, "study": study_id,
                                            "steps": 400}))
    writer = RowWriter(run.metrics_path, COLUMNS)
    for s in range(20, 401, 20):
        writer.write({"step": s, "epoch": s / 900, "wall_time": s / 10, "time": time.time(), "images_per_sec": 320.0,
                      "d_loss": 1.2, "g_loss": 0.8, "d_real": 0.6, "d_fake": 0.4, "d_acc_real": 0.8, "d_acc_fake": 0.7})
    writer.close()
    from gandash.quality.evaluate import append_row

    for k, s in enumerate((100, 200, 300, 400), start=1):
        append_row(run, {"step": s, "fd": 40 / (k * quality), "confidence": min(0.99, 0.25 * k * quality),
                         "rarest_share": 0.08, "precision": 0.7, "recall": 0.6, "seconds": 1.0,
                         "cond_acc": 0.9 if preset == "fast" else ""})
    rng = np.random.default_rng(seed)
    for s in (0, 200, 400):
        run.sample_path(s).parent.mkdir(exist_ok=True)
        run.sample_path(s).write_bytes(png_bytes(to_grid_image(rng.integers(0, 255, (16, 28, 28), np.uint8), 4)))
    run.write_status(state="finished", step=400, total=400, images_per_sec=320.0, wall_time=40.0, slots=1)
    return run


@pytest.fixture
def finished_study(store):
    """Two presets × two seeds, finished: fast better than mlp-classic."""
    studies = S.Studies(store)
    plan = studies.plan(["fast", "mlp-classic"], 2, "40s", name="written study")
    for m in plan["members"]:
        m["run"] = evaluated_run(store, plan["id"], m["preset"], m["seed"],
                                 quality=2.0 if m["preset"] == "fast" else 1.0 + 0.1 * m["seed"]).id
    studies.dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(studies.path(plan["id"]), plan)
    return studies, plan


def test_the_form_shows_the_total_time_and_starts_a_queued_study(store, fake_launch, monkeypatch):
    from gandash.ui import quality

    monkeypatch.setattr(quality, "evaluator_notice", lambda dataset, key: True)
    at = app("studies", store.root)
    assert not at.exception and "No study yet" in texts(at, "info")
    at.checkbox(key="st_p_mlp-classic").check()
    at.number_input(key="st_seeds").set_value(2)
    at.number_input(key="st_amount").set_value(2.0).run()
    assert "6 runs" in texts(at) and "about" in texts(at)  # 3 presets ticked (fast, acgan, mlp-classic) × 2
    at.button(key="st_start").click().run()
    assert not at.exception
    studies = S.Studies(store)
    (item,) = studies.list()
    assert len(item["members"]) == 6 and [c[0] for c in fake_launch] == ["start"] * 6
    assert all(c[2].study == item["id"] and c[2].max_seconds == 120 for c in fake_launch)
    assert f"Study {item['id']} started" in texts(at, "success")


@pytest.mark.parametrize("change, message", [
    (lambda at: [at.checkbox(key=k).uncheck() for k in ("st_p_fast", "st_p_acgan")], "choose 1 to 6 presets"),
    (lambda at: at.number_input(key="st_amount").set_value(0.0), "more than 0"),
    (lambda at: (at.selectbox(key="st_vary_field").set_value("d_lr").run(),
                 at.text_input(key="st_vary_values").input("1e-4, 50")), "d_lr"),
])
def test_bad_form_input_explains_and_cannot_start(store, fake_launch, monkeypatch, change, message):
    from gandash.ui import quality

    monkeypatch.setattr(quality, "evaluator_notice", lambda dataset, key: True)
    at = app("studies", store.root)
    change(at)
    at.run()
    assert message in texts(at, "warning") and at.button(key="st_start").disabled
    assert S.Studies(store).list() == [] and fake_launch == []


def test_a_study_shows_its_leaderboard_verdict_curves_and_grids(finished_study):
    studies, plan = finished_study
    at = app("studies", studies.store.root)
    assert not at.exception
    table = at.dataframe[0].value  # (a styled table carries no key in AppTest)
    assert list(table.index) == ["fast", "mlp-classic"] and table.loc["fast", "runs"] == "2/2 done"
    assert table.loc["fast", "FD"] == "5" and table.loc["mlp-classic", "FD"] == "9.55 ± 5.78 (9.09–10)"
    assert "per-digit acc" in table.columns  # fast is conditional
    verdict = texts(at).replace("\\", "")  # shown escaped, as plain text
    # two seeds a side: fast's FD is lower, but a t-test over 2 seeds cannot tell (p about 0.06)
    assert "No clear difference in time to confidence 0.8 between fast and mlp-classic" in verdict
    assert "no clear difference in FD between fast and mlp-classic (5 against 9.55; the spread seen" in verdict
    decisions = at.dataframe[1].value
    assert set(decisions["metric"]) >= {"FD", "confidence"} and "Welch's t-test over seeds, 2 vs 2 runs" in set(
        decisions["test"])
    assert "4 of 4 runs done" in at.get("progress")[0].proto.text
    assert "alone in the queue's one slot" in texts(at, "caption").replace("\\", "")
    assert len(at.get("plotly_chart")) == 1 and len(at.get("image")) == 2  # one grid per variant
    slider = at.select_slider(key=f"st_time_{plan['id']}")
    slider.set_value(20.0).run()  # an earlier time: the grid of step 200
    captions = [img.caption for e in at.get("image") for img in e.proto.imgs]
    assert captions == ["step 200 at 20 s"] * 2
    at.selectbox(key=f"st_metric_{plan['id']}").set_value("fd").run()
    assert not at.exception
    assert {b.label for b in at.download_button} >= {"Table as CSV", "Report (HTML, offline)"}


def test_the_html_report_is_one_offline_file(finished_study):
    studies, plan = finished_study
    page = study_html(studies, plan)
    assert page.startswith("<!doctype html>") and "<script src=" not in page  # plotly.js inlined
    assert page.count("<img src='data:image/png;base64,") == 2 and "no clear difference in FD between fast" in page
    assert "Which differences are real" in page and "Holm" in page
    assert page.count("Plotly.newPlot") >= 3 and "<td class='best'>" in page


def test_delete_a_finished_study_after_confirming(finished_study):
    studies, plan = finished_study
    at = app("studies", studies.store.root)
    at.button(key="st_delete").click().run()
    assert "cannot be undone" in texts(at, "warning") and len(studies.store.list()) == 4
    at.button(key="st_delete_yes").click().run()
    assert studies.list() == [] and studies.store.list() == []
    assert f"Deleted study {plan['id']}" in texts(at, "success")


def test_the_runs_table_filters_by_study_and_acts_on_selected_rows(finished_study, fake_launch):
    studies, plan = finished_study
    store = studies.store
    store.create(make_config("fast", {"name": "outside"}))
    at = app("runs", store.root)
    at.segmented_control(key="runs_view").set_value("table").run()
    assert len(at.dataframe(key="runs_table").value) == 5
    at.selectbox(key="runs_study").set_value(plan["id"]).run()
    df = at.dataframe(key="runs_table").value
    assert len(df) == 4 and set(df["study"]) == {plan["id"]} and set(df["state"]) == {"finished"}
    assert df["FD"].min() == 5.0 and "device" in df.columns


def test_selected_rows_can_be_stopped_or_deleted_after_one_confirmation(finished_study):
    studies, plan = finished_study
    store = studies.store
    at = app("runs", store.root)
    at.segmented_control(key="runs_view").set_value("table").run()
    at.session_state["runs_table"] = {"selection": {"rows": [0, 2], "columns": [], "cells": []}}
    at.run()
    labels = {b.label for b in at.button}
    assert {"Compare 2", "Delete 2"} <= labels and not any(lbl.startswith("Stop") for lbl in labels)
    at.button(key="tbl_delete").click().run()
    assert "Delete 2 run(s)" in texts(at, "warning") and len(store.list()) == 4  # nothing yet
    at.button(key="tbl_yes").click().run()
    assert len(store.list()) == 2 and "Deleted 2 run(s)" in texts(at, "success")
