"""Every page: empty state, the address, presentation mode, names shown as typed, the app entry."""
from __future__ import annotations

import os
import time

import pytest
from streamlit.testing.v1 import AppTest

from gandash.config import make_config
from tests.ui.apptest import app, texts, written_run


# -- empty state ------------------------------------------------------------------------
@pytest.mark.parametrize("page", ["runs", "train", "monitor", "explore", "compare", "studies"])
def test_every_page_works_with_no_runs(page, store):
    at = app(page, store.root)
    assert not at.exception
    assert not at.error


@pytest.mark.parametrize("bad", ["../etc", "a/b", "x\x00y", "run;rm -rf ~", "no-such-run-here"])
def test_run_ids_from_the_url_go_through_the_store(runs, bad):
    store, ids = runs
    at = app("monitor", store.root, run=bad)
    assert not at.exception
    assert "cannot be opened" in texts(at, "error")
    assert at.selectbox(key="pick_run").value in {ids.ok, ids.failed, ids.broken}


# -- presentation mode ---------------------------------------------------------------------
def test_presentation_mode_survives_reruns_and_hides_editing(runs):
    store, ids = runs
    at = app("monitor", store.root, run=ids.failed)
    at.toggle(key="present").set_value(True).run()
    assert at.toggle(key="present").value
    assert not any(b.label in ("Stop", "Resume") for b in at.button)
    at.run()
    assert at.toggle(key="present").value
    train = app("train", store.root)
    train.toggle(key="present").set_value(True).run()
    assert "Presentation mode hides the training controls" in texts(train, "info")
    assert not [w for w in train.number_input if w.key and w.key.startswith("f_")]


def test_generator_cache_key_changes_with_a_newer_checkpoint(store):
    from gandash.ui import common

    run = store.get(written_run(store))
    run.generator_path.write_bytes(b"v1")
    key = common.generator_key(run)
    os.utime(run.generator_path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert common.generator_key(run) != key and common.generator_key(run)[0] == key[0]


def test_app_entry_point_opens_runs(runs):
    store, ids = runs
    os.environ["GANDASH_RUNS_DIR"] = str(store.root)
    at = AppTest.from_file("../../app.py", default_timeout=60).run()
    assert not at.exception and at.title[0].value == "Runs"
    at.toggle(key="invert").set_value(True).run()
    assert not at.exception and at.toggle(key="invert").value


def test_run_names_show_as_typed_not_as_markdown(store):
    name = "![x](http://127.0.0.1:9/x.png) :red[loud] **bold** $x$"
    run = store.create(make_config("fast", {"name": name}))
    at = app("runs", store.root)
    title = next(m.value for m in at.markdown if "loud" in m.value)
    assert "\\!\\[x\\]\\(http\u2060\\:\\/\\/" in title and "\\:red\\[loud\\]" in title and "\\*\\*bold" in title
    assert run.id
