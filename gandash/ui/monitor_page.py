"""Monitor one run: health alerts, live curves, the latest fixed-noise grid, a time-lapse and GIF, the log,
and the discriminator's view."""
from __future__ import annotations

import streamlit as st

from gandash import backends
from gandash.backends import launcher
from gandash.explore import plots
from gandash.explore.images import gif_bytes, png_bytes
from gandash.explore.sampling import SamplingError
from gandash.quality import health
from gandash.store import control
from gandash.store.lifecycle import State
from gandash.store.runs import ACTIVE_STATES, Run, RunError, describe_trainer
from gandash.ui import alerts, common, discriminator_panel, overview_panel, quality, training_map_panel
from gandash.ui.nav import go

MAX_GIF_FRAMES = 120
STARTUP_PHASES = ("process", "imports", "data", "build", "first grid", "first steps")  # as the trainer runs them


def render() -> None:
    if not common.presenting():
        st.title("Monitor")
    runs = common.store().list()
    if not runs:
        st.info("No runs yet. Start one on the Train page.")
        st.page_link(_train_page(), label="Go to Train", icon=":material/rocket_launch:")
        return
    run = common.pick_run(runs)
    if run is None:
        return
    try:
        cfg = run.config()
    except RunError as e:
        st.error(f"{e}. The run's other files are shown where they can be read.")
        cfg = None
    if common.presenting():
        st.header(f"{common.plain(cfg.name or cfg.architecture)} · {cfg.architecture} on {cfg.dataset}"
                  if cfg else run.id)
    top = st.columns([3, 2], vertical_alignment="bottom")
    with top[0]:
        controls(run)
    if not common.presenting():
        top[1].slider("Curve smoothing", 0.0, 0.95, 0.6, 0.05, key="smoothing", bind="query-params",
                      help="Exponential moving average; the raw curve stays faint underneath.")
    live(run, batch_size=cfg.batch_size if cfg else 1, max_seconds=cfg.max_seconds if cfg else 0.0, cfg=cfg)
    if cfg is not None:
        moving = common.moving(run.status())
        overview_panel.section(run, cfg, live=moving)
        training_map_panel.section(run, cfg, live=moving)
        st.subheader("Quality", anchor="quality")
        quality.eval_panel(run, cfg.dataset)
        discriminator_view(run, cfg)
    if cfg is not None and not common.presenting():
        with st.expander("Settings of this run"):
            st.json(cfg.to_dict(), expanded=True)


def discriminator_view(run: Run, cfg) -> None:
    """The discriminator's view of the latest checkpoint, computed when asked for (it takes seconds)."""
    if not (run.checkpoint_path.exists() and run.generator_path.exists()):
        return
    st.subheader("The discriminator's view", anchor="discriminator")
    if not st.toggle("Score the latest checkpoint with its discriminator", key="dview", bind="query-params",
                     help="Histograms of D's scores on real and generated images, the images it finds most "
                          "real and most fake, and where it looks."):
        return
    try:
        gen = common.load_generator(run)
    except (SamplingError, OSError) as e:
        st.error(f"The generator of run {run.id} cannot be loaded: {e}")
        return
    discriminator_panel.view_section(run, cfg, gen, key="mon_dv")


def _train_page():
    from gandash.ui.nav import page

    return page("train")


def controls(run: Run) -> None:
    """Stop / resume / explore buttons (editing ones hidden in presentation mode)."""
    msg = st.session_state.pop("monitor_flash", None)
    if msg:
        (st.success if msg[0] == "ok" else st.error)(msg[1])
    status = run.status()
    row = st.container(horizontal=True)
    if not common.presenting():
        if status.get("state") in ACTIVE_STATES:
            if row.button("Stop", icon=":material/stop:", key="monitor_stop",
                          help="The trainer saves a checkpoint and stops; you can resume later."):
                _do(lambda: (launcher.stop(run), "Stop requested: the trainer saves a checkpoint, then stops.")[1])
        elif status.get("state") != "finished":
            for where, label, key in common.resume_choices(status):
                if row.button(label, icon=":material/play_arrow:", key=f"monitor_resume{key}"):
                    _do(lambda where=where: (launcher.resume(run, backend=where), "Resumed from the checkpoint.")[1])
    if status.state in (State.RUNNING, State.PAUSED) and not status.get("not_responding"):
        teach_controls(run, status)
    if run.generator_path.exists() and row.button("Explore this run", icon=":material/explore:"):
        go("explore", run.id)


