"""The Explore page: samples, interpolation, per-digit grids and morphs, per-code views, sorting by the evaluator."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np

from tests.ui.apptest import app, texts


# -- explore ----------------------------------------------------------------------------
def test_explore_unconditional(trained):
    store, ids = trained
    at = app("explore", store.root, run=ids["dcgan"])
    assert not at.exception and not at.error
    assert [t.label for t in at.tabs] == ["Samples", "Your digit", "Interpolation", "Per digit", "Latent walk",
                                         "Latent map", "Directions", "Dissect", "Discriminator's view",
                                         "Real or generated?"]
    n_images = len(at.get("image"))
    at.slider(key="ip_steps").set_value(5).run()
    at.radio(key="ip_method").set_value("lerp").run()
    assert not at.exception and len(at.get("image")) == n_images
    before = at.number_input(key="ip_seed").value
    at.button(key="ip_seed_roll").click().run()
    bookmarked = app("explore", store.root, run=ids["dcgan"], ex_seed="7", ip_seed="oops")  # a seed from the address
    assert bookmarked.number_input(key="ex_seed").value == 7 and bookmarked.number_input(key="ip_seed").value == 0
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


# -- the discriminator's tabs ---------------------------------------------------------------------
def explore_tab(store, run_id, tab):
    from gandash.ui.explore_page import DISCRIMINATOR_TAB, GAME_TAB

    at = app("explore", store.root, run=run_id)
    at.session_state["tab"] = {"view": DISCRIMINATOR_TAB, "game": GAME_TAB}[tab]
    return at.run()


def test_the_discriminators_view_tab(trained):
    store, ids = trained
    at = explore_tab(store, ids["acgan"], "view")
    assert not at.exception and not at.error
    assert "Overlap of real and generated" in [m.label for m in at.metric]
    assert any("How D scores real and generated" in str(c.proto.spec) for c in at.get("plotly_chart"))
    md = texts(at)
    for strip in ("Fakes D finds most real", "Fakes D finds most fake", "Real images D finds most fake",
                  "Where D looks", "What D's digit head reads"):
        assert strip in md, strip
    at.selectbox(key="ex_dv_sal_pool").set_value("a real image").run()
    assert not at.exception
    at = explore_tab(store, ids["wgan"], "view")
    assert not at.exception and "The critic's gradient at interpolates" in texts(at)


def test_the_real_or_generated_game_scores_you_against_d(trained):
    store, ids = trained
    at = explore_tab(store, ids["acgan"], "game")
    assert not at.exception
    boxes = [c for c in at.checkbox if c.label.startswith("generated #")]
    assert len(boxes) == 16
    for c in boxes[:8]:
        c.check()
    at.button(key=f"game_answer_{ids['acgan']}").click().run()
    assert not at.exception
    captions = texts(at, "caption")
    assert captions.count("**generated**") == 8 and captions.count("**real**") == 8
    assert "This round: you" in texts(at)
    assert [m.label for m in at.metric] == ["Rounds", "You", "The discriminator"] and at.metric[0].value == "1"
    at.button(key=f"game_next_{ids['acgan']}").click().run()
    assert not at.exception and not [c for c in at.checkbox if c.label.startswith("generated #") and c.value]


# -- your digit and the latent map ------------------------------------------------------------------
def captions(at) -> str:
    return "\n".join(img.caption for e in at.get("image") for img in e.proto.imgs)


def _your_digit(store, run_id, source="From the test split"):
    at = app("explore", store.root, run=run_id)
    at.session_state["tab"] = "Your digit"
    at.session_state["yd_source"] = source
    return at.run()


def test_a_test_digit_is_found_and_toured_from(trained):
    store, ids = trained
    at = _your_digit(store, ids["acgan"])
    assert not at.exception and not at.error
    assert "As the network sees it" in captions(at)
    at.number_input(key="yd_index").set_value(7).run()
    at.selectbox(key="yd_label").set_value(3).run()
    at.button(key="yd_find").click().run()
    assert not at.exception and not at.error
    distance = next(m for m in at.metric if m.label == "Distance")
    assert 0.0 <= float(distance.value) <= 1.0
    assert "as digit 3" in texts(at, "caption")
    shown = captions(at)
    for caption in ("your digit", "what G draws from z", "slerp from your digit to the sample of seed 0",
                    "moved along one direction", "your style as every digit"):
        assert caption in shown, caption
    at.radio(key="yd_method").set_value("lerp").run()  # the found vector stays and feeds every tour
    assert not at.exception and "lerp from your digit" in captions(at)
    at.session_state["tab"] = "Interpolation"  # and it is an endpoint there, and a walk's start
    at.run()
    assert "your digit" in at.selectbox(key="ip_a").options
    at.selectbox(key="ip_a").set_value(16).run()
    assert "slerp from your digit to #16, 10 steps" in captions(at)
    at.session_state["tab"] = "Latent walk"
    at.run()
    at.toggle(key="wk_yours").set_value(True).run()
    assert not at.exception and at.number_input(key="wk_z").disabled


def test_an_empty_canvas_and_bad_uploads_say_so_and_nothing_is_searched(trained):
    store, ids = trained
    at = _your_digit(store, ids["dcgan"], "Draw")
    assert not at.exception and "The canvas is empty" in texts(at, "info")
    assert at.button(key="yd_find").disabled
    at = _your_digit(store, ids["dcgan"], "Upload")
    assert not at.exception and at.button(key="yd_find").disabled
    assert "yd_found" not in at.session_state


def test_directions_move_the_samples_and_dissect_switches_channels_off(trained):
    store, ids = trained
    at = app("explore", store.root, run=ids["acgan"], timeout=120)
    at.session_state["tab"] = "Directions"
    at.run()
    assert not at.exception and not at.error
    quality = at.dataframe[0].value
    assert list(quality["direction"]) == ["thickness", "slant", "width", "height"]
    assert "no move yet" in captions(at) and "sefa-1: " in captions(at)  # the gallery names what each one does
    at.slider(key="dir_thickness").set_value(2.0).run()
    assert not at.exception and "thickness +2" in captions(at)
    at.multiselect(key="dir_extra").set_value(["sefa-1"]).run()
    at.slider(key="dir_sefa-1").set_value(-1.0).run()
    assert "thickness +2, sefa-1 -1" in captions(at)
    at.session_state["tab"] = "Dissect"
    at.run()
    assert not at.exception and not at.error
    at.multiselect(key="dx_off").set_value([0, 1]).run()
    assert "2 off" in captions(at)
    at.segmented_control(key="dx_rank").set_value("Effect on these samples").run()
    assert not at.exception and len(at.dataframe[-1].value) == 12
    at.button(key="dx_off_effect").click().run()
    assert len(at.multiselect(key="dx_off").value) >= 12


def test_the_latent_map_is_drawn_around_a_seed_and_through_your_digit(trained):
    store, ids = trained
    at = app("explore", store.root, run=ids["infogan"])
    at.session_state["tab"] = "Latent map"
    at.run()
    assert not at.exception and not at.error
    chart = next(c for c in at.get("plotly_chart") if c.key == "mp_chart")
    spec = json.loads(chart.proto.spec)
    assert spec["data"][0]["type"] == "image" and len(spec["data"][1]["customdata"]) == 11 * 11
    at.slider(key="mp_n").set_value(5).run()
    at.radio(key="mp_plane").set_value("Through three points").run()
    assert not at.exception and not at.error
    spec = json.loads(next(c for c in at.get("plotly_chart") if c.key == "mp_chart").proto.spec)
    assert len(spec["data"][1]["customdata"]) == 25
