"""Compare runs: overlaid curves vs step and wall time, the race of their grids, the metrics table."""
from __future__ import annotations

import math

import streamlit as st

from gandash.explore import plots
from gandash.store.runs import Run, RunError
from gandash.ui import common, quality

CURVES = ("d_loss", "g_loss", "d_real", "d_fake", "d_acc_real", "d_acc_fake", "wasserstein", "gp",
          "d_class_acc", "code_acc", "images_per_sec")
REFERENCE_ROW = "real data (reference)"


def render() -> None:
    st.title("Compare runs")
    store = common.store()
    runs = store.list()
    if len(runs) < 2:
        st.info("Comparing needs at least two runs. Start some on the Train page — "
                "for instance the same preset with two architectures.")
        if not runs:
            return
    by_id = {r.id: r for r in runs}
    wanted = [i for i in st.query_params.get("runs", "").split(",") if i in by_id]  # ?runs=a,b (known ids only)
    default = wanted or [r.id for r in runs[:3]]

    def sync_url() -> None:
        st.query_params["runs"] = ",".join(st.session_state["cmp_runs"])

    chosen = st.multiselect("Runs", list(by_id), default=default, key="cmp_runs", on_change=sync_url,
                            format_func=lambda i: common.run_label(by_id[i]))
    picked: list[Run] = []
    for run_id in chosen:
        try:
            picked.append(store.get(run_id))
        except RunError as e:
            st.error(str(e))
    if not picked:
        st.info("Pick one or more runs above.")
        return
    names = _names(picked)
    curves(picked, names)
    over_seeds(picked)
    grids(picked, names)
    metrics_table(picked, names)


def _names(runs: list[Run]) -> dict[str, str]:
    out = {}
    for run in runs:
        try:
            cfg = run.config()
            out[run.id] = f"{cfg.name or cfg.architecture} ({run.id[-4:]})"
        except RunError:
            out[run.id] = run.id
    return out


def curves(runs: list[Run], names: dict[str, str]) -> None:
    series = {names[r.id]: plots.thin(r.metrics()) for r in runs}
    available = [c for c in CURVES if any(plots.has_column(rows, c) for rows in series.values())]
    if not available:
        st.info("None of these runs has logged metrics yet.")
        return
    c = st.columns(3)
    metric = c[0].selectbox("Curve", available, format_func=plots.label, key="cmp_metric", bind="query-params")
    smoothing = c[1].slider("Smoothing", 0.0, 0.95, 0.6, 0.05, key="cmp_smooth", bind="query-params")
    c[2].caption("Left: against training step. Right: against wall-clock training time, "
                 "where a faster architecture gets ahead.")
    big = common.presenting()
    left, right = st.columns(2)
    common.chart(plots.compare_figure(series, metric, x="step", smoothing=smoothing, big=big), "cmp_step", left)
    common.chart(plots.compare_figure(series, metric, x="wall_time", smoothing=smoothing, big=big), "cmp_wall",
                 right)


def over_seeds(runs: list[Run]) -> None:
    """Runs that differ only in seed, drawn as one curve (median) with a band (min to max) per group."""
    from gandash.studies.study import curves_over_time, seed_groups

    groups = seed_groups(runs)
    if all(len(members) < 2 for members in groups.values()):
        return
    st.subheader("Over seeds")
    metric = st.selectbox("Quality metric", [c for c in plots.EVAL_COLUMNS if c != "classifier_score"],
                          format_func=plots.label, key="cmp_seed_metric")
    data = curves_over_time(groups, metric)
    common.chart(plots.band_figure(data, metric, big=common.presenting()), "cmp_seed_bands")
    st.caption("Runs whose settings differ only in seed are grouped: the line is their median at each training "
               "time, the band their range. A group needs in-training evaluations (eval_every or the health "
               "probe) to draw.")


PLAYING = "cmp_race_playing"  # the frame the race is playing, while it plays
PLAY_FRAME_S = 0.3


