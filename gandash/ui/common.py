"""State and small drawing helpers shared by the pages (the only place with caching decorators)."""
from __future__ import annotations

import math
import secrets
import time
from pathlib import Path
from typing import Any

import streamlit as st
from PIL import Image

from gandash import backends
from gandash.errors import GandashError
from gandash.explore.images import read_png, upscale  # noqa: F401 - read_png: the pages read grids through common
from gandash.store.runs import ACTIVE_STATES, Run, RunError, RunStore, default_runs_dir

LIVE_REFRESH_S = 2.0
STATE_BADGES = {
    "queued": ":gray-badge[queued]", "running": ":blue-badge[running]", "stopped": ":orange-badge[stopped]",
    "finished": ":green-badge[finished]", "failed": ":red-badge[failed]", "diverged": ":red-badge[diverged]",
    "lost": ":orange-badge[lost]", "stopping": ":orange-badge[stopping]", "paused": ":violet-badge[paused]",
}
_BIG_CSS = """
<style>
.stMainBlockContainer p, .stMainBlockContainer li, .stMainBlockContainer label,
.stMainBlockContainer [data-testid="stMetricLabel"] p { font-size: 1.6rem !important; }
.stMainBlockContainer [data-testid="stMetricValue"],
.stMainBlockContainer [data-testid="stMetricValue"] * { font-size: 3.2rem !important; }
.stMainBlockContainer h1 { font-size: 3.4rem !important; }
.stMainBlockContainer h2, .stMainBlockContainer h3 { font-size: 2.4rem !important; }
.stMainBlockContainer code { font-size: 1.2rem !important; }
</style>
"""


def store() -> RunStore:
    """The run store at ``$GANDASH_RUNS_DIR`` (default ``checkpoints/``)."""
    return RunStore(default_runs_dir())


def keep_warm() -> None:
    """While the dashboard is open one trainer waits warm, so a Start trains within seconds (backends/warm.py)."""
    from gandash.backends import warm

    try:
        warm.keep_warm(store().root)
    except OSError:
        pass  # a runs folder we cannot write: starts begin cold, as the CLI's do


def presenting() -> bool:
    """True in presentation mode: big fonts, editing controls hidden."""
    return bool(st.session_state.get("present", False))


def dark_on_light() -> bool:
    return bool(st.session_state.get("invert", False))


def sidebar() -> None:
    """Display preferences that every page honours; both survive reruns and page switches."""
    with st.sidebar:
        st.toggle("Presentation mode", key="present", bind="query-params", persist_state="session",
                  help="Big fonts and large figures for a projector; editing controls are hidden.")
        st.toggle("Dark digits on light", key="invert", persist_state="session",
                  help="Show samples as ink on paper instead of light on dark.")
        st.caption(f"Runs folder: `{store().root}`")
    if presenting():
        st.markdown(_BIG_CSS, unsafe_allow_html=True)


def chart(fig, key: str, where: Any = None) -> None:
    """A Plotly figure; in presentation mode without Streamlit's theme, which would shrink its fonts."""
    (where or st).plotly_chart(fig, key=key, theme=None if presenting() else "streamlit",
                               config={"displaylogo": False})


def image_scale(base: int = 2) -> int:
    return base * 2 if presenting() else base


def show_image(img: Image.Image | None, caption: str | None = None, *, scale: int | None = None) -> None:
    """A grayscale sample image, upscaled with nearest neighbour so digits stay crisp."""
    if img is None:
        st.info("No sample image yet.")
        return
    if dark_on_light():
        from PIL import ImageOps

        img = ImageOps.invert(img.convert("L"))
    st.image(upscale(img, scale or image_scale()), caption=caption)


def styled(img: Image.Image, scale: int) -> Image.Image:
    """An image as shown on screen (inverted if asked, upscaled): what downloads contain too."""
    if dark_on_light():
        from PIL import ImageOps

        img = ImageOps.invert(img.convert("L"))
    return upscale(img, scale)


def run_label(run: Run) -> str:
    """``name · architecture · id`` for select boxes; tolerant of a damaged config."""
    try:
        cfg = run.config()
    except RunError:
        return f"{run.id} (damaged)"
    name = f"{cfg.name} · " if cfg.name else ""
    return f"{name}{cfg.architecture} on {cfg.dataset} · {run.id}"


def pick_run(runs: list[Run], *, label: str = "Run", key: str = "run") -> Run | None:
    """A run select box that starts at the ``?run=`` query parameter and keeps it in sync.

    The id from the URL is only used through :meth:`RunStore.get`.
    """
    if not runs:
        return None
    ids = [r.id for r in runs]
    wanted = st.query_params.get("run")
    if wanted and wanted not in ids:
        try:
            store().get(wanted)
            ids.insert(0, wanted)
        except RunError as e:
            st.error(f"The run in the address bar cannot be opened: {e}")
            wanted = None
    state_key = f"pick_{key}"

    def sync_url() -> None:  # runs before the rerun, so the URL never lags the selection
        st.query_params["run"] = st.session_state[state_key]

    if wanted:
        st.session_state[state_key] = wanted
    elif st.session_state.get(state_key) not in ids:
        st.session_state[state_key] = ids[0]
    by_id = {r.id: r for r in runs}
    where = st.sidebar if presenting() else st  # on a projector the page belongs to the run itself
    chosen = where.selectbox(label, ids, key=state_key, on_change=sync_url,
                             format_func=lambda i: run_label(by_id[i]) if i in by_id else i)
    if st.query_params.get("run") != chosen:
        st.query_params["run"] = chosen
    try:
        return store().get(chosen)
    except RunError as e:
        st.error(str(e))
        return None


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m" if h else (f"{m}m {s:02d}s" if m else f"{s}s")


