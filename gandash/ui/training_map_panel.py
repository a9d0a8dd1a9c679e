"""Monitor's training map: the real digits, G's samples and D's belief on one fixed plane, live and replayed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from gandash.explore import plots
from gandash.explore import training_map as tm
from gandash.explore.images import upscale
from gandash.quality import health
from gandash.quality.evaluator import DATASETS, EvalError, read_info
from gandash.store.runs import Run
from gandash.ui import common

LEGEND = ("**How to read it.** Each grey dot is a real digit and each orange dot one of the generator's samples: "
          "the same noise vector at every step, so a dot that moves is that sample changing. Nearby dots look "
          "alike to the evaluator (the plane is fixed: fitted once on real digits, never per frame). The "
          "background is what the discriminator finds more real (blue) and more fake (red) at this step, "
          "smoothed from its scores of real digits and of these samples. Arrows show where each sample goes. "
          "Click a dot to see it.")


@st.cache_resource(max_entries=4, show_spinner=False)
def _plane(dataset: str, root: str, sha: str) -> tm.Plane:
    return tm.plane(dataset, root)


@st.cache_data(max_entries=64, show_spinner=False)
def _frame(run_dir: str, step: int, stamp: tuple, root: str, sha: str):
    run = Run(Path(run_dir))
    cfg = run.config()
    return tm.frame(run, cfg, step, _plane(cfg.dataset, root, sha), root)


@st.cache_data(max_entries=8, show_spinner=False)
def _real_xy(run_dir: str, n: int, root: str, sha: str) -> np.ndarray:
    return tm.real_xy(Run(Path(run_dir)).config(), n, root)


def _stamp(run: Run, step: int) -> tuple:
    out = []
    for p in (run.sample_path(step), tm.scores_path(run, step)):
        try:
            out.append(p.stat().st_mtime_ns)
        except OSError:
            out.append(None)
    return tuple(out)


def section(run: Run, cfg, live: bool = False) -> None:
    """The map, following the newest grid unless the step slider was moved back; redrawn every couple of seconds
    while the run trains (``live``)."""
    st.subheader("Training map", anchor="training-map")
    st.fragment(run_every=common.LIVE_REFRESH_S if live else None)(_panel)(run, cfg)


def _panel(run: Run, cfg) -> None:
    if cfg.dataset not in DATASETS:
        st.info("The training map places digits with the evaluator classifier, which exists for MNIST and "
                "Fashion-MNIST only.")
        return
    if not st.toggle("Show the training map", key="map", bind="query-params",
                     help="GAN Lab's view for digits: where the real digits and the generator's samples lie, "
                          "where the discriminator believes real is, and how each sample moves."):
        return
    steps = run.sample_steps()
    if not steps:
        st.info("The map needs a saved sample grid; none yet.")
        return
    step = common.step_slider("Map at step", steps, "map_step")
    root = str(common.store().root)
    try:
        sha = str(read_info(cfg.dataset, root).get("sha256") or "")
        with st.spinner("Placing the digits on the map…"):
            the_plane = _plane(cfg.dataset, root, sha)
            here = _frame(str(run.dir), step, _stamp(run, step), root, sha)
            i = steps.index(step)
            other = steps[i + 1] if i + 1 < len(steps) else (steps[i - 1] if i else None)
            there = _frame(str(run.dir), other, _stamp(run, other), root, sha) if other is not None else None
    except (EvalError, OSError) as e:
        st.error(f"The training map cannot be drawn: {e}")
        return
    if here is None:
        st.warning(f"The grid at step {step:,} cannot be read (is it being written?).")
        return
    moves, moved_by = None, ""
    if there is not None and len(there.xy) == len(here.xy):
        if there.step > here.step:
            moves, moved_by = (here.xy, there.xy), f"to step {there.step:,} ({there.step - here.step:,} later)"
        else:
            moves, moved_by = (there.xy, here.xy), f"from step {there.step:,} (the last {here.step - there.step:,})"
    field, said, box = None, None, tm.extent(the_plane, here.xy, *(moves or ()))
    if here.fake_scores is not None:
        real_xy = _real_xy(str(run.dir), len(here.real_scores), root, sha)
        scores = np.concatenate([here.real_scores, here.fake_scores])
        field = tm.field(np.concatenate([real_xy, here.xy]), tm.relative(scores), box)
        said = ([f"critic {v:+.2f}" for v in here.fake_scores] if here.critic else
                [f"D: {p:.0%} real" for p in tm.believes_real(here.fake_scores)])
    labels = list(np.arange(len(here.xy)) % cfg.num_classes) if cfg.is_conditional else None
    fig = plots.training_map_figure(the_plane.cloud, the_plane.cloud_labels, field, here.xy, moves=moves, step=step,
                                    moved_by=moved_by, said=said, labels=labels, extent=box,
                                    big=common.presenting())
    ongoing = [a.title for a in health.read(run) if a.ongoing]  # the alerts' signals, as on the overview
    if ongoing:
        st.markdown(":red[**Health:** " + common.plain("; ".join(ongoing)) + "]")
    left, right = st.columns([4, 1])
    event = left.plotly_chart(fig, key=f"map_fig_{run.id}", on_select="rerun", selection_mode="points",
                              theme=None if common.presenting() else "streamlit", config={"displaylogo": False})
    with right:
        picked = [p.get("customdata") for p in (event.selection.points if event else []) if "customdata" in p]
        if picked and isinstance(picked[0], int) and 0 <= picked[0] < len(here.images):
            k = picked[0]
            st.image(upscale(Image.fromarray(here.images[k]), 6), caption=f"sample {k} at step {step:,}"
                     + (f" · {said[k]}" if said is not None else ""))
        else:
            st.caption("Click an orange dot to see that sample.")
        if here.fake_scores is None:
            st.caption("No field at this step: its grid was saved without D's scores (an older run).")
    st.caption(LEGEND + f" The plane's two axes carry {the_plane.share[0]:.0%} and {the_plane.share[1]:.0%} of the "
               f"evaluator features' variance.")
