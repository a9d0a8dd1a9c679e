"""The Runs page: the start screen, states and errors, delete, resume, duplicate, pages of runs, stop."""
from __future__ import annotations

import os

from gandash.config import make_config
from tests.ui.apptest import app, texts, written_run


def test_start_screen_offers_the_fast_preset(store, fake_launch):
    at = app("runs", store.root)
    assert "No runs yet" in texts(at)
    next(b for b in at.button if b.label == "Start the fast preset").click()
    at.run()
    assert fake_launch and fake_launch[0][0] == "start" and fake_launch[0][2].architecture == "cgan"
    assert fake_launch[0][2] == make_config("fast", {"name": "fast preset"})  # the conditional default, not the base
    assert at.title[0].value == "Monitor"
    assert at.query_params["run"] == fake_launch[0][1]


# -- runs -------------------------------------------------------------------------------
def test_runs_page_lists_states_errors_and_damaged_runs(runs):
    store, ids = runs
    at = app("runs", store.root)
    assert not at.exception
    errors = texts(at, "error")
    assert "failed at step 20: ValueError: boom in the data pipeline" in errors
    assert "config.json is missing or not valid JSON" in errors
    md = texts(at)
    assert "finished run" in md and "failed run" in md
    assert len(at.get("image")) >= 2  # thumbnails of the last grids
    labels = [b.label for b in at.button]
    assert "Resume" in labels and "Delete" in labels and "Duplicate…" in labels


def test_delete_asks_for_confirmation(runs):
    store, ids = runs
    at = app("runs", store.root)
    next(b for b in at.button if b.key == f"del_{ids.failed}").click()
    at.run()
    assert (store.root / ids.failed).exists()  # nothing deleted before confirming
    at.button(key="confirm_delete").click()
    at.run()
    assert not (store.root / ids.failed).exists()
    assert f"Deleted {ids.failed}" in texts(at, "success")


def test_resume_and_duplicate(runs, fake_launch):
    store, ids = runs
    at = app("runs", store.root)
    at.button(key=f"resume_{ids.failed}").click()
    at.run()
    assert ("resume", ids.failed) in fake_launch
    at.button(key=f"dup_{ids.ok}").click()
    at.run()
    assert at.title[0].value == "Train a GAN"
    assert at.text_input(key="f_name").value == "finished run (copy)"
    assert at.number_input(key="f_steps").value == 50


def test_fifty_runs_are_paginated(store):
    for _ in range(50):
        store.create(make_config("fast"))
    at = app("runs", store.root)
    assert not at.exception and len(at.dataframe(key="runs_table").value) == 50  # many runs: the table first
    at.segmented_control(key="runs_view").set_value("cards").run()
    assert at.number_input(key="runs_page_no").max == 3
    assert sum(1 for b in at.button if b.label == "Monitor") == 20


def test_delete_of_a_training_run_stops_it_first(store, stand_in_trainer):
    run_id = written_run(store, "queued")
    proc = stand_in_trainer(store.get(run_id))
    at = app("runs", store.root)
    at.button(key=f"del_{run_id}").click().run()
    assert "still training" in texts(at, "warning")
    assert proc.poll() is None and (store.root / run_id).exists()  # nothing happens before confirming
    confirm = at.button(key="confirm_delete")
    assert confirm.label == "Stop, then delete"
    confirm.click().run()
    assert proc.wait(timeout=10) == 0  # the trainer was asked to stop, and did
    assert not (store.root / run_id).exists()
    assert f"Deleted {run_id}" in texts(at, "success")


def test_runs_page_stop_and_presentation_hides_editing(store, fake_launch):
    run_id = written_run(store, "running", pid=os.getpid())
    lock = store.get(run_id).take_trainer_lock()  # this process stands in for its trainer
    at = app("runs", store.root)
    assert "running" in texts(at)
    assert not any(b.key == f"resume_{run_id}" for b in at.button)  # no second trainer
    at.button(key=f"stop_{run_id}").click().run()
    assert ("stop", run_id) in fake_launch and "Stop requested" in texts(at, "success")
    at.toggle(key="present").set_value(True).run()
    assert {b.label for b in at.button} <= {"Monitor", "Explore"}
    lock.release()
