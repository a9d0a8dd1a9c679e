"""Screenshots of every dashboard page, taken from the real app in headless Chromium.

    GANDASH_DATA_DIR=../shared/data .venv/bin/python -m bench.screenshots [--runs-dir DIR] [--out docs/screenshots]

Without ``--runs-dir`` it trains two short runs (a DCGAN and an AC-GAN) into a
temporary folder first. The browser test (tests/test_browser.py) uses the same
helpers to drive the app.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MAX_SCREENSHOT_BYTES = 300_000
VIEWPORT = {"width": 1400, "height": 1000}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(runs_dir: Path, log_path: Path | None = None) -> Iterator[str]:
    """Run ``streamlit run app.py`` on a free localhost port; yield its URL."""
    port = free_port()
    env = dict(os.environ, GANDASH_RUNS_DIR=str(runs_dir), TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    log = open(log_path or os.devnull, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "localhost", "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://localhost:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start (exit code {proc.poll()})")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def browser_page(viewport: dict | None = None):
    """A Playwright page in Debian's headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=viewport or VIEWPORT)
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


_IDLE_JS = """() => {
  const busy = document.querySelector("[data-testid='stStatusWidget']")
    || document.querySelector("[data-testid='stSkeleton']");
  const imgs = Array.from(document.images).every(i => i.complete);
  const charts = Array.from(document.querySelectorAll("[data-testid='stPlotlyChart']"))
    .every(c => c.querySelector(".main-svg"));
  return !busy && imgs && charts;
}"""


def settle(page, extra_s: float = 0.7, timeout_s: float = 60) -> None:
    """Wait until Streamlit has finished its script run and drawn every image and chart."""
    page.wait_for_selector("[data-testid='stApp']")
    deadline = time.time() + timeout_s
    while True:  # idle twice, a second apart: a rerun can take a moment to show its status widget
        page.wait_for_timeout(700)
        page.wait_for_function(_IDLE_JS, timeout=max(1.0, deadline - time.time()) * 1000)
        page.wait_for_timeout(1000)
        if page.evaluate(_IDLE_JS) or time.time() > deadline:
            break
    page.wait_for_timeout(int(extra_s * 1000))


