"""Explore's Directions and Dissect tabs: attribute sliders, discovered directions, and G's channels."""
from __future__ import annotations

import numpy as np
import streamlit as st

from gandash.config import RunConfig
from gandash.explore import directions as D
from gandash.explore import dissect as X
from gandash.explore.images import png_bytes, to_grid_image
from gandash.explore.sampling import SamplingError, generate, latents
from gandash.store.runs import Run
from gandash.ui import common, your_digit

AMOUNTS = np.linspace(-3, 3, 7)
N_SHOWN = 8
CANVAS_SCALE = 10
PAINT = "rgba(255, 40, 40, 0.55)"


@st.cache_resource(max_entries=4, show_spinner=False)
def _space(path: str, mtime_ns: int, root: str, _gen, _cfg: RunConfig) -> D.Space:
    """Keyed by the generator file and its mtime (a newer checkpoint is fitted anew)."""
    from gandash.quality.evaluate import reader

    return D.fit(_gen, _cfg, reader(_cfg.dataset, root))


def space(gen, run: Run, cfg: RunConfig) -> D.Space:
    """The run's directions, fitted once per checkpoint (a few seconds)."""
    with st.spinner("Fitting the latent directions on 2,000 samples (a few seconds, once per checkpoint)…"):
        return _space(*common.generator_key(run), str(common.store().root), gen, cfg)


def _labels(cfg: RunConfig, n: int, digit: int | None) -> np.ndarray | None:
    if not cfg.takes_label:
        return None
    return (np.full(n, digit) if digit is not None else np.arange(n) % cfg.num_classes).astype(np.int32)