def _time_share(status: dict[str, Any], max_seconds: float) -> float:
    wall = status.get("wall_time")
    return min(1.0, wall / max_seconds) if max_seconds > 0 and isinstance(wall, (int, float)) else 0.0


def progress(status: dict[str, Any], max_seconds: float = 0.0) -> tuple[float, str]:
    """Fraction done and a ``step/total`` text; a run with a time limit stops at whichever comes first."""
    step, total = int(status.get("step") or 0), int(status.get("total") or 0)
    frac = min(1.0, step / total) if total else 0.0
    text = f"{step:,}/{total:,}" if total else f"{step:,}/?"
    if max_seconds > 0:
        frac = max(frac, _time_share(status, max_seconds))
        text = f"{step:,} (stops at {f'{total:,} steps or ' if total else ''}{fmt_duration(max_seconds)})"
    return frac, text


def moving(status: dict[str, Any]) -> bool:
    """Whether the run's files change on their own: it is active and not paused (a paused run holds until someone
    steps or continues it)."""
    return status.get("state") in ACTIVE_STATES and status.get("state") != "paused"


def eta_seconds(status: dict[str, Any], batch_size: int, max_seconds: float = 0.0) -> float | None:
    """Time left at the current throughput (or to the time limit, if sooner), for a run that trains (a paused run
    has none)."""
    if not moving(status):
        return None
    step, total = int(status.get("step") or 0), int(status.get("total") or 0)
    ips = status.get("images_per_sec")
    wall = status.get("wall_time")
    by_time = max_seconds - wall if max_seconds > 0 and isinstance(wall, (int, float)) else None
    if not total or not isinstance(ips, (int, float)) or ips <= 0:
        return by_time
    by_steps = (total - step) * batch_size / ips
    return by_steps if by_time is None else max(0.0, min(by_steps, by_time))


def plain(text: str) -> str:
    """User text (a run name) for a Markdown string: every punctuation mark escaped, so it shows
    as typed and cannot become a link, an outside image, a colour directive or a formula."""
    text = "".join("\\" + c if c in _MARKDOWN_PUNCTUATION else c for c in str(text)).replace("\n", " ")
    for start in ("\\:\\/\\/", "www\\.", "\\@"):  # a word joiner stops GitHub-style autolinks
        text = text.replace(start, "\u2060" + start)
    return text


_MARKDOWN_PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def state_badge(status: dict[str, Any]) -> str:
    state = str(status.get("state", "?"))
    badge = STATE_BADGES.get(state, f":gray-badge[{state}]")
    if state == "queued" and status.get("queue_position"):
        badge += f" :gray-badge[#{status['queue_position']} in the queue]"
    label = backends.BADGES.get(status.get("backend") or "local", "")
    if label:
        badge += f" :violet-badge[{label}]" + (" :gray-badge[waiting for the cluster]" if state == "queued" else "")
    if status.get("not_responding"):
        badge += f" :orange-badge[not responding for {fmt_duration(status['not_responding'])}]"
    if status.get("phase"):
        badge += f" :violet-badge[{status['phase']}]"
    return badge


