"""End to end in a real headless Chromium: train from the Train page, watch it, stop it, explore it, present it.

Needs Debian's ``chromium`` and Python Playwright (``.ci/run`` installs both). Screenshots of
each step go to ``$GANDASH_SCREENSHOTS_DIR`` (default: the test's tmp folder); the README's
are made with ``python -m bench.screenshots`` from the same helpers.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from bench.screenshots import CHROMIUM, MAX_SCREENSHOT_BYTES, browser_page, goto, serve, settle, shoot
from gandash.talks import deck as D

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):  # .ci/run installs it: a missing browser there is a failure, not a skip
        raise RuntimeError(f"{CHROMIUM} is not installed")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)


def set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    settle(page, 0.3)


def test_train_watch_stop_explore(tmp_path):
    from playwright.sync_api import expect

    shots = Path(os.environ.get("GANDASH_SCREENSHOTS_DIR") or tmp_path / "shots")
    runs_dir = tmp_path / "runs"
    with serve(runs_dir, tmp_path / "streamlit.log") as url, browser_page() as page:
        goto(page, url)
        expect(page.get_by_text("No runs yet")).to_be_visible()
        expect(page.get_by_role("button", name="Start the fast preset")).to_be_visible()

        # Train: the fast preset, a short schedule, Start.
        goto(page, url, "train")
        page.get_by_text("Optimisation", exact=True).click()
        set_number(page, "steps", 3000)
        set_number(page, "batch_size", 32)
        page.get_by_text("Schedule", exact=True).click()
        for label, value in (("log_every", 5), ("sample_every", 10), ("checkpoint_every", 10)):
            set_number(page, label, value)
        shoot(page, shots / "train.png")
        page.get_by_role("button", name="Start training").click()

        # Monitor: curves and a fixed-noise grid appear while it trains.
        page.wait_for_url(re.compile(r"/monitor\?run=[a-z0-9-]+"), timeout=60_000)
        run_id = page.url.split("run=")[1]
        page.locator("[data-testid='stPlotlyChart'] .scatterlayer .trace").first.wait_for(timeout=120_000)
        expect(page.get_by_text(re.compile(r"^step [1-9][\d,]*$")).first).to_be_visible(timeout=120_000)
        expect(page.get_by_text("running", exact=True).first).to_be_visible()
        settle(page, 2.5)
        shoot(page, shots / "monitor.png")

        # Stop: the trainer checkpoints and exits; the page offers Resume.
        assert (runs_dir / run_id / "generator.keras").exists()
        page.get_by_test_id("stButton").get_by_role("button", name="Stop").click()
        expect(page.get_by_role("button", name="Resume")).to_be_visible(timeout=90_000)
        expect(page.get_by_text("stopped", exact=True).first).to_be_visible()

        # Explore: an interpolation between two picked samples, linear path, 6 steps.
        settle(page)  # the rerun after the state change has finished drawing
        page.get_by_role("button", name="Explore this run").click()
        page.wait_for_url(re.compile(r"/explore\?run="))
        settle(page)
        page.get_by_role("tab", name="Interpolation").click()
        page.get_by_label("To", exact=True).click()
        page.get_by_role("option", name="#5").click()
        settle(page, 0.3)
        page.get_by_text("lerp", exact=True).click()
        settle(page)
        expect(page.get_by_text("lerp from #1 to #5, 10 steps")).to_be_visible()
        shoot(page, shots / "explore.png")
        bookmark = {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}  # this view, as the URL keeps it

        # Directions: a slider moves the samples along a fitted attribute; a table says how well each works.
        page.get_by_role("tab", name="Directions").click()
        expect(page.get_by_text("How well each works")).to_be_visible(timeout=120_000)
        page.get_by_role("slider").first.focus()  # Thickness
        for _ in range(8):
            page.keyboard.press("ArrowRight")
        settle(page)
        expect(page.get_by_text("thickness +2", exact=True)).to_be_visible()
        expect(page.get_by_text(re.compile(r"^sefa-1: \w+ [+-]\d")).first).to_be_visible()
        shoot(page, shots / "directions.png")

        # Dissect: rank a layer's channels by their effect, switch the top ones off.
        page.get_by_role("tab", name="Dissect").click()
        settle(page)
        page.get_by_text("Effect on these samples", exact=True).click()
        page.get_by_role("button", name="Switch these 12 off").click()
        settle(page)
        expect(page.get_by_text("12 off", exact=True)).to_be_visible()
        shoot(page, shots / "dissect.png")

        goto(page, url)
        expect(page.get_by_text(run_id).first).to_be_visible()
        shoot(page, shots / "runs.png")

        # A deck in presentation mode: → opens the next view as its bookmark would, every setting in its address.
        D.save(runs_dir, "talk", [D.View("monitor", {"run": run_id}, "watch it"),
                                  D.View("explore", bookmark, "a path", "top")])
        goto(page, url, "monitor", run=run_id, deck="talk", slide="1", present="true")
        expect(page.get_by_text("view 1 of 2")).to_be_visible()
        page.keyboard.press("ArrowRight")
        page.wait_for_url(re.compile(r"/explore\?.*slide=2.*present=true"))
        settle(page)
        expect(page.get_by_role("tab", name="Interpolation")).to_have_attribute("aria-selected", "true")
        expect(page.get_by_text("lerp from #1 to #5, 10 steps")).to_be_visible()
        expect(page.get_by_text("view 2 of 2")).to_be_visible()
    for png in shots.glob("*.png"):
        assert png.stat().st_size < MAX_SCREENSHOT_BYTES, png


def test_a_study_of_two_presets_and_two_seeds_gives_a_leaderboard(tmp_path):
    from playwright.sync_api import expect

    shots = Path(os.environ.get("GANDASH_SCREENSHOTS_DIR") or tmp_path / "shots")
    runs_dir = tmp_path / "runs"  # fresh: the shipped evaluator scores the runs without being asked
    with serve(runs_dir, tmp_path / "streamlit.log") as url, browser_page() as page:
        goto(page, url, "studies")
        expect(page.get_by_text("No study yet")).to_be_visible()
        page.get_by_text("acgan", exact=True).click()  # untick: fast stays
        settle(page, 0.3)
        page.get_by_text("mlp-classic", exact=True).click()
        settle(page, 0.3)
        set_number(page, "Seeds per preset", 2)
        page.get_by_label("Unit").click()
        page.get_by_role("option", name="steps").click()
        settle(page, 0.3)
        set_number(page, "Budget", 20)
        expect(page.get_by_text(re.compile(r"4 runs of 20 steps each"))).to_be_visible()
        shoot(page, shots / "study_form.png")
        page.get_by_role("button", name="Start the study").click()
        expect(page.get_by_text(re.compile(r"Study .* started: 4 runs queued"))).to_be_visible(timeout=30_000)
        expect(page.get_by_text("4 of 4 runs done")).to_be_visible(timeout=300_000)
        settle(page, 1.0)
        # the verdict comes from the decisions: a clear FD winner, or (2 seeds of 20 steps) none
        expect(page.get_by_text(re.compile(r"has the best FD|no clear difference in FD", re.I)).first).to_be_visible()
        expect(page.get_by_text("Which differences are real")).to_be_visible()
        table = page.get_by_test_id("stDataFrame").first
        expect(table).to_be_visible()
        shoot(page, shots / "study.png")
        # a flat line has no height, so Playwright calls it hidden: count the drawn traces instead
        page.locator("[data-testid='stPlotlyChart'] .scatterlayer .trace").first.wait_for(state="attached")
        assert page.get_by_text("step 20 at", exact=False).count() == 2  # one grid per variant
    assert len(list(runs_dir.glob("*-cgan-*"))) == 2 and len(list(runs_dir.glob("*-mlp-*"))) == 2
    from gandash.store.runs import RunStore
    from gandash.studies.study import Studies
    from tests.test_study import check_a_finished_study_of_fast_and_mlp_classic

    (study,) = Studies(RunStore(runs_dir)).list()
    check_a_finished_study_of_fast_and_mlp_classic(runs_dir, study["id"])  # the same study, from the CLI


def test_a_provoked_failure_shows_its_alert_and_duplicate_with_this_change(tmp_path):
    from playwright.sync_api import expect

    from gandash.backends import launcher
    from gandash.config import make_config
    from gandash.engine.train import train
    from gandash.store.runs import RunStore

    shots = Path(os.environ.get("GANDASH_SCREENSHOTS_DIR") or tmp_path / "shots")
    runs_dir = tmp_path / "runs"
    store = RunStore(runs_dir)
    sick = store.create(make_config("fast", {"architecture": "dcgan", "g_lr": 2e-5, "d_lr": 1e-3, "lr_end": 1.0,
                                             "augment": 0.0, "steps": 800, "name": "D at 50x G's rate"}))
    assert train(sick, install_signal_handlers=False) == "finished"  # D wins: health.json has the alert
    from tests.test_health_provoked import check_a_discriminator_at_50_times_gs_rate_wins

    check_a_discriminator_at_50_times_gs_rate_wins(store, sick)
    with serve(runs_dir, tmp_path / "streamlit.log") as url, browser_page() as page:
        goto(page, url)
        expect(page.get_by_text("⚠ the discriminator is winning")).to_be_visible()
        goto(page, url, "monitor", run=sick.id)
        expect(page.get_by_text("The discriminator is winning").first).to_be_visible()
        expect(page.get_by_text("Slow the discriminator down")).to_be_visible()
        expect(page.get_by_text("Bring D's rate near G's")).to_be_visible()  # the first remedy: D learns 50× as fast
        page.locator(".js-plotly-plot .shapelayer path").first.wait_for(state="attached")  # the marker line
        shoot(page, shots / "health_alert.png")
        page.get_by_role("button", name="Duplicate with this change").first.click()
        page.wait_for_url(re.compile(r"/train"))
        settle(page)
        expect(page.get_by_text(re.compile(r"Settings copied from run .* with one change"))).to_be_visible()
        page.get_by_text("Optimisation", exact=True).click()
        settle(page, 0.3)
        assert float(page.get_by_label("d_lr", exact=True).input_value()) == 4e-05
        assert float(page.get_by_label("g_lr", exact=True).input_value()) == 2e-05
        page.get_by_role("button", name="Start training").click()
        page.wait_for_url(re.compile(r"/monitor\?run=[a-z0-9-]+"), timeout=60_000)
        fixed = store.get(page.url.split("run=")[1])
        assert fixed.id != sick.id and fixed.config().d_lr == 4e-05 and fixed.config().g_lr == 2e-05
        launcher.stop(fixed, wait=60)


def test_draw_a_digit_find_it_and_tour_from_it(tmp_path):
    from playwright.sync_api import expect

    from gandash.engine.train import train
    from gandash.store.runs import RunStore
    from tests.conftest import tiny

    shots = Path(os.environ.get("GANDASH_SCREENSHOTS_DIR") or tmp_path / "shots")
    runs_dir = tmp_path / "runs"
    run = RunStore(runs_dir).create(tiny("fast", architecture="cgan", steps=4, name="tiny cgan"))
    assert train(run, install_signal_handlers=False) == "finished"
    with serve(runs_dir, tmp_path / "streamlit.log") as url, browser_page() as page:
        goto(page, url, "explore", run=run.id)
        page.get_by_role("tab", name="Your digit").click()
        settle(page)
        canvas = page.frame_locator("iframe[title*='st_canvas']").locator("canvas.upper-canvas").last
        canvas.wait_for(timeout=30_000)
        box = canvas.bounding_box()
        x0, y0 = box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.2
        page.mouse.move(x0, y0)
        page.mouse.down()
        for k in range(1, 21):  # a '7': across the top, then down and to the left
            if k <= 8:
                page.mouse.move(x0 - box["width"] * 0.25 + k * box["width"] * 0.05, y0, steps=2)
            else:
                page.mouse.move(x0 + box["width"] * 0.15 - (k - 8) * box["width"] * 0.02,
                                y0 + (k - 8) * box["height"] * 0.05, steps=2)
        page.mouse.up()
        settle(page, 1.5)
        expect(page.get_by_text("As the network sees it", exact=False)).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Find it").click()
        expect(page.get_by_text("what G draws from z")).to_be_visible(timeout=120_000)
        expect(page.get_by_text("slerp from your digit to the sample of seed 0")).to_be_visible()
        settle(page)
        shoot(page, shots / "your_digit.png")
