"""Health alerts on Runs and Monitor (badge, markers, remedies, Duplicate with this change) and the
discriminator's tabs on Explore, driven by AppTest."""
from __future__ import annotations

import pytest

from gandash import health
from gandash.runs import RunStore
from gandash.train import train
from tests.conftest import tiny
from tests.test_health import healthy_rows, set_from
from tests.test_ui import app, texts, written_run


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


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("dtab") / "runs")
    ids = {}
    for key, arch in (("acgan", "acgan"), ("wgan", "wgan-gp")):
        run = store.create(tiny("fast", architecture=arch, steps=4, d_steps=1))
        assert train(run, install_signal_handlers=False) == "finished"
        ids[key] = run.id
    return store, ids


def explore_tab(store, run_id, tab):
    from gandash.ui.explore_page import DISCRIMINATOR_TAB, GAME_TAB

    at = app("explore", store.root, run=run_id)
    at.session_state["ex_tab"] = {"view": DISCRIMINATOR_TAB, "game": GAME_TAB}[tab]
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


def test_monitor_shows_the_discriminators_view_when_asked(trained):
    store, ids = trained
    at = app("monitor", store.root, run=ids["acgan"])
    assert not at.exception and "Overlap of real and generated" not in [m.label for m in at.metric]
    at.toggle(key=f"mon_dv_{ids['acgan']}").set_value(True).run()
    assert not at.exception and not at.error
    assert "Overlap of real and generated" in [m.label for m in at.metric]