def resume_choices(status: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(backend, button label, key suffix) for Resume: where the run last trained, and here too when a
    cluster lost it."""
    where = status.get("backend") or "local"
    if where == "local":
        return [("local", "Resume", "")]
    choices = [(where, f"Resume on the {backends.LABELS.get(where, where)}", "")]
    return [("local", "Resume here", "_local"), *choices] if status.get("lost") else choices


def act(flash_key: str, action) -> None:
    """Run a button's action and keep its one-line outcome for the rerun: a user error (GandashError) or
    a file that cannot be used is shown, never raised."""
    try:
        st.session_state[flash_key] = ("ok", action())
    except (GandashError, OSError) as e:
        st.session_state[flash_key] = ("err", str(e))
    st.rerun()


def age(ts: Any) -> str:
    if not isinstance(ts, (int, float)):
        return "–"
    return fmt_duration(time.time() - ts) + " ago"


@st.cache_resource(max_entries=6, show_spinner=False)
def _load_generator(path: str, mtime_ns: int):
    from gandash.explore.sampling import load_generator

    return load_generator(Path(path))


@st.cache_resource(max_entries=6, show_spinner=False)
def _morph_parts(path: str, mtime_ns: int):
    from gandash.explore.morph import split_at_label_join

    return split_at_label_join(_load_generator(path, mtime_ns))


def generator_key(run: Run) -> tuple[str, int]:
    """(path, mtime) of the run's generator: a newer checkpoint is a new cache key."""
    path = run.generator_path
    return str(path), path.stat().st_mtime_ns


def load_generator(run: Run):
    """The run's generator (Keras safe mode), cached until the run writes a newer one."""
    return _load_generator(*generator_key(run))


def morph_parts(run: Run):
    return _morph_parts(*generator_key(run))


def evaluator():
    """The evaluate module, or None while it is not installed or importable."""
    try:
        from gandash.quality import evaluate
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None
    return evaluate


@st.cache_data(ttl=30, show_spinner=False)
def _probe(name: str, address: str) -> tuple[dict[str, Any] | None, str]:
    """A backend's probe, given at most PROBE_S seconds: a cluster that does not answer never holds up a page."""
    import concurrent.futures

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(lambda: backends.get(name).probe()).result(timeout=PROBE_S)
    except concurrent.futures.TimeoutError:
        return None, f"it did not answer within {PROBE_S:g} s"
    finally:
        pool.shutdown(wait=False)


PROBE_S = 4.0


def backend_choice(key: str) -> str:
    """Where a start trains: ``local``, or a cluster backend that is installed and answers now."""
    import os

    options, hints = {"local": "This machine"}, []
    for name in backends.REGISTRY:
        if name == "local":
            continue
        found, why = _probe(name, os.environ.get("RAY_ADDRESS", ""))
        if found is None:
            hints.append(f"to train on a {backends.LABELS[name]} instead: {why}")
            continue
        gpus = f", {found['gpus']:g} GPUs" if found["gpus"] else ""
        label = backends.LABELS[name]
        options[name] = (f"{label[:1].upper()}{label[1:]} at {found['address']}: {found['nodes']} node(s), "
                         f"{found['cpus']:g} CPUs{gpus} ({found['free_cpus']:g} free)")
    if len(options) == 1:
        st.session_state.pop(key, None)
        text = "; ".join(hints)
        st.caption(f"Trains on this machine. {text[:1].upper()}{text[1:]}.")
        return "local"
    return st.radio("Where to train", list(options), format_func=options.get, key=key, horizontal=True,
                    help="A cluster run is one task on the cluster: it places and queues it, and retries it from "
                         "its last checkpoint if its node dies. Its run directory is written here, in the shared "
                         "runs folder.")


def seed_box(label: str, key: str) -> int:
    """A seed number input with a re-roll button next to it."""
    if key not in st.session_state:
        st.session_state[key] = url_int(key, 0, 2**31 - 1) or 0
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    if c2.button("Re-roll", key=f"{key}_roll", icon=":material/casino:"):
        st.session_state[key] = secrets.randbelow(2**31)
    return int(c1.number_input(label, 0, 2**31 - 1, key=key, step=1, bind="query-params"))


def url_int(key: str, lo: int, hi: int) -> int | None:
    """The whole number ``?key=`` in the address bar, if it is one from lo to hi (a bookmark's value)."""
    text = str(st.query_params.get(key, "")).strip()
    return int(text) if text.lstrip("-").isdigit() and lo <= int(text) <= hi else None


def label_word(cfg) -> str:
    """What the generator's second input is called: the digit asked for, or the InfoGAN code."""
    return "digit" if cfg.is_conditional else "code"


def label_box(cfg, where, key: str) -> int | None:
    """A digit (conditional) or code (InfoGAN) select; None when the generator takes neither."""
    if not cfg.takes_label:
        return None
    return where.selectbox(label_word(cfg).capitalize(), list(range(cfg.num_classes)), key=key, bind="query-params")


def follow_newest(key: str, steps: list[int]) -> None:
    """Keep the step slider ``key`` on the newest of ``steps`` as they arrive, unless the user moved it back."""
    last_key = f"{key}__newest"
    if key not in st.session_state and last_key not in st.session_state:  # a bookmarked step stays put
        wanted = url_int(key, steps[0], steps[-1])
        if wanted in steps:
            st.session_state[key], st.session_state[last_key] = wanted, steps[-1]
            return
    if st.session_state.get(key) in (None, st.session_state.get(last_key)) or st.session_state[key] not in steps:
        st.session_state[key] = steps[-1]
    st.session_state[last_key] = steps[-1]


def step_slider(label: str, steps: list[int], key: str, where=None) -> int:
    """A slider over saved steps that follows the newest as they arrive; a step the user moves back to is kept in the
    address bar (``?key=``), so a bookmark shows that step, and the newest is not, so a bookmark keeps following."""
    follow_newest(key, steps)
    if len(steps) == 1:
        step = steps[0]
    else:
        step = (where or st).select_slider(label, steps, key=key, format_func=lambda s: f"{s:,}", on_change=_pin,
                                           args=(key,))
    if step == steps[-1]:
        st.query_params.pop(key, None)
    return step


def _pin(key: str) -> None:
    """The user moved a step slider: back from the newest, the step goes in the address bar; to the newest, out."""
    if st.session_state.get(key) == st.session_state.get(f"{key}__newest"):
        st.query_params.pop(key, None)
    else:
        st.query_params[key] = str(st.session_state.get(key))
