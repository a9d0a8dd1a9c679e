"""Every dashboard page driven by Streamlit's AppTest: empty state, a run with metrics and samples,
a failed run, a damaged run, invalid hyperparameters, and the controls that start and stop things."""
from __future__ import annotations

import json
import os
import time
from types import SimpleNamespace

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from gandash.config import make_config
from gandash.images import png_bytes, to_grid_image
from gandash.runs import RowWriter, RunStore
from tests.conftest import tiny

COLUMNS = ["step", "epoch", "wall_time", "time", "images_per_sec", "d_loss", "g_loss", "d_real", "d_fake",
           "d_acc_real", "d_acc_fake"]


def _script(page: str) -> None:
    from gandash.ui.nav import main

    main(page)


def app(page: str, runs_dir, *, run: str | None = None, timeout: float = 60) -> AppTest:
    os.environ["GANDASH_RUNS_DIR"] = str(runs_dir)
    at = AppTest.from_function(_script, kwargs={"page": page}, default_timeout=timeout)
    if run is not None:
        at.query_params["run"] = run
    return at.run()


def texts(at: AppTest, kind: str = "markdown") -> str:
    return "\n".join(str(e.value) for e in getattr(at, kind))


def written_run(store: RunStore, state: str = "finished", steps: int = 50, **status) -> str:
    """A run directory written directly (no training): config, metrics, samples, log, status."""
    run = store.create(make_config("fast", {"name": f"{state} run", "steps": steps}))
    writer = RowWriter(run.metrics_path, COLUMNS)
    for s in range(10, steps + 1, 10):
        writer.write({"step": s, "epoch": s / 900, "wall_time": s / 10, "time": time.time(), "images_per_sec": 640.0,
                      "d_loss": 1.3 - s / 1000, "g_loss": 0.7 + s / 1000, "d_real": 0.6, "d_fake": 0.4,
                      "d_acc_real": 0.8, "d_acc_fake": 0.7})
    writer.close()
    rng = np.random.default_rng(0)
    for s in (0, steps // 2, steps):
        grid = to_grid_image(rng.integers(0, 255, (64, 28, 28), dtype=np.uint8), 8)
        run.sample_path(s).parent.mkdir(exist_ok=True)
        run.sample_path(s).write_bytes(png_bytes(grid))
    run.log_path.write_text("run started\nstep 50 d_loss 1.25\n")
    run.write_status(state=state, step=steps, total=steps, images_per_sec=640.0, wall_time=5.0, **status)
    return run.id


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """Real 4-step DCGAN, AC-GAN and InfoGAN (DCGAN with a latent code) runs: generators for Explore."""
    from gandash.train import train

    store = RunStore(tmp_path_factory.mktemp("trained") / "runs")
    ids = {}
    for key, arch, code in (("dcgan", "dcgan", False), ("acgan", "acgan", False), ("infogan", "dcgan", True)):
        run = store.create(tiny("fast", architecture=arch, latent_code=code, steps=4, name=f"tiny {key}"))
        assert train(run, install_signal_handlers=False) == "finished"
        ids[key] = run.id
    return store, ids


@pytest.fixture
def runs(store):
    """A store with a finished run, a failed run and a run whose config.json is garbage."""
    ok = written_run(store, startup={"first grid": 0.5, "build": 0.5, "data": 0.5, "first steps": 1.5,
                                     "imports": 5.0, "process": 1.0})
    failed = written_run(store, "failed", steps=20, error="ValueError: boom in the data pipeline")
    broken = written_run(store)
    (store.root / broken / "config.json").write_text("{not json")
    return store, SimpleNamespace(ok=ok, failed=failed, broken=broken)


# -- empty state ------------------------------------------------------------------------
@pytest.mark.parametrize("page", ["runs", "train", "monitor", "explore", "compare", "studies"])
def test_every_page_works_with_no_runs(page, store):
    at = app(page, store.root)
    assert not at.exception
    assert not at.error


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


# -- train ------------------------------------------------------------------------------
def test_train_page_every_field_grouped_with_help(store):
    from gandash.config import HELP

    at = app("train", store.root)
    assert [e.label for e in at.expander] == ["Data and model", "Optimisation", "Stabilisation tricks", "Schedule"]
    widgets = {w.key: w for kind in ("selectbox", "number_input", "toggle", "text_input")
               for w in getattr(at, kind) if w.key and w.key.startswith("f_")}
    for name in ("latent_dim", "g_lr", "d_beta2", "label_flip", "d_steps", "sample_every", "jit_compile"):
        assert widgets[f"f_{name}"].help == HELP[name]
    assert at.button(key="start_training").disabled is False


def test_conditional_options_only_where_they_apply(store):
    at = app("train", store.root)
    keys = lambda: {w.key for kind in ("selectbox", "number_input", "toggle") for w in getattr(at, kind)}  # noqa: E731
    assert at.selectbox(key="train_preset").value == "fast" and at.selectbox(key="f_architecture").value == "cgan"
    assert {"f_label_encoding", "f_projection"} <= keys()  # the default is conditional
    assert {"f_latent_code", "f_code_weight", "f_conditional", "f_gp_weight"}.isdisjoint(keys())
    at.selectbox(key="train_preset").select("fast-unsupervised").run()
    assert {"f_latent_code", "f_code_weight"} <= keys()  # the unsupervised preset has a code
    assert {"f_conditional", "f_gp_weight", "f_label_encoding"}.isdisjoint(keys())
    at.toggle(key="f_latent_code").set_value(False).run()
    assert "f_code_weight" not in keys()
    at.selectbox(key="f_architecture").select("wgan-gp").run()
    assert {"f_conditional", "f_gp_weight"} <= keys() and "f_label_encoding" not in keys()
    assert "f_label_flip" not in keys()
    at.toggle(key="f_conditional").set_value(True).run()
    assert "f_label_encoding" in keys()
    at.selectbox(key="f_architecture").select("acgan").run()
    assert "f_label_encoding" in keys() and "f_conditional" not in keys()
    assert {"f_latent_code", "f_code_weight"}.isdisjoint(keys())  # a conditional model is given the digit


def test_invalid_values_shown_inline_and_start_disabled(store, fake_launch):
    at = app("train", store.root)
    at.number_input(key="f_g_lr").set_value(0.0).run()
    at.number_input(key="f_batch_size").set_value(0).run()
    errors = texts(at, "error")
    assert "g_lr: 0.0 is not allowed; expected a number in (0, 10]" in errors
    assert "batch_size: 0 is not allowed" in errors
    assert at.button(key="start_training").disabled  # and AppTest, like a browser, cannot click it
    assert not fake_launch and not store.list()
    at.number_input(key="f_g_lr").set_value(0.0002).run()
    at.number_input(key="f_batch_size").set_value(32).run()
    assert not at.error and not at.button(key="start_training").disabled


def test_cross_field_rule_names_the_field(store):
    at = app("train", store.root)
    at.selectbox(key="train_preset").select("dcgan-tricks").run()
    at.number_input(key="f_label_noise").set_value(0.5).run()
    assert "label_noise: 0.5 is not allowed" in texts(at, "error")


def test_preset_fills_the_form_and_start_opens_monitor(store, fake_launch):
    at = app("train", store.root)
    at.selectbox(key="train_preset").select("wgan-gp").run()
    assert at.selectbox(key="f_architecture").value == "wgan-gp"
    assert at.number_input(key="f_d_steps").value == 5
    at.number_input(key="f_steps").set_value(40).run()
    at.text_input(key="f_name").input("demo").run()
    at.button(key="start_training").click().run()
    kind, run_id, cfg = fake_launch[0]
    assert (cfg.architecture, cfg.steps, cfg.d_steps, cfg.gp_weight, cfg.name) == ("wgan-gp", 40, 5, 10.0, "demo")
    assert at.title[0].value == "Monitor" and at.query_params["run"] == run_id


def test_custom_dataset_needs_an_upload(store):
    at = app("train", store.root)
    at.selectbox(key="f_dataset").select("custom").run()
    assert "data_path" in texts(at, "error")
    assert at.button(key="start_training").disabled


@pytest.mark.parametrize("labelled", [False, True])
def test_default_preset_falls_back_to_unsupervised_on_data_without_labels(store, fake_launch, labelled):
    path = store.root / "digits.npz"
    store.root.mkdir(parents=True, exist_ok=True)
    images = np.zeros((40, 28, 28), np.uint8)
    path.write_bytes(_npz(images=images, labels=np.arange(40) % 10) if labelled else _npz(images=images))
    at = app("train", store.root)
    at.selectbox(key="f_dataset").select("custom").run()
    at.session_state["upload_ok"] = True  # what a checked upload leaves behind
    at.session_state["f_data_path"] = str(path)
    at.run()
    notes = texts(at, "info")
    if labelled:  # labels: the conditional default stays
        assert at.selectbox(key="train_preset").value == "fast" and "no labels" not in notes
    else:
        assert at.selectbox(key="train_preset").value == "fast-unsupervised"
        assert "no labels" in notes and "fast-unsupervised" in notes and not at.error
    at.button(key="start_training").click().run()
    cfg = fake_launch[0][2]
    assert (cfg.architecture, cfg.latent_code, cfg.dataset) == (("cgan", False, "custom") if labelled
                                                               else ("dcgan", True, "custom"))


# -- uploads (the saving and checking behind the upload widget) ------------------------------
class Upload:
    def __init__(self, name: str, data: bytes):
        self.name, self._data, self.size, self.file_id = name, data, len(data), name

    def getbuffer(self):
        return memoryview(self._data)


def _npz(**arrays) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_uploads_saved_only_inside_the_runs_root(store, monkeypatch):
    from gandash.data import DataError, load_custom
    from gandash.ui import upload

    monkeypatch.setenv("GANDASH_RUNS_DIR", str(store.root))
    path = upload._save([Upload("../../evil.npz", _npz(images=np.zeros((3, 28, 28), np.uint8)))])
    assert path.parent == (store.root / "_uploads").resolve() and "evil" not in path.name
    assert len(load_custom(path, 28)) == 3
    folder = upload._save([Upload("a.png", png_bytes(to_grid_image(np.zeros((1, 28, 28), np.uint8), 1)))] * 2)
    assert sorted(p.name for p in folder.iterdir()) == ["000000.png", "000001.png"]
    with pytest.raises(DataError, match="only .npz files or PNG/JPEG"):
        upload._save([Upload("x.sh", b"#!/bin/sh")])
    with pytest.raises(DataError, match="not both"):
        upload._save([Upload("a.npz", b""), Upload("b.png", b"")])
    bad = upload._save([Upload("bad.npz", _npz(pixels=np.zeros(3)))])
    with pytest.raises(DataError, match="no 'images' array"):
        load_custom(bad, 28)
    assert store.list() == []  # uploads never look like runs


# -- monitor ----------------------------------------------------------------------------
def test_monitor_shows_curves_grid_timelapse_and_log(runs):
    store, ids = runs
    at = app("monitor", store.root, run=ids.ok)
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 3
    assert len(at.get("image")) >= 2  # latest grid + time-lapse frame
    assert at.select_slider(key=f"tl_{ids.ok}").value == 50
    labels = [b.label for b in at.get("download_button")]
    assert any("PNG" in lbl for lbl in labels) and any("GIF" in lbl for lbl in labels)
    assert "step 50 d_loss" in texts(at, "code")
    assert "started in 9 s (process 1.0 s, imports 5.0 s, data 0.5 s, build 0.5 s, first grid 0.5 s, " \
           "first steps 1.5 s)" in texts(at, "caption")
    at.select_slider(key=f"tl_{ids.ok}").set_value(25).run()
    assert not at.exception and at.select_slider(key=f"tl_{ids.ok}").value == 25


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
    assert common.eta_seconds(dict(status, total=200), 32, 300.0) == pytest.approx(10.0)  # the steps come first
    assert common.eta_seconds(dict(status, state="finished"), 32, 300.0) is None


def test_monitor_damaged_run_still_opens(runs):
    store, ids = runs
    at = app("monitor", store.root, run=ids.broken)
    assert not at.exception
    assert "config.json is missing or not valid JSON" in texts(at, "error")


@pytest.mark.parametrize("bad", ["../etc", "a/b", "x\x00y", "run;rm -rf ~", "no-such-run-here"])
def test_run_ids_from_the_url_go_through_the_store(runs, bad):
    store, ids = runs
    at = app("monitor", store.root, run=bad)
    assert not at.exception
    assert "cannot be opened" in texts(at, "error")
    assert at.selectbox(key="pick_run").value in {ids.ok, ids.failed, ids.broken}


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


# -- explore ----------------------------------------------------------------------------
def test_explore_unconditional(trained):
    store, ids = trained
    at = app("explore", store.root, run=ids["dcgan"])
    assert not at.exception and not at.error
    assert [t.label for t in at.tabs] == ["Samples", "Interpolation", "Per digit", "Latent walk",
                                         "Discriminator's view", "Real or generated?"]
    n_images = len(at.get("image"))
    at.slider(key="ip_steps").set_value(5).run()
    at.radio(key="ip_method").set_value("lerp").run()
    assert not at.exception and len(at.get("image")) == n_images
    before = at.number_input(key="ip_seed").value
    at.button(key="ip_seed_roll").click().run()
    assert at.number_input(key="ip_seed").value != before or before != 0
    at.slider(key="wk_alpha").set_value(2.0).run()
    assert not at.exception


def test_explore_conditional_digits_and_morph(trained):
    store, ids = trained
    at = app("explore", store.root, run=ids["acgan"])
    assert not at.exception and not at.error
    assert at.selectbox(key="mo_a").value == 1
    at.slider(key="mo_steps").set_value(4).run()
    at.number_input(key="dg_n").set_value(3).run()
    assert not at.exception and not at.error


def test_explore_latent_code_model_by_code(trained):
    store, ids = trained
    at = app("explore", store.root, run=ids["infogan"])
    assert not at.exception and not at.error
    assert at.selectbox(key="ip_digit").label == "Code" and at.selectbox(key="wk_digit").label == "Code"
    assert at.selectbox(key="mo_a").label == "From code"
    assert any("Code morphing" in h.value for h in at.subheader)
    assert any("given a latent code" in m.value for m in at.markdown)
    at.selectbox(key="ip_digit").select(4).run()
    at.slider(key="mo_steps").set_value(3).run()
    assert not at.exception and not at.error


def test_explore_run_without_generator(runs):
    store, ids = runs
    at = app("explore", store.root, run=ids.ok)
    assert "has not saved a generator yet" in texts(at, "info")


def test_explore_damaged_generator_is_a_clear_error(runs):
    store, ids = runs
    (store.root / ids.ok / "generator.keras").write_bytes(b"PK\x03\x04 truncated")
    at = app("explore", store.root, run=ids.ok)
    assert not at.exception
    assert "cannot be loaded" in texts(at, "error")


# -- compare ----------------------------------------------------------------------------
def test_compare_overlays_and_grids(runs):
    store, ids = runs
    at = app("compare", store.root)
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2
    at.selectbox(key="cmp_metric").select("g_loss").run()
    assert not at.exception


def test_compare_table_marks_the_best_value(runs):
    store, ids = runs
    for run_id, fd in ((ids.ok, 12.0), (ids.failed, 30.0)):
        row = {"step": 50, "n": 1000, "fd": fd, "classifier_score": 40.0 - fd}
        w = RowWriter(store.root / run_id / "eval.csv", list(row))
        w.write(row)
        w.close()
    at = app("compare", store.root)
    df = at.dataframe[0].value
    assert {i.split(" (")[0] for i in df.index} == {"finished run", "failed run"}
    assert {"Fréchet distance", "classifier score", "step"} <= set(df.columns)


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


def _check_upload_script(payloads):
    import streamlit as st

    from gandash.ui import upload

    class Up:
        def __init__(self, name, data):
            self.name, self._data, self.size, self.file_id = name, data, len(data), name

        def getbuffer(self):
            return memoryview(self._data)

    upload._store_and_check([Up(n, d) for n, d in payloads], 28)
    st.write(f"ok={st.session_state.get('upload_ok')}")
    if st.session_state.get("upload_error"):
        st.error(st.session_state["upload_error"])


@pytest.mark.parametrize("name, data, message", [
    ("x.npz", _npz(pixels=np.zeros((2, 28, 28))), "no 'images' array"),
    ("x.npz", _npz(images=np.zeros((0, 28, 28))), "contains no images"),
    ("x.npz", _npz(images=np.full((2, 28, 28), np.nan)), "NaN"),
    ("x.npz", _npz(images=np.zeros((2, 28, 28), np.uint8), labels=np.array([3, 12])), "labels"),
    ("x.npz", b"definitely not a zip", "not a readable .npz"),
    ("x.png", b"\x89PNG garbage", "not a readable image"),
    ("x.npz", _npz(images=np.array(3)), "got ()"),
    ("x.png", __import__("tests.test_reliability", fromlist=["png_declaring"]).png_declaring(20_000, 20_000),
     "too many pixels"),
    ("x.npz", _npz(images=np.zeros((4, 28, 28), np.uint8)), None),
])
def test_bad_uploads_get_one_clear_message_and_leave_nothing(store, name, data, message):
    os.environ["GANDASH_RUNS_DIR"] = str(store.root)
    at = AppTest.from_function(_check_upload_script, kwargs={"payloads": [(name, data)]}, default_timeout=30).run()
    assert not at.exception
    saved = list((store.root / "_uploads").iterdir())
    if message is None:
        assert "ok=True" in texts(at) and len(saved) == 1
    else:
        assert message in texts(at, "error") and "ok=True" not in texts(at)
        assert texts(at, "error").startswith(name)  # named as the user named it
        assert saved == []  # a rejected upload is removed again


def _uploader_script(payloads):
    from types import SimpleNamespace

    import streamlit as st

    from gandash.ui import upload

    files = [SimpleNamespace(name=n, size=len(d), file_id=f"{n}-{len(d)}", getbuffer=lambda d=d: memoryview(d))
             for n, d in payloads]
    st.file_uploader = lambda *a, **k: files  # AppTest cannot upload; the widget's logic is what is tested
    path = upload.dataset_uploader(28)
    st.write(f"path={path!r}")


def test_a_failed_upload_stays_failed_on_the_next_rerun(store):
    os.environ["GANDASH_RUNS_DIR"] = str(store.root)
    payload = [("bad.npz", _npz(images=np.array(3)))]
    at = AppTest.from_function(_uploader_script, kwargs={"payloads": payload}, default_timeout=30).run()
    for _ in range(2):  # the first run and a rerun with the same files
        assert "cannot be used" in texts(at, "error") and "path=''" in texts(at)
        assert not at.success  # never "Dataset ready." for a dataset that was refused
        at.run()


def test_too_many_files_are_refused_before_anything_is_written(store, monkeypatch):
    from gandash.ui import upload

    monkeypatch.setattr(upload, "MAX_CUSTOM_IMAGES", 3)
    files = [Upload(f"{i}.png", b"x") for i in range(4)]
    assert upload.size_error(files) == "4 files; at most 3 images"
    big = [Upload("a.npz", b"")]
    big[0].size = 201 * 2**20
    assert "201 MB in all; at most 200 MB" in upload.size_error(big)
    assert upload.size_error(files[:3]) == ""


def test_uploads_no_run_uses_are_removed_after_an_hour(store):
    from gandash.config import make_config

    up = store.uploads_dir
    up.mkdir(parents=True)
    used, unused, fresh, mine = up / "a.npz", up / "b.npz", up / "c.npz", up / "d"
    for p in (used, unused, fresh):
        p.write_bytes(b"x")
    mine.mkdir()
    store.create(make_config("fast", {"dataset": "custom", "data_path": str(used)}))
    old = time.time() - 7200
    for p in (used, unused, mine):
        os.utime(p, (old, old))
    assert sorted(p.name for p in store.remove_unused_uploads(keep=[mine])) == ["b.npz"]
    assert sorted(p.name for p in up.iterdir()) == ["a.npz", "c.npz", "d"]


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
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    assert not at.exception and at.title[0].value == "Runs"
    at.toggle(key="invert").set_value(True).run()
    assert not at.exception and at.toggle(key="invert").value


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


def test_run_names_show_as_typed_not_as_markdown(store):
    name = "![x](http://127.0.0.1:9/x.png) :red[loud] **bold** $x$"
    run = store.create(make_config("fast", {"name": name}))
    at = app("runs", store.root)
    title = next(m.value for m in at.markdown if "loud" in m.value)
    assert "\\!\\[x\\]\\(http\u2060\\:\\/\\/" in title and "\\:red\\[loud\\]" in title and "\\*\\*bold" in title
    assert run.id


def test_compare_runs_from_the_address_are_checked(runs):
    store, ids = runs
    os.environ["GANDASH_RUNS_DIR"] = str(store.root)
    at = AppTest.from_function(_script, kwargs={"page": "compare"}, default_timeout=60)
    at.query_params["runs"] = f"{ids.failed},../../etc,{ids.ok}"
    at.run()
    assert not at.exception and at.multiselect(key="cmp_runs").value == [ids.failed, ids.ok]


def _classified_in_explore(monkeypatch, store, run_id, classify):
    """Explore's "Generate and classify" on ``run_id``, with ``classify`` standing in for the evaluator."""
    from gandash.ui import common

    fake = SimpleNamespace(evaluator_status=lambda ds, root: {"state": "ready", "accuracy": 0.99, "error": ""},
                           classify=classify)
    monkeypatch.setattr(common, "evaluator", lambda: fake)
    at = app("explore", store.root, run=run_id)
    at.select_slider(key="bk_n").set_value(200).run()
    at.button(key="bk_go").click().run()
    assert not at.exception and not at.error
    return at


def test_explore_unconditional_sorts_samples_by_the_evaluator(trained, monkeypatch):
    store, ids = trained

    def classify(images, dataset, root):
        probs = np.zeros((len(images), 10))
        probs[np.arange(len(images)), np.arange(len(images)) % 3] = 1.0  # digits 0, 1, 2 only
        return probs

    at = _classified_in_explore(monkeypatch, store, ids["dcgan"], classify)
    hist = next(c for c in at.get("plotly_chart") if c.key == "bk_hist")
    assert json.loads(hist.proto.spec)["data"][0]["y"][3:] == [0.0] * 7
    assert not any(c.key == "bk_codes" for c in at.get("plotly_chart"))  # no codes in a plain GAN
    at.run()  # the result stays for this checkpoint without classifying again
    assert any(c.key == "bk_hist" for c in at.get("plotly_chart"))


def test_explore_latent_code_model_shows_which_digit_each_code_draws(trained, monkeypatch):
    store, ids = trained
    at = _classified_in_explore(monkeypatch, store, ids["infogan"],
                                lambda images, dataset, root: np.eye(10)[np.full(len(images), 4)])
    chart = next(c for c in at.get("plotly_chart") if c.key == "bk_codes")
    z = json.loads(chart.proto.spec)["data"][0]["z"]
    assert len(z) == 10 and all(row[4] == 1.0 and sum(row) == 1.0 for row in z)  # every code drew 4s
