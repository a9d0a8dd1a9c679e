"""The Train page: every field grouped with help, rules of which apply, inline errors, presets, uploads."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from gandash.config import make_config
from gandash.explore.images import png_bytes, to_grid_image
from tests.ui.apptest import app, texts


# -- train ------------------------------------------------------------------------------
def test_train_page_every_field_grouped_with_help(store):
    from gandash.config import HELP

    at = app("train", store.root)
    assert [e.label for e in at.main.expander] == ["Data and model", "Optimisation", "Stabilisation tricks", "Schedule"]
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
    assert at.selectbox(key="f_architecture").value == "wgan-gp" and at.query_params["preset"] == "wgan-gp"
    assert at.number_input(key="f_d_steps").value == 5
    bookmarked = app("train", store.root, preset="acgan")  # opened from a bookmark: that preset's form
    assert bookmarked.selectbox(key="f_architecture").value == "acgan"
    assert app("train", store.root, preset="nope").selectbox(key="train_preset").value == "fast"
    at.number_input(key="f_steps").set_value(40).run()
    at.text_input(key="f_name").input("demo").run()
    at.button(key="start_training").click().run()
    kind, run_id, cfg, backend = fake_launch[0]
    assert (cfg.architecture, cfg.steps, cfg.d_steps, cfg.gp_weight, cfg.name) == ("wgan-gp", 40, 5, 10.0, "demo")
    assert backend == "local" and at.title[0].value == "Monitor" and at.query_params["run"] == run_id


def test_where_to_train_offers_a_ray_cluster_only_when_one_answers(store, fake_launch, monkeypatch):
    from gandash.ui import common

    at = app("train", store.root)
    assert "train_backend" not in [r.key for r in at.radio]
    assert "To train on a Ray cluster instead" in texts(at, "caption")
    found = {"address": "head:6379", "nodes": 3, "cpus": 48.0, "gpus": 0.0, "free_cpus": 40.0}
    monkeypatch.setattr(common, "_probe", lambda name, address: (found, ""))
    at.run()
    choice = at.radio(key="train_backend")
    assert choice.value == "local" and "Ray cluster at head:6379: 3 node(s), 48 CPUs (40 free)" in choice.options
    choice.set_value("ray").run()
    at.button(key="start_training").click().run()
    assert fake_launch[0][3] == "ray" and at.title[0].value == "Monitor"


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
    from gandash.engine.data import DataError, load_custom
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