def teach_controls(run: Run, status) -> None:
    """Teach mode: pause, step (both networks, D alone, G alone), slow motion and continue; keys in
    presentation mode (Space pauses and continues, S steps, D and G update one network, M is slow motion)."""
    keys = common.presenting()
    row = st.container(horizontal=True, vertical_alignment="bottom")
    if status.state == State.RUNNING and not status.get("slow"):
        if row.button("Pause", icon=":material/pause:", key="teach_pause", shortcut="Space" if keys else None,
                      help="Hold after the current step. The run keeps its slot; its time budget stands still."):
            _teach(run, "pause")
        return
    n, slow = st.session_state.get("teach_values", (1, 1.0))  # kept while the inputs are hidden
    if not keys and not status.get("slow"):  # a talk uses the values set before it; the keys then
        n = int(row.number_input("Steps", 1, control.MAX_STEPS, n, key="teach_n", width=110,
                                 help="How many steps (or updates of one network) each Step button takes."))
        slow = float(row.number_input("Seconds a step", 0.2, control.MAX_SLOW_S, slow, 0.1, key="teach_slow",
                                      width=130, help="Slow motion: one step this often, with fresh samples after "
                                                      "each."))
        st.session_state["teach_values"] = (n, slow)
    if status.get("slow"):
        if row.button("Pause", icon=":material/pause:", key="teach_pause", shortcut="Space" if keys else None):
            _teach(run, "pause")
    else:
        for only, label, icon, key in (("", "Step", ":material/skip_next:", "S"),
                                       ("d", "Step D only", ":material/gavel:", "D"),
                                       ("g", "Step G only", ":material/brush:", "G")):
            if row.button(label, icon=icon, key=f"teach_step{only}", shortcut=key if keys else None,
                          help=f"Train {n} {'update' if only else 'step'}{'s' * (n != 1)} of {control.ONLY[only]}, "
                               f"then hold again."):
                _teach(run, "step", n=n, only=only)
        if row.button("Slow motion", icon=":material/slow_motion_video:", key="teach_slowmo",
                      shortcut="M" if keys else None):
            _teach(run, "continue", slow=slow)
    if row.button("Continue", icon=":material/play_arrow:", key="teach_continue", shortcut="Space" if keys and
                  not status.get("slow") else None, help="Train on at full speed."):
        _teach(run, "continue")


def _teach(run: Run, action: str, **fields) -> None:
    def do() -> str:
        req = control.ask(run, action, **fields)
        with st.spinner(f"{req.describe().capitalize()}…"):
            status = control.wait(run, req)
        return f"{req.describe().capitalize()}: {status.state} at step {status.step:,}."

    _do(do)


def _do(action) -> None:
    common.act("monitor_flash", action)


def live(run: Run, batch_size: int, max_seconds: float = 0.0, cfg=None) -> None:
    """The part that refreshes itself every couple of seconds while the run trains."""
    first, n_eval = run.status(), len(run.eval_rows())
    seen = _moment(first, n_eval)

    @st.fragment(run_every=common.LIVE_REFRESH_S if common.moving(first) else None)
    def panel() -> None:
        status = run.status()
        if common.moving(first) and _moment(status, len(run.eval_rows())) != seen:
            st.rerun()  # it ended, paused or went on, or has new quality metrics: redraw the whole page once
        progress_row(status, batch_size, max_seconds)
        found = health.read(run, status)
        alerts.panel(run, found, cfg)
        rows = plots.thin(run.metrics())
        big = common.presenting()
        smoothing = float(st.session_state.get("smoothing", 0.6))
        figs = plots.training_figures(rows, smoothing, big=big, alerts=[(a.step, a.title) for a in found])
        steps = run.sample_steps()
        left, right = st.columns([2, 3] if big else [1, 2])
        with left:
            st.markdown("**Fixed-noise samples**")
            img = common.read_png(run.sample_path(steps[-1])) if steps else None
            common.show_image(img, caption=f"step {steps[-1]:,}" if steps else None)
        common.chart(figs[0], "fig_loss", right)
        cols = st.columns(2) + (st.columns(2) if len(figs) > 3 else [])  # two small charts per row
        for fig, key, col in zip(figs[1:], ("fig_dout", "fig_acc", "fig_grad"), cols):
            common.chart(fig, key, col)
        if not common.presenting():
            with st.expander("Trainer log (last lines)"):
                st.code(run.log_tail(30) or "(empty)", language=None)
        timelapse(run)

    panel()
    if first.get("state") == "paused":
        _watch_paused(run, _moment(first, n_eval, paused=True))


def _moment(status, evaluations: int, paused: bool = False) -> tuple:
    """What redraws the whole page when it changes: the state, slow motion, the number of evaluations; while
    paused also the step, whether the trainer answers and its phase (nothing else moves then)."""
    out = (status.get("state"), status.get("slow"), evaluations)
    return out + (status.get("step"), bool(status.get("not_responding")), status.get("phase")) if paused else out


def _watch_paused(run: Run, seen: tuple) -> None:
    """While a run is paused nothing on the page moves, so nothing redraws (each redraw greys the charts for a
    moment); one check every couple of seconds, drawing nothing, redraws the whole page once the run steps (a step
    asked from the command line), continues, ends, stops answering or has new quality metrics."""
    @st.fragment(run_every=common.LIVE_REFRESH_S)
    def watch() -> None:
        if _moment(run.status(), len(run.eval_rows()), paused=True) != seen:
            st.rerun()

    watch()


