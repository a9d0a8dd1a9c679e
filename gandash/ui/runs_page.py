"""Runs: every run with its state, progress and last grid; stop, resume, duplicate, delete."""
from __future__ import annotations

import streamlit as st

from gandash.backends import launcher
from gandash.config import RunConfig, make_config
from gandash.errors import GandashError
from gandash.quality import health
from gandash.store.queue import MAX_SLOTS, RunQueue
from gandash.store.runs import ACTIVE_STATES, Run, RunError
from gandash.talks import demo
from gandash.ui import alerts, common
from gandash.ui.nav import go
from gandash.ui.runs_table import runs_table

PAGE_SIZE = 20
FILTERS = ("all", "active", "finished", "stopped", "failed / diverged")
VIEWS = ("cards", "table")


def render() -> None:
    st.title("Runs")
    store = common.store()
    runs = store.list()
    _flash()  # also after deleting the last run
    if not runs:
        start_screen()
        return
    cols = st.columns([4, 2, 2, 1, 1], vertical_alignment="bottom")
    shown = cols[0].segmented_control("Show", FILTERS, default="all", key="runs_filter", bind="query-params") or "all"
    view = cols[1].segmented_control("View", VIEWS, default="table" if len(runs) > 8 else "cards",
                                     key="runs_view", bind="query-params") or "cards"
    studies = sorted({s for s in (_study_of(r) for r in runs) if s})
    study = cols[2].selectbox("Study", ["all runs", *studies], key="runs_study",
                              bind="query-params") if studies else "all runs"
    runs = [r for r in runs if _matches(r, shown) and study in ("all runs", _study_of(r))]
    queue_panel(store.root)
    if view == "table":
        cols[4].caption(f"{len(runs)} run(s)")
        live = any(r.status().get("state") in ACTIVE_STATES for r in runs)

        @st.fragment(run_every=common.LIVE_REFRESH_S * 2 if live else None)
        def table() -> None:
            runs_table(runs)

        table()
        return
    pages = max(1, -(-len(runs) // PAGE_SIZE))
    page_no = cols[3].number_input("Page", 1, pages, 1, key="runs_page_no", bind="query-params") if pages > 1 else 1
    cols[4].caption(f"{len(runs)} run(s)")
    visible = runs[(page_no - 1) * PAGE_SIZE: page_no * PAGE_SIZE]
    live = any(r.status().get("state") in ACTIVE_STATES for r in visible)
    run_list(visible, live)


def queue_panel(root) -> None:
    """How many runs of this folder train at once, and who is waiting; the slots can be changed."""
    queue = RunQueue(root)
    info = queue.describe()
    origin = "set for this folder" if info["explicit"] else "this machine's default"
    warm = f", {len(info['warm'])} warm" if info["warm"] else ""
    with st.expander(f"Queue: {info['slots']} slot(s), {len(info['training'])} training{warm}, "
                     f"{len(info['waiting'])} waiting"):
        st.caption(f"Every start waits here for a free slot, first in, first out. {info['slots']} slot(s), "
                   f"{origin} (default {info['default']}: one per GPU TensorFlow sees, else one per 4 cores); "
                   f"each trainer uses {info['threads_per_trainer']} of the {info['cpu_cores']} cores. "
                   "A time budget counts only the seconds a run trains in its slot. A trainer whose run ends "
                   "stays warm (TensorFlow loaded) and takes the next run at once; while this dashboard is open "
                   "one waits warm in a free slot, so a Start trains within seconds.")
        if common.presenting():
            return
        row = st.container(horizontal=True, vertical_alignment="bottom")
        n = row.number_input("Slots", 1, MAX_SLOTS, info["slots"], key="queue_slots")
        if row.button("Set slots", key="queue_set") and n != info["slots"]:
            _act(lambda: f"{queue.set_slots(int(n))} slot(s): waiting runs take the new ones within a second.")
        if info["explicit"] and row.button("Use the default", key="queue_default"):
            _act(lambda: f"Back to the default of {queue.set_slots(None)} slot(s).")


def _study_of(run: Run) -> str:
    try:
        return run.config().study
    except RunError:
        return ""


def _matches(run: Run, shown: str) -> bool:
    state = run.status().get("state")
    return {"all": True, "active": state in ACTIVE_STATES, "finished": state == "finished",
            "stopped": state in ("stopped", "lost"), "failed / diverged": state in ("failed", "diverged")}[shown]


def _flash() -> None:
    """A message left by an action before its rerun (so it is not lost)."""
    msg = st.session_state.pop("runs_flash", None)
    if msg:
        kind, text = msg
        (st.success if kind == "ok" else st.error)(text)


def start_screen() -> None:
    """What a first-time user sees: one click to a first run."""
    st.markdown("### No runs yet\nTrain a first GAN: the **fast** preset (a small conditional DCGAN on "
                "MNIST) draws each digit on request, recognisable after about 30 seconds on a laptop CPU.")
    if common.presenting():
        st.info("Switch off presentation mode in the sidebar to start a run.")
        return
    c1, c2, c3 = st.columns(3)
    if c1.button("Start the fast preset", type="primary", icon=":material/play_arrow:"):
        try:
            run = launcher.start(common.store(), make_config("fast", {"name": "fast preset"}))
        except (RunError, OSError, ValueError) as e:
            st.error(f"Could not start the run: {e}")
        else:
            go("monitor", run.id)
    if c2.button("Choose settings…", icon=":material/tune:"):
        go("train")
    if c3.button("Prepare a talk", icon=":material/slideshow:",
                 help=f"Queues the runs a talk needs, {demo.BUDGET_S / 60:g} minutes each: "
                      + " ".join(p.shows for p in demo.PARTS) + f" Saves a deck, '{demo.DECK}', that walks through "
                      f"them (the sidebar's 'Deck for a talk')."):
        try:
            runs, _ = demo.queue(common.store())
        except (GandashError, OSError) as e:
            st.error(f"Could not queue the demo: {e}")
        else:
            st.session_state["runs_flash"] = ("ok", f"Queued the demo's {len(runs)} runs and saved the deck "
                                                    f"'{demo.DECK}': {demo.ready_in(common.store())}. Present it "
                                                    f"from the sidebar's 'Deck for a talk'.")
            st.rerun()


def run_list(runs: list[Run], live: bool) -> None:
    """The rows, redrawn every couple of seconds while a run on screen is training."""

    @st.fragment(run_every=common.LIVE_REFRESH_S if live else None)
    def rows() -> None:
        for run in runs:
            run_row(run)
        if live and not any(r.status().get("state") in ACTIVE_STATES for r in runs):
            st.rerun()  # all finished: a full rerun stops the timer and refreshes the filters

    rows()


def run_row(run: Run) -> None:
    status = run.status()
    cfg, cfg_error = _config(run)
    with st.container(border=True):
        thumb, info, actions = st.columns([1, 3, 2], vertical_alignment="center")
        steps = run.sample_steps()
        with thumb:
            img = common.read_png(run.sample_path(steps[-1])) if steps else None
            if img is not None:
                st.image(common.styled(img, 1), width=110)
            else:
                st.caption("no samples yet")
        with info:
            title = (cfg.name if cfg and cfg.name else run.id)
            badges = f"{common.state_badge(status)} {alerts.badge(health.read(run, status))}"
            st.markdown(f"**{common.plain(title)}** {badges}")
            if cfg:
                ident = f" · `{run.id}`" if cfg.name else ""
                device = f" · {status['device']}" if status.get("device") else ""
                st.caption(f"{cfg.architecture} · {cfg.dataset} · batch {cfg.batch_size}{device}{ident}")
            limit = cfg.max_seconds if cfg else 0.0
            frac, text = common.progress(status, limit)
            ips = status.get("images_per_sec")
            eta = common.eta_seconds(status, cfg.batch_size if cfg else 1, limit)
            extra = f" · {ips:,.0f} img/s" if isinstance(ips, (int, float)) else ""
            extra += f" · ETA {common.fmt_duration(eta)}" if eta is not None else ""
            st.progress(frac, text=f"step {text}{extra}")
            if cfg_error:
                st.error(cfg_error)
            if st.session_state.get("runs_deleting") == run.id:
                confirm_delete(run.id)
            if status.get("error") and status.get("state") in ("failed", "diverged", "stopped", "lost"):
                show = st.error if status.get("state") in ("failed", "diverged") else st.warning
                show(f"{status.get('state')} at step {int(status.get('step') or 0):,}: {status['error']}")
        with actions:
            run_actions(run, status, cfg)


def _config(run: Run) -> tuple[RunConfig | None, str]:
    try:
        return run.config(), ""
    except RunError as e:
        return None, str(e)


def run_actions(run: Run, status: dict, cfg: RunConfig | None) -> None:
    active = status.get("state") in ACTIVE_STATES
    row = st.container(horizontal=True)
    if row.button("Monitor", key=f"mon_{run.id}", icon=":material/monitoring:"):
        go("monitor", run.id)
    if run.generator_path.exists() and row.button("Explore", key=f"exp_{run.id}", icon=":material/explore:"):
        go("explore", run.id)
    if common.presenting():
        return
    if status.get("state") == "queued" and not status.get("lost"):
        if row.button("Cancel", key=f"stop_{run.id}", icon=":material/cancel:", help="Leave the queue."):
            _act(lambda: (launcher.stop(run, wait=5), f"Cancelled {run.id}: it left the queue.")[1])
        if (status.get("queue_position") or 1) > 1 and row.button(
                "Move to front", key=f"front_{run.id}", icon=":material/vertical_align_top:"):
            _act(lambda: (RunQueue(run.dir.parent).move_to_front(run.id), f"{run.id} is next in line.")[1])
    elif active:
        if row.button("Stop", key=f"stop_{run.id}", icon=":material/stop:"):
            _act(lambda: (launcher.stop(run), f"Stop requested for {run.id}: it saves a checkpoint, then stops.")[1])
    elif cfg is not None and status.get("state") != "finished":
        for where, label, key in common.resume_choices(status):
            if row.button(label, key=f"resume{key}_{run.id}", icon=":material/play_arrow:"):
                _act(lambda where=where: (launcher.resume(run, backend=where),
                                          f"Resumed {run.id} from its last checkpoint.")[1])
    if cfg is not None and row.button("Duplicate…", key=f"dup_{run.id}", icon=":material/content_copy:",
                                      help="Open the Train page with this run's settings to change and start."):
        st.session_state["train_from"] = run.id
        go("train")
    if row.button("Delete", key=f"del_{run.id}", icon=":material/delete:"):
        st.session_state["runs_deleting"] = run.id
        st.rerun()


def _act(action) -> None:
    common.act("runs_flash", action)


def confirm_delete(run_id: str) -> None:
    """Second step of a delete: nothing is removed until this is confirmed.

    A run that is still training is stopped first (its trainer must let go of it)."""
    store = common.store()
    training = store.get(run_id).trainer() is not None
    what = "It is still training: it will be stopped first. " if training else ""
    st.warning(f"Delete **{run_id}** with its checkpoints, samples and metrics? {what}This cannot be undone.")
    row = st.container(horizontal=True)
    if row.button("Stop, then delete" if training else "Delete for good", type="primary", key="confirm_delete"):
        st.session_state.pop("runs_deleting", None)
        try:
            if training:
                with st.spinner("Stopping the trainer (it saves a checkpoint first)…"):
                    launcher.stop_then_delete(store, store.get(run_id))
            else:
                store.delete(run_id)
            st.session_state["runs_flash"] = ("ok", f"Deleted {run_id}.")
        except (RunError, OSError) as e:
            st.session_state["runs_flash"] = ("err", f"Could not delete {run_id}: {e}")
        st.rerun()
    if row.button("Cancel", key="cancel_delete"):
        st.session_state.pop("runs_deleting", None)
        st.rerun()