def _start(cfg: RunConfig, run: Run, key: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The latents (and labels) to move: N_SHOWN samples of a seed, or your digit."""
    yours = your_digit.found_for(run)
    use_yours = yours is not None and st.toggle("Start from your digit (as found on the Your digit tab)",
                                                key=f"{key}_yours")
    if use_yours:
        label = None if yours.label is None else np.array([yours.label], np.int32)
        return np.asarray(yours.z, np.float32).reshape(1, -1), label
    c1, c2 = st.columns([2, 1])
    with c1:
        seed = common.seed_box("Sample seed", f"{key}_seed")
    digit = None
    if cfg.takes_label:
        word = common.label_word(cfg)
        digit = c2.selectbox(word.capitalize(), [None, *range(cfg.num_classes)], key=f"{key}_digit",
                             bind="query-params",
                             format_func=lambda d: f"every {word}" if d is None else str(d))
    return latents(N_SHOWN, cfg.latent_dim, cfg.latent_dist, seed=seed), _labels(cfg, N_SHOWN, digit)


def _quality_table(sp: D.Space, kinds: tuple[str, ...]) -> None:
    rows = [{"direction": d.name, "changes most": d.main, "+ means": D.ATTRIBUTES[d.main],
             "change per unit (σ)": round(d.effect[d.main], 2), "pairs that move that way": f"{d.agrees[d.main]:.0%}",
             "same digit at ±2": "–" if d.holds is None else f"{d.holds:.0%}"} for d in sp.of_kind(*kinds)]
    st.dataframe(rows, hide_index=True, width="stretch")


def directions_tab(gen, cfg: RunConfig, run: Run) -> None:
    st.markdown("Move samples along directions that **mean** something. *Attributes* are measured on each image "
                "(thickness = ink, slant = shear of its moments, width and height = spread of the ink) and "
                "fitted as straight lines in the latent space (InterFaceGAN). *Discovered* directions need no "
                "labels: SeFa takes them from the weights of G's first layer, GANSpace from the principal "
                "components of its first activations.")
    try:
        sp = space(gen, run, cfg)
    except SamplingError as e:
        st.error(f"The directions cannot be fitted: {e}")
        return
    z, labels = _start(cfg, run, "dir")
    st.caption("Amounts are in standard deviations of the samples along each direction: ±2 moves a typical "
               "sample as far as the outer 5 % of samples lie.")
    cols = st.columns(len(sp.attributes))
    steps = []
    for c, name in zip(cols, sp.attributes, strict=True):
        amount = c.slider(name.capitalize(), -3.0, 3.0, 0.0, 0.25, key=f"dir_{name}",
                          bind="query-params", help=f"+ = {D.ATTRIBUTES[name]}")
        steps.append((sp.get(name), amount))
    found = [d.name for d in sp.of_kind(*D.DISCOVERED)]
    extra = st.multiselect("Discovered directions as sliders too", found, key="dir_extra", bind="query-params",
                           format_func=lambda n: f"{n} ({sp.get(n).main})")
    if extra:
        cols = st.columns(max(len(extra), 4))
        for c, name in zip(cols, extra, strict=False):
            steps.append((sp.get(name), c.slider(name, -3.0, 3.0, 0.0, 0.25, key=f"dir_{name}", bind="query-params")))
    moved = D.move(z, cfg, [(d, a) for d, a in steps if a])
    before, after = generate(gen, cfg, z, labels), generate(gen, cfg, moved, labels)
    c1, c2 = st.columns(2)
    scale = common.image_scale(3 if len(z) > 1 else 6)
    with c1:
        common.show_image(to_grid_image(before, min(len(z), 4)), caption="as drawn", scale=scale)
    with c2:
        moves = ", ".join(f"{d.name} {a:+g}" for d, a in steps if a) or "no move yet"
        common.show_image(to_grid_image(after, min(len(z), 4)), caption=moves, scale=scale)
    st.markdown("**How well each works**, tried on 200 other samples moved to −2 and to +2:")
    _quality_table(sp, ("attribute",))
    gallery(gen, cfg, run, sp)


def gallery(gen, cfg: RunConfig, run: Run, sp: D.Space) -> None:
    st.subheader("Discovered directions")
    st.caption("One strip per direction, from −3 to +3, two samples each; + is the way that increases the "
               "attribute it changes most.")
    z = latents(2, cfg.latent_dim, cfg.latent_dist, seed=int(st.session_state.get("dir_seed", 0)) + 11)
    digit = st.session_state.get("dir_digit")
    strips = []
    for d, c in zip(sp.of_kind(*D.DISCOVERED), st.columns(2) * 10, strict=False):
        images = D.strip(gen, cfg, z, d, AMOUNTS, digit)
        strips.append(images)
        with c:
            common.show_image(to_grid_image(images, len(AMOUNTS)), scale=common.image_scale(2),
                              caption=f"{d.name}: {d.main} {d.effect[d.main]:+.2f}σ per unit "
                                      f"({D.ATTRIBUTES[d.main]})")
    _quality_table(sp, D.DISCOVERED)
    st.download_button("Download the gallery (PNG)", png_bytes(to_grid_image(np.concatenate(strips), len(AMOUNTS),
                                                                             scale=2)),
                       file_name=f"{run.id}-directions.png", mime="image/png", key="dir_dl")


# -- dissection ---------------------------------------------------------------------------------------------
@st.cache_resource(max_entries=4, show_spinner=False)
def _split(path: str, mtime_ns: int, layer: str, _gen) -> X.Split:
    return X.split(_gen, layer)


def _set_off(channels: list[int]) -> None:
    st.session_state["dx_off"] = sorted(set(st.session_state.get("dx_off", [])) | set(channels))


def _ranking_table(r: X.Ranking, k: int, key: str) -> None:
    top = r.top(k)
    st.dataframe([{"channel": c, r.what: float(r.score[c]), r.other_what: float(r.other[c])} for c in top],
                 hide_index=True, width="stretch", column_config={
                     name: st.column_config.NumberColumn(format="percent")
                     for name in (r.what, r.other_what)})
    st.button(f"Switch these {len(top)} off", key=key, on_click=_set_off, args=(top,))


def dissect_tab(gen, cfg: RunConfig, run: Run) -> None:
    st.markdown("Which parts of the generator draw what? Pick a layer of G, switch some of its channels off "
                "(or amplify them) and watch the samples change; or let the channels be ranked.")
    options = X.dissectable(gen)
    if not options:
        st.info("This generator has no layer to dissect.")
        return
    shapes = dict(options)
    layer = st.selectbox("Layer", list(shapes), key="dx_layer",
                         bind="query-params", format_func=lambda n: X.describe(n, shapes[n]))
    try:
        s = _split(*common.generator_key(run), layer, gen)
    except SamplingError as e:
        st.error(str(e))
        return
    z, labels = _start(cfg, run, "dx")
    acts = X.activations(s, cfg, z, labels)
    channels = list(range(s.channels))
    st.session_state["dx_off"] = [c for c in st.session_state.get("dx_off", []) if c < s.channels]
    c1, c2, c3 = st.columns([2, 2, 1])
    off = c1.multiselect("Switch off", channels, key="dx_off", bind="query-params")
    amp = c2.multiselect("Amplify", channels, key="dx_amp", bind="query-params")
    gain = c3.slider("by", 0.0, 6.0, 3.0, 0.5, key="dx_gain", bind="query-params", disabled=not amp)
    edited = X.edited(s, acts, off, {c: gain for c in amp})
    c1, c2 = st.columns(2)
    scale = common.image_scale(3 if len(z) > 1 else 6)
    before = X.render(s, cfg, acts)
    with c1:
        common.show_image(to_grid_image(before, min(len(z), 4)), caption="as drawn", scale=scale)
    with c2:
        what = ", ".join(filter(None, [f"{len(off)} off" if off else "", f"{len(amp)} ×{gain:g}" if amp else ""]))
        common.show_image(to_grid_image(X.render(s, cfg, edited), min(len(z), 4)),
                          caption=what or "no channel changed yet", scale=scale)
    how = st.segmented_control("Rank the channels", ["Effect on these samples", "Paint a stroke",
                                                     "Evaluator's reading"], key="dx_rank")
    if how == "Effect on these samples":
        with st.spinner(f"Switching each of {s.channels} channels off…"):
            _ranking_table(X.effect(s, cfg, acts), 12, "dx_off_effect")
    elif how == "Paint a stroke":
        _paint(s, cfg, acts, before)
    elif how == "Evaluator's reading":
        _reading(s, cfg, acts)


def _paint(s: X.Split, cfg: RunConfig, acts: np.ndarray, before: np.ndarray) -> None:
    from PIL import Image
    from streamlit_drawable_canvas import st_canvas

    k = int(st.number_input("Sample to paint on", 1, len(acts), 1, key="dx_pick", bind="query-params",
                            help="Counted row by row from the top left.")) - 1
    size = before.shape[1] * CANVAS_SCALE
    st.caption("Paint over the stroke you are asking about; the channels are ranked by the ink that disappears "
               "there when each is switched off.")
    result = st_canvas(stroke_width=18, stroke_color=PAINT, background_color="#000000", height=size, width=size,
                       initial_drawing=_backdrop(before[k], size), drawing_mode="freedraw", key=f"dx_canvas_{k}",
                       display_toolbar=True)
    pixels = getattr(result, "image_data", None)
    # The sample is grey (r = g = b): what is painted is where red stands out.
    red = None if pixels is None else np.asarray(pixels, np.int16)
    painted = red is not None and np.any(red[..., 0] - red[..., 1] > 60)
    if not painted:
        st.info("Paint a region on the sample to rank the channels that draw it.")
        return
    share = Image.fromarray(((red[..., 0] - red[..., 1] > 60) * 255).astype(np.uint8)).resize(
        before.shape[1:][::-1], Image.BOX)
    mask = np.asarray(share) > 64
    if not mask.any():
        st.info("The painted region is too thin to cover a pixel: paint a wider stroke.")
        return
    _ranking_table(X.region(s, cfg, acts[k:k + 1], mask), 10, "dx_off_region")


def _backdrop(image: np.ndarray, size: int) -> dict:
    """The canvas's starting drawing: the sample, upscaled, as a fixed picture to paint over."""
    import base64

    from PIL import Image

    big = Image.fromarray(image).resize((size, size), Image.NEAREST)
    src = "data:image/png;base64," + base64.b64encode(png_bytes(big)).decode()
    return {"version": "4.4.0", "objects": [{"type": "image", "src": src, "left": 0, "top": 0, "width": size,
                                             "height": size, "selectable": False, "evented": False}]}


def _reading(s: X.Split, cfg: RunConfig, acts: np.ndarray) -> None:
    from gandash.quality.evaluate import reader

    read = reader(cfg.dataset, common.store().root)
    if read is None:
        st.info("This needs the dataset's evaluator, which is not ready (a custom dataset has none).")
        return
    if not st.button(f"Rank the {s.channels} channels by the evaluator's reading", key="dx_read_go"):
        if "dx_reading" in st.session_state and st.session_state["dx_reading"][0] == (s.layer, acts.shape):
            _ranking_table(st.session_state["dx_reading"][1], 10, "dx_off_reading")
        return
    with st.spinner(f"Reading {len(acts) * s.channels:,} samples with one channel off…"):
        ranking = X.reading(s, cfg, acts, read)
    st.session_state["dx_reading"] = ((s.layer, acts.shape), ranking)
    _ranking_table(ranking, 10, "dx_off_reading")