def progress_row(status: dict, batch_size: int, max_seconds: float = 0.0) -> None:
    frac, text = common.progress(status, max_seconds)
    st.markdown(f"{common.state_badge(status)} &nbsp; last update {common.age(status.get('updated'))}")
    if status.get("state") in ("failed", "diverged"):
        st.error(f"The run {status['state']} at step {int(status.get('step') or 0):,}: "
                 f"{status.get('error') or 'no error text'}. Its last checkpoint is kept.")
    elif status.get("state") == "paused":
        st.info(f"Paused at step {int(status.get('step') or 0):,} (last: {status.get('last_request') or 'pause'}). "
                f"It keeps its slot, and its time budget stands still: step it, play it in slow motion or "
                f"continue.")
    elif isinstance(status.get("slow"), (int, float)) and status["slow"] > 0:
        st.info(f"Slow motion: one step every {status['slow']:g} s, with fresh samples after each.")
    elif status.get("lost"):
        why = str(status.get("error") or "nothing vouches for it any more")
        st.warning(f"Lost: {why}." + ("" if "Resume" in why else " Resume continues from the last checkpoint."))
    elif status.get("not_responding"):
        st.warning(f"The trainer ({describe_trainer(status)}) has not written its heartbeat for "
                   f"{common.fmt_duration(status['not_responding'])}: it still holds the run, so it may be "
                   f"paused (a sleeping laptop, a stopped process) or waiting for storage. No second "
                   f"trainer can start while it lives.")
    st.progress(frac, text=f"step {text}")
    started = startup_text(status.get("startup"))
    where = f"on {status['device']}" if status.get("device") else ""
    if status.get("state") == "queued" and status.get("backend", "local") != "local":
        where = backends.of(status).waiting_text(status)
    elif status.get("state") == "queued" and status.get("queue_position"):
        where = f"waiting for a training slot: #{status['queue_position']} in the queue (see Runs)"
    if started or where:
        st.caption(" · ".join(filter(None, [started, where])))
    ips = status.get("images_per_sec")
    c = st.columns(4)
    c[0].metric("Step", f"{int(status.get('step') or 0):,}" if max_seconds > 0 else text)
    c[1].metric("Images / s", f"{ips:,.0f}" if isinstance(ips, (int, float)) else "–")
    c[2].metric("ETA", common.fmt_duration(common.eta_seconds(status, batch_size, max_seconds)))
    c[3].metric("Training time", common.fmt_duration(status.get("wall_time")))


def startup_text(phases) -> str:
    """'started in 9 s (process 2.1 s, imports 4.0 s, …)' from status.json's ``startup``, once it
    has reached the first steps ('' before then, or for a run that has none)."""
    if not isinstance(phases, dict) or "first steps" not in phases:
        return ""
    order = [p for p in STARTUP_PHASES if p in phases] + sorted(set(phases) - set(STARTUP_PHASES))
    parts = {k: phases[k] for k in order if isinstance(phases[k], (int, float))}
    detail = ", ".join(f"{k} {v:.1f} s" for k, v in parts.items())
    return f"started in {sum(parts.values()):.0f} s ({detail})"


def timelapse(run: Run) -> None:
    """A slider through every saved grid, and the whole training as a GIF."""
    steps = run.sample_steps()
    st.subheader("Time-lapse", anchor="time-lapse")
    if not steps:
        st.info("The trainer saves a grid every `sample_every` steps; none yet.")
        return
    left, right = st.columns([1, 1] if common.presenting() else [2, 3])
    with right:
        step = common.step_slider("Step", steps, "tl_step")
        frames = steps if len(steps) <= MAX_GIF_FRAMES else steps[:: -(-len(steps) // MAX_GIF_FRAMES)]
        if frames[-1] != steps[-1]:
            frames.append(steps[-1])
        img = common.read_png(run.sample_path(step))
        scale = common.image_scale()
        if img is not None:
            st.download_button("Download this grid (PNG)", png_bytes(common.styled(img, scale)),
                               file_name=f"{run.id}-step{step}.png", mime="image/png", icon=":material/download:")
        gif = _gif_maker(run, frames, scale, common.dark_on_light())
        st.download_button(f"Download the training as a GIF ({len(frames)} frames)", gif,
                           file_name=f"{run.id}-training.gif", mime="image/gif", icon=":material/movie:")
        play = st.toggle("Play the training as an animation", key=f"tl_play_{run.id}")
    with left:
        if play:
            with st.spinner("Making the animation…"):
                st.image(gif(), caption=f"steps {frames[0]:,} … {frames[-1]:,}")
        else:
            common.show_image(img, caption=f"step {step:,}")


def _gif_maker(run: Run, frames: list[int], scale: int, invert: bool):
    """A callable building the GIF only when asked (a download click or the animation toggle)."""

    def make() -> bytes:
        from PIL import ImageOps

        from gandash.explore.images import upscale

        key = (run.id, tuple(frames), scale, invert)
        cached = st.session_state.get("tl_gif")
        if cached and cached[0] == key:  # the live view redraws every 2 s; build each GIF once
            return cached[1]
        imgs = [common.read_png(run.sample_path(s)) for s in frames]
        imgs = [ImageOps.invert(i) if invert else i for i in imgs if i is not None]
        data = gif_bytes([upscale(i, scale) for i in imgs], duration_ms=150)
        st.session_state["tl_gif"] = (key, data)
        return data

    return make
