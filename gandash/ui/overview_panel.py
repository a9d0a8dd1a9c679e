"""Monitor's overview: noise z → G → image → D → score with the live numbers, and G's layers or D's eyes opened."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from gandash.explore import discriminator as D
from gandash.explore import overview as O
from gandash.explore import plots
from gandash.explore.images import heat_overlay, to_grid_image
from gandash.explore.sampling import SamplingError, generate
from gandash.quality import health
from gandash.store.runs import Run, RunError
from gandash.ui import common, discriminator_panel

PARTS = ("G's layers for this z", "Where D looks")


@st.cache_data(max_entries=8, show_spinner=False)
def _first_real(run_dir: str):
    return O.first_real(Run(Path(run_dir)).config())


def section(run: Run, cfg, live: bool = False) -> None:
    """The diagram, redrawn every couple of seconds while the run trains (``live``); a part opened below it."""
    st.subheader("How it works", anchor="how-it-works")
    if not st.toggle("Show the overview", key="overview", bind="query-params",
                     help="The parts of a GAN and what flows between them, with this run's numbers as it trains."):
        return
    st.fragment(run_every=common.LIVE_REFRESH_S if live else None)(_diagram)(run, cfg)
    part = st.segmented_control("Open a part", PARTS, key="part", bind="query-params")
    if part == PARTS[0]:
        g_layers(run, cfg)
    elif part == PARTS[1]:
        d_eyes(run, cfg)


def _overview(run: Run, cfg) -> O.Overview | None:
    return O.build(run, cfg, run.metrics()[-1:], _first_real(str(run.dir)))


def _diagram(run: Run, cfg) -> None:
    ov = _overview(run, cfg)
    if ov is None:
        st.info("The overview needs a saved sample grid; none yet.")
        return
    alerts = [a.title for a in health.read(run) if a.ongoing]
    common.chart(plots.overview_figure(ov, z_cells=O.z_image(ov.z), alerts=alerts, big=common.presenting()),
                 "overview_fig")
    st.caption("The top row is one of the fixed-noise samples (the grid's first); the bottom row the first of the real "
               "digits D scores with every grid. The scores are D's at the newest grid; the losses, gradient norms "
               "and batch means are the newest metrics row's.")


def _opened(run: Run, cfg, path, missing: str, fail: str, load):
    """(the overview, ``load()``) for a part that needs a saved file at ``path``; None after saying why not."""
    ov = _overview(run, cfg)
    if ov is None or not path.exists():
        st.info(missing)
        return None
    try:
        return ov, load()
    except (SamplingError, D.DiscriminatorError, RunError, OSError, ValueError) as e:
        st.error(f"{fail}: {e}")
        return None


def g_layers(run: Run, cfg) -> None:
    """The generator's layers for the diagram's z: the first channels of each, brightest where most active."""
    got = _opened(run, cfg, run.generator_path, "The generator is saved with the first checkpoint; none yet.",
                  "G's layers cannot be shown", lambda: common.load_generator(run))
    if got is None:
        return
    ov, gen = got
    maps = O.layer_maps(gen, cfg, ov.z, ov.label)
    st.markdown("From the noise z (left) to the image: each layer's first channels for this one z, each scaled to "
                "its own range (bright = active). The checkpoint is the newest; the grid may be a little older.")
    cols = st.columns(len(maps) + 2)
    cols[0].image(to_grid_image(O.z_image(ov.z)[None], 1, pad=0, scale=12), caption="z", width=96)
    for col, (_, text, m) in zip(cols[1:], maps):
        col.image(to_grid_image(m, 4 if len(m) > 1 else 1, pad=1, scale=max(1, 48 // m.shape[-1])), caption=text,
                  width="stretch")
    image = generate(gen, cfg, ov.z[None], None if ov.label is None else np.array([ov.label], np.int32))[0]
    cols[-1].image(to_grid_image(image[None], 1, pad=0, scale=4), caption="G(z)", width=112)


def d_eyes(run: Run, cfg) -> None:
    """Where D looks on the diagram's two digits: the pixels whose change moves its score most."""
    got = _opened(run, cfg, run.checkpoint_path, "The discriminator is saved with each checkpoint; none yet.",
                  "Cannot load the discriminator", lambda: discriminator_panel.discriminator(run))
    if got is None:
        return
    ov, disc = got
    st.markdown("**Where D looks**: the pixels whose change would move D's score most (the gradient of its score, "
                "smoothed), at the newest checkpoint.")
    cols = st.columns(4)
    for i, (name, image, label) in enumerate((("G(z)", ov.fake, ov.label), ("x, real", ov.real, ov.real_label))):
        if image is None:
            continue
        heat = D.saliency(disc, cfg, image, label if cfg.is_conditional else None)
        cols[2 * i].image(to_grid_image(image[None], 1, pad=0, scale=6), caption=name, width=170)
        cols[2 * i + 1].image(heat_overlay(image, heat, scale=6), caption=f"where D looks on {name}", width=170)