def shoot(page, path: Path, full_page: bool = True) -> Path:
    """A screenshot, quantised to a palette PNG so it stays small for the README."""
    from PIL import Image

    size = page.viewport_size
    if full_page:  # Streamlit scrolls inside its main section, so grow the window to fit it
        height = page.evaluate("() => (document.querySelector(\"[data-testid='stMain']\") || document.body)"
                               ".scrollHeight")
        page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height), 3200))})
        page.wait_for_timeout(1200)
    raw = page.screenshot()
    page.set_viewport_size(size)
    img = Image.open(io.BytesIO(raw)).convert("RGB")
    if img.height > 3200:  # a very long page: keep the top
        img = img.crop((0, 0, img.width, 3200))
    img = img.resize((img.width * 3 // 4, img.height * 3 // 4), Image.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    for colors in (128, 64, 32):
        img.quantize(colors, dither=Image.Dither.NONE).save(path, optimize=True)
        if path.stat().st_size <= MAX_SCREENSHOT_BYTES:
            break
    return path


def train_fixture_runs(runs_dir: Path, steps: int = 400) -> list[str]:
    """Two short runs to show: the unconditional DCGAN (its digit view) and the conditional default."""
    ids = []
    for preset, name in (("fast-unsupervised", "DCGAN fast-unsupervised"), ("fast", "cGAN fast")):
        out = subprocess.run(
            [sys.executable, "-m", "gandash", "--runs-dir", str(runs_dir), "train", "--preset", preset,
             "--set", f"steps={steps}", "--set", "log_every=10", "--set", "sample_every=25",
             "--set", "checkpoint_every=100", "--set", f"name={name}"],
            cwd=REPO, capture_output=True, text=True, check=True,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        )
        ids.append(out.stdout.strip().splitlines()[-1])
    return ids


def goto(page, url: str, path: str = "", **query: str) -> None:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    page.goto(f"{url}/{path}" + (f"?{qs}" if qs else ""))
    settle(page)


def take_all(url: str, out: Path, run_ids: list[str], runs_dir: Path) -> list[Path]:
    """One screenshot per page (and presentation mode) into ``out``."""
    shots = []
    with browser_page() as page:
        goto(page, url)
        shots.append(shoot(page, out / "runs.png"))
        goto(page, url, "train")
        page.get_by_text("Optimisation", exact=True).click()
        settle(page)
        shots.append(shoot(page, out / "train.png"))
        goto(page, url, "monitor", run=run_ids[0])
        page.wait_for_timeout(1500)
        shots.append(shoot(page, out / "monitor.png"))
        goto(page, url, "explore", run=run_ids[-1])
        page.get_by_role("tab", name="Interpolation").click()
        settle(page)
        shots.append(shoot(page, out / "explore.png"))
        goto(page, url, "explore", run=run_ids[0])
        page.get_by_role("tab", name="Per digit").click()
        settle(page)
        button = page.get_by_role("button", name="Generate and classify")
        if button.count():  # only once the evaluator classifier is trained
            button.click()
            settle(page)
            shots.append(shoot(page, out / "explore_digits.png"))
        goto(page, url, "explore", run=run_ids[-1])
        page.get_by_role("tab", name="Discriminator's view").click()
        settle(page, 2.0)
        shots.append(shoot(page, out / "discriminator.png"))
        page.get_by_role("tab", name="Real or generated?").click()
        settle(page)
        for i in (1, 4, 6, 9, 11, 12, 14, 16):  # a player's guesses, then the answer
            page.get_by_text(f"generated #{i}", exact=True).click()
        page.get_by_role("button", name="Show the answer").click()
        settle(page)
        shots.append(shoot(page, out / "game.png"))
        shots += latent_shots(page, url, run_ids[-1], out)
        goto(page, url, "compare", runs=",".join(run_ids[:2]))
        shots.append(shoot(page, out / "compare.png"))
        goto(page, url, "monitor", run=run_ids[0], present="true")
        page.wait_for_timeout(1500)
        shots.append(shoot(page, out / "presentation.png", full_page=False))
        shots += talk_shots(page, url, runs_dir, run_ids[-1], out)
    return shots


def talk_shots(page, url: str, root: Path, run_id: str, out: Path) -> list[Path]:
    """Monitor's overview with G's layers open; a deck in presentation mode: the demo's mode collapse on its map
    when the runs folder has the demo's deck (``python -m gandash demo``), else this run's map."""
    from gandash.talks import deck, demo
    from gandash.ui.nav import PAGES

    goto(page, url, "monitor", run=run_id, overview="true", part="G's layers for this z")
    page.evaluate("document.getElementById('how-it-works').scrollIntoView()")
    page.wait_for_timeout(2000)
    shots = [shoot(page, out / "overview.png", full_page=False)]
    name = demo.DECK
    views = deck.load(root, name) if name in deck.names(root) else []
    k = next((i for i, v in enumerate(views, 1) if "mode collapse" in v.title.lower()), 0)
    if not k:
        name, k = "screenshots", 1
        views = [deck.View("monitor", {"run": run_id, "map": "true"}, "The map", "training-map")]
        deck.save(root, name, views)
    default = next(iter(PAGES))
    page.goto(f"{url}/{views[k - 1].url(default, deck=name, slide=str(k), present='true')[2:]}")
    page.wait_for_timeout(9000)  # the page, its charts, then the scroll to the view's section
    shots.append(shoot(page, out / "deck.png", full_page=False))
    return shots


def latent_shots(page, url: str, run_id: str, out: Path) -> list[Path]:
    """Explore's Directions tab with the thickness slider at +2, and Dissect with a stroke ranked."""
    goto(page, url, "explore", run=run_id)
    page.get_by_role("tab", name="Directions").click()
    page.get_by_text("How well each works").wait_for(timeout=120_000)
    settle(page)
    page.get_by_role("slider").first.focus()
    for _ in range(8):
        page.keyboard.press("ArrowRight")
    settle(page)
    shots = [shoot(page, out / "directions.png")]
    page.get_by_role("tab", name="Dissect").click()
    settle(page)
    page.get_by_text("Paint a stroke", exact=True).click()
    settle(page)
    canvas = page.frame_locator("iframe").last.locator("canvas").last
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 90, box["y"] + 70)
    page.mouse.down()
    for i in range(12):
        page.mouse.move(box["x"] + 90 + i * 8, box["y"] + 70 + i * 2)
    page.mouse.up()
    settle(page, 2.0)
    page.get_by_role("button", name="Switch these 10 off").click()
    settle(page)
    shots.append(shoot(page, out / "dissect.png"))
    return shots


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs-dir", type=Path, help="existing runs to show (default: train two short ones)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--talk", action="store_true", help="only the overview and a deck in presentation mode")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = args.runs_dir or Path(tmp) / "runs"
        if args.runs_dir is None:
            run_ids = train_fixture_runs(runs_dir, args.steps)
        else:
            from gandash.store.runs import RunStore

            finished = [r for r in RunStore(runs_dir).list() if r.status().get("state") == "finished"]
            # Monitor (and the evaluator's digit view) the first, an unconditional run; Explore the last
            run_ids = [r.id for r in sorted(finished, key=lambda r: r.config().is_conditional)]
        if args.talk:
            with serve(runs_dir, Path(tmp) / "streamlit.log") as url, browser_page() as page:
                for shot in talk_shots(page, url, runs_dir, run_ids[-1], args.out):
                    print(f"{shot} {shot.stat().st_size // 1024} KB")
            return 0
        live = start_live_run(runs_dir)
        try:
            with serve(runs_dir, Path(tmp) / "streamlit.log") as url:
                for shot in take_all(url, args.out, run_ids, runs_dir):
                    print(f"{shot} {shot.stat().st_size // 1024} KB")
        finally:
            from gandash.backends.launcher import stop

            stop(live, wait=60)
    return 0


def start_live_run(runs_dir: Path):
    """A run that is training while the screenshots are taken (stopped afterwards)."""
    from gandash.backends.launcher import start
    from gandash.config import make_config
    from gandash.store.runs import RunStore

    run = start(RunStore(runs_dir), make_config("fast", {"name": "live demo", "seed": 1, "steps": 5000, "log_every": 10,
                                                         "sample_every": 50}))
    deadline = time.time() + 120
    while len(run.metrics()) < 3 and time.time() < deadline:
        time.sleep(1)
    return run


if __name__ == "__main__":
    raise SystemExit(main())