def grids(runs: list[Run], names: dict[str, str]) -> None:
    """The race: every run's fixed-noise grid side by side at equal training time (or step), with one
    slider, a play button and the whole race as a GIF."""
    from gandash.studies import race

    st.subheader("Race: the grids side by side")
    by = st.segmented_control("Line up at equal", ["training time", "step"], default="training time",
                              key="cmp_race_by", bind="query-params") or "training time"
    by = "time" if by == "training time" else "step"
    stops = race.positions(runs, by)
    if not stops:
        st.info("No samples saved yet.")
        return
    if len(runs) > race.MAX_RUNS:
        st.caption(f"Showing the first {race.MAX_RUNS} runs.")
    label = (lambda t: race.fmt_seconds(t)) if by == "time" else (lambda s: f"step {int(s):,}")
    at = stops[-1] if len(stops) == 1 else st.select_slider(
        "Training time" if by == "time" else "Step", stops, value=stops[-1], key=f"cmp_race_{by}",
        format_func=label)
    width = "stretch" if common.presenting() else "content"
    playing = isinstance(st.session_state.get(PLAYING), int)

    @st.fragment(run_every=PLAY_FRAME_S if playing else None)
    def screen() -> None:  # while playing, one frame a tick: the rest of the page stays usable
        i = st.session_state.get(PLAYING)
        if not isinstance(i, int):
            st.image(race.frame(runs, names, at, by), width=width)
            return
        t = stops[min(i, len(stops) - 1)]
        st.image(race.frame(runs, names, t, by), width=width, caption=f"playing: {label(t)}")
        if i + 1 < len(stops):
            st.session_state[PLAYING] = i + 1
        else:  # the end: a whole rerun stops the timer and shows the slider's frame again
            st.session_state.pop(PLAYING, None)
            st.rerun()

    screen()
    c1, c2, _ = st.columns([1, 1, 3])
    if playing:
        if c1.button("Stop", icon=":material/stop:", key="cmp_race_stop"):
            st.session_state.pop(PLAYING, None)
            st.rerun()
    elif c1.button("Play", icon=":material/play_arrow:", key="cmp_race_play", disabled=len(stops) < 2,
                   help=f"Every saved point from the first, {1 / PLAY_FRAME_S:g} a second."):
        st.session_state[PLAYING] = 0
        st.rerun()
    if c2.button("Make the GIF", icon=":material/movie:", key="cmp_race_gif"):
        st.session_state["cmp_race_gif_bytes"] = race.gif(runs, names, by)
    if st.session_state.get("cmp_race_gif_bytes"):
        st.download_button("Download the race (GIF)", st.session_state["cmp_race_gif_bytes"],
                           file_name="race.gif", mime="image/gif", key="cmp_race_dl")
    st.caption("At equal training time a faster architecture gets more steps: the fair race for a fixed "
               "budget. Each run shows its last grid saved at or before the chosen point.")


def metrics_table(runs: list[Run], names: dict[str, str]) -> None:
    st.subheader("Quality metrics")
    rows = []
    for run in runs:
        ev = run.eval_rows()
        if ev:
            last = ev[-1]
            rows.append({"run": names[run.id], "step": int(last.get("step", 0)),
                         **{plots.label(c): last.get(c, math.nan) for c in plots.EVAL_COLUMNS}})
    if not rows:
        try:
            dataset = runs[0].config().dataset
        except RunError:
            dataset = "mnist"
        if quality.evaluator_notice(dataset, "compare"):
            st.info("None of these runs has quality metrics yet. " + quality.HOW_TO)
        return
    import pandas as pd

    df = pd.DataFrame(rows).set_index("run").astype(float)
    df = df.dropna(axis=1, how="all")
    best = {}
    for c in plots.EVAL_COLUMNS:
        name = plots.label(c)
        if name in df:
            idx = plots.best_index(list(df[name]), c)
            best[name] = df.index[idx] if idx is not None else None
    ref = _reference_row(runs)
    if ref:  # real images' scores, for scale; never marked best
        df.loc[REFERENCE_ROW] = [ref.get(c, math.nan) for c in df.columns]

    def mark(col):
        return ["background-color: #c8f7c5; font-weight: bold" if best.get(col.name) == i else ""
                for i in col.index]

    def text(v: float, col: str) -> str:  # formatted here: the grid shows a missing value as "None"
        return "–" if not math.isfinite(v) else (f"{v:,.0f}" if col == "step" else f"{v:.3g}")

    shown = df.apply(lambda col: [text(v, col.name) for v in col])
    st.dataframe(shown.style.apply(mark), key="cmp_table")
    st.caption("Best value of each column in green: lowest Fréchet distance, highest for the rest. "
               f"Each run's latest evaluation{'; the last row is what real images score' if ref else ''}.")


def _reference_row(runs: list[Run]) -> dict[str, float] | None:
    """Real data's metrics by column label, when every run uses the same built-in dataset."""
    try:
        datasets = {r.config().dataset for r in runs}
    except RunError:
        return None
    if len(datasets) != 1:
        return None
    ref = quality.reference(datasets.pop())
    return {plots.label(c): v for c, v in ref.items()} if ref else None
