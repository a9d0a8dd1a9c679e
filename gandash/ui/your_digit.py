"""Explore's "Your digit" and "Latent map" tabs: bring a digit, find it in latent space, tour the
space around it, map the plane of latents, and check a sample against its nearest training images."""
from __future__ import annotations

import numpy as np
import streamlit as st

from gandash.config import RunConfig
from gandash.engine.data import DataError, load_builtin
from gandash.explore import inversion as inv
from gandash.explore import plots
from gandash.explore.images import gif_bytes, tinted_grid, to_grid_image
from gandash.explore.sampling import SamplingError, generate, interpolate, latents
from gandash.store.runs import Run
from gandash.ui import common

SOURCES = ("Draw", "From the test split", "Upload")
CANVAS = 280
FOUND = "yd_found"


# -- data and models, cached across reruns --------------------------------------------------------------
@st.cache_resource(show_spinner=False, max_entries=2)
def _split(dataset: str, split: str):
    return load_builtin(dataset, split)


def _evaluator(cfg: RunConfig):
    """The runs folder's evaluator for this dataset, or None (it is never trained from here)."""
    if cfg.dataset == "custom":
        return None
    from gandash.quality.evaluator import load_cached

    return load_cached(cfg.dataset, common.store().root)


@st.cache_resource(show_spinner=False, max_entries=2)
def _feature_index(dataset: str, evaluator_sha: str, runs_root: str) -> inv.NearestIndex:
    """The training images' evaluator features, searchable; computed once per evaluator."""
    from gandash.quality import evaluate

    return inv.NearestIndex(evaluate.features(_split(dataset, "train").images, dataset, runs_root))


@st.cache_resource(show_spinner=False, max_entries=2)
def _pixel_index(dataset: str) -> inv.NearestIndex:
    """The training images' pixels in [0, 1], searchable; computed once per dataset."""
    return inv.NearestIndex(_split(dataset, "train").images, scale=1 / 255)


def _reads(cfg: RunConfig, images: np.ndarray) -> list[str]:
    """What the evaluator reads in each image ("7, 98 %"), or nothing when there is no evaluator."""
    if _evaluator(cfg) is None:
        return []
    from gandash.quality import evaluate

    probs = evaluate.classify(images, cfg.dataset, common.store().root)
    return [f"{int(p.argmax())} ({p.max():.0%} sure)" for p in probs]


def _label_choice(cfg: RunConfig, key: str, *, search: bool, default: int = 0) -> int | None:
    word = "digit" if cfg.is_conditional else "code"
    options = ([None] if search else []) + list(range(cfg.num_classes))
    return st.selectbox(word.capitalize(), options, key=key, index=0 if search else default,
                        format_func=lambda v: f"search every {word}" if v is None else str(v),
                        help=f"The {word} the generator is given. Left to search, inversion tries each "
                             f"and keeps the closest.")


def found_for(run: Run) -> inv.Inversion | None:
    """The vector Find it found for this run's current generator, if any: other tabs offer it as a point."""
    found = st.session_state.get(FOUND)
    return found["result"] if found and found["generator"] == common.generator_key(run) else None


# -- your digit ---------------------------------------------------------------------------------------------
def digit_tab(gen, cfg: RunConfig, run: Run) -> None:
    st.markdown("Bring your own digit: draw it, take one from the test split, or upload an image. "
                "**Find it** searches the latent space for the vector whose image is closest to it.")
    source = st.segmented_control("Your digit", SOURCES, default=SOURCES[0], key="yd_source", bind="query-params")
    c1, c2 = st.columns([3, 2])
    with c1:
        gray, truth = _pick(source or SOURCES[0], cfg)
    digit = None
    with c2:
        if gray is not None:
            try:
                digit = inv.prepare_digit(gray)
            except inv.InversionError as e:
                st.warning(str(e))
        if digit is not None:
            common.show_image(to_grid_image(digit[None], 1, pad=0), scale=6,
                              caption="As the network sees it: 28 × 28, the ink in a 20 × 20 box, centred by "
                                      "its mass" + (f" (labelled {truth})" if truth is not None else ""))
    label = _label_choice(cfg, "yd_label", search=True) if cfg.takes_label else None
    if st.button("Find it", type="primary", icon=":material/search:", key="yd_find", disabled=digit is None):
        _find(gen, cfg, run, digit, label)
    if found_for(run) is None:
        return
    _show_found(cfg, st.session_state[FOUND])
    _tours(gen, cfg, run, found_for(run))


def _pick(source: str, cfg: RunConfig) -> tuple[np.ndarray | None, int | None]:
    """The chosen digit's grey levels (white on black) and its true label when known."""
    if source == "Draw":
        from streamlit_drawable_canvas import st_canvas

        st.caption("Draw one digit with the mouse, large, in the middle. The bin icon clears it.")
        result = st_canvas(stroke_width=22, stroke_color="#ffffff", background_color="#000000", height=CANVAS,
                           width=CANVAS, drawing_mode="freedraw", key="yd_canvas", display_toolbar=True)
        pixels = getattr(result, "image_data", None)
        if pixels is None or not np.any(np.asarray(pixels)[..., :3] > 40):
            st.info("The canvas is empty: draw a digit on it.")
            return None, None
        return inv.to_gray(np.asarray(pixels)), None
    if source == "Upload":
        up = st.file_uploader("An image of one digit", type=["png", "jpg", "jpeg", "bmp", "gif", "webp"],
                              key="yd_upload", help="Any size up to 4096 × 4096; dark on light or light on dark.")
        if up is None:
            return None, None
        try:
            return inv.read_image(up.getvalue()), None
        except inv.InversionError as e:
            st.error(common.plain(f"{up.name}: {e}"))
            return None, None
    dataset = cfg.dataset if cfg.dataset != "custom" else "mnist"
    try:
        test = _split(dataset, "test")
    except DataError as e:
        st.error(f"The test split cannot be read: {e}")
        return None, None
    i = int(st.number_input(f"Test image (0–{len(test) - 1:,})", 0, len(test) - 1, 0, key="yd_index",
                            bind="query-params"))
    truth = None if test.labels is None else int(test.labels[i])
    common.show_image(to_grid_image(test.images[i][None], 1, pad=0), scale=4, caption=f"test image {i:,}")
    return test.images[i].astype(np.float32), truth


def _find(gen, cfg: RunConfig, run: Run, digit: np.ndarray, label: int | None) -> None:
    bar = st.progress(0.0, text="Searching…")
    try:
        result = inv.invert(gen, cfg, digit, label, _evaluator(cfg),
                            progress=lambda f, msg: bar.progress(min(1.0, f), text=msg))
    except (inv.InversionError, SamplingError) as e:
        bar.empty()
        st.error(f"Cannot find it: {e}")
        return
    bar.empty()
    st.session_state[FOUND] = {"generator": common.generator_key(run), "target": digit, "result": result}


def _show_found(cfg: RunConfig, found: dict) -> None:
    result: inv.Inversion = found["result"]
    st.subheader("Found")
    reads = _reads(cfg, np.stack([found["target"], inv.resized(result.image, 28)]))
    c = st.columns(4)
    with c[0]:
        common.show_image(to_grid_image(found["target"][None], 1, pad=0), scale=4, caption="your digit")
    with c[1]:
        common.show_image(to_grid_image(result.image[None], 1, pad=0), scale=4, caption="what G draws from z")
    c[2].metric("Distance", f"{result.distance:.3f}", help="Mean absolute pixel difference, from 0 (the same "
                "image) to 1 (white where the other is black). Under 0.05 is a near copy.")
    c[2].caption(f"found in {result.seconds:.1f} s"
                 + ("" if result.label is None else f", as {'digit' if cfg.is_conditional else 'code'} "
                                                    f"{result.label}"))
    if reads:
        c[3].markdown(f"The evaluator reads  \n**your digit:** {reads[0]}  \n**the reconstruction:** {reads[1]}")
    else:
        c[3].caption("The evaluator is not trained for this runs folder, so inversion matched pixels only "
                     "(train it from the Train page's quality section).")


def _tours(gen, cfg: RunConfig, run: Run, result: inv.Inversion) -> None:
    """The found vector used as any other point: a path to a sample, a walk, every digit or code."""
    from gandash.explore import morph

    st.subheader("From your digit")
    label = result.label
    labels = (lambda n: np.full(n, label, np.int32)) if cfg.takes_label else (lambda n: None)
    c = st.columns(4)
    seed = int(c[0].number_input("To the sample of seed", 0, 2**31 - 1, 0, key="yd_to_seed", bind="query-params"))
    method = c[1].radio("Path", ["slerp", "lerp"], key="yd_method", bind="query-params", horizontal=True)
    steps = c[2].slider("Steps", 3, 24, 10, key="yd_steps", bind="query-params")
    other = latents(1, cfg.latent_dim, cfg.latent_dist, seed=seed)[0]
    frames = generate(gen, cfg, interpolate(result.z, other, steps, method), labels(steps))
    common.show_image(to_grid_image(frames, steps), scale=common.image_scale(3),
                      caption=f"{method} from your digit to the sample of seed {seed}")
    pics = [common.styled(to_grid_image(f[None], 1, pad=0), common.image_scale(3)) for f in frames]
    c[3].download_button("Download as GIF", gif_bytes(pics, duration_ms=120, boomerang=True),
                         file_name=f"{run.id}-your-digit-to-{seed}.gif", mime="image/gif", key="yd_gif",
                         icon=":material/movie:")

    c = st.columns([1, 3])
    dseed = int(c[0].number_input("Walk: direction seed", 0, 2**31 - 1, 1, key="yd_dir", bind="query-params"))
    alphas = np.linspace(-3, 3, 9)
    walk = morph.walk(gen, cfg, result.z, morph.random_direction(cfg.latent_dim, dseed), alphas, label)
    with c[1]:
        common.show_image(to_grid_image(walk, 9), scale=common.image_scale(3),
                          caption="your digit (middle) moved along one direction, −3 … +3")
    if cfg.takes_label:
        word = "digit" if cfg.is_conditional else "code"
        every = generate(gen, cfg, np.repeat(result.z[None], cfg.num_classes, axis=0),
                         np.arange(cfg.num_classes, dtype=np.int32))
        common.show_image(to_grid_image(every, cfg.num_classes), scale=common.image_scale(3),
                          caption=f"your style as every {word}: the same z with {word}s 0–{cfg.num_classes - 1}")
    copying_section(cfg, result.image, key="yd_nn", what="the reconstruction")


# -- is it copying? -------------------------------------------------------------------------------------------
def copying_section(cfg: RunConfig, image: np.ndarray, *, key: str, what: str = "this sample") -> None:
    """A sample's 3 nearest training images, in the evaluator's features and in pixels, with distances."""
    if cfg.dataset == "custom":
        return
    with st.expander(f"Is it copying? The training images nearest to {what}"):
        if not st.toggle("Search the training set", key=key, help="The first search reads the 60,000 training "
                         "images (and their features, when the evaluator is trained): a few seconds."):
            return
        train = _split(cfg.dataset, "train")
        q = inv.resized(image, 28)
        rows = []
        evaluator = _evaluator(cfg)
        if evaluator is not None:
            from gandash.quality import evaluate
            from gandash.quality.evaluator import read_info

            sha = str(read_info(cfg.dataset, common.store().root).get("sha256"))
            with st.spinner("Reading the training set's features…"):
                index = _feature_index(cfg.dataset, sha, str(common.store().root))
            f = evaluate.features(q[None], cfg.dataset, common.store().root)[0]
            rows.append(("in the evaluator's features", *index.nearest(f)))
        rows.append(("in pixels", *_pixel_index(cfg.dataset).nearest(q.astype(np.float32) / 255.0)))
        for name, idx, dist in rows:
            found = ", ".join(f"#{int(i):,}" + ("" if train.labels is None else f" (a {int(train.labels[i])})")
                              + f" at {d:.2f}" for i, d in zip(idx, dist))
            st.markdown(f"**Nearest {name}**")
            common.show_image(to_grid_image(np.stack([q, *train.images[idx]]), 4, pad=4), scale=3)
            st.caption(f"{what.capitalize()}, then training images {found} (Euclidean distance)")
        st.caption("A GAN that memorised would show a near twin here (pixel distance near 0); one that "
                   "learned the digits shows relatives: the same digit, written differently.")


# -- a map of the space ----------------------------------------------------------------------------------------
MAP_PLANES = ("Around one point, along two random directions", "Through three points")


def map_tab(gen, cfg: RunConfig, run: Run) -> None:
    st.markdown("A grid of latents over a plane, drawn as one image. Click a cell to open it.")
    yours = found_for(run)
    c = st.columns(4)
    plane_kind = c[0].radio("Plane", MAP_PLANES, key="mp_plane", bind="query-params")
    n = c[1].slider("Cells per side", 5, inv.MAP_MAX, 11, 2, key="mp_n", bind="query-params")
    span = c[2].slider("Span", 1.0, 16.0, 8.0, 1.0, key="mp_span",
                       bind="query-params", disabled=plane_kind != MAP_PLANES[0],
                       help="How far the map reaches along each (unit) direction from the centre point; a "
                            f"latent's own length is about {np.sqrt(cfg.latent_dim):.0f}.")
    dseed = int(c[3].number_input("Direction seed", 0, 2**31 - 1, 0, key="mp_dseed", bind="query-params"))
    names = (["your digit"] if yours is not None else []) + ["a seed"]
    points = []
    count = 1 if plane_kind == MAP_PLANES[0] else 3
    cols = st.columns(count + (1 if cfg.takes_label else 0))
    for k in range(count):
        with cols[k]:
            kind = st.selectbox(f"Point {'ABC'[k]}", names, key=f"mp_kind{k}",
                                index=0 if k == 0 or yours is None else len(names) - 1)
            if kind == "your digit":
                points.append(yours.z)
            else:
                s = int(st.number_input(f"Seed of point {'ABC'[k]}", 0, 2**31 - 1, k * 11, key=f"mp_seed{k}"))
                points.append(latents(1, cfg.latent_dim, cfg.latent_dist, seed=s)[0])
    label = None
    if cfg.takes_label:
        with cols[-1]:
            label = _label_choice(cfg, "mp_label", search=False,
                                  default=yours.label if yours is not None and yours.label is not None else 0)
    try:
        images, zs = inv.latent_map(gen, cfg, points, n, label, span, dseed)
    except (inv.InversionError, SamplingError) as e:
        st.warning(str(e))
        return
    scorer = _evaluator(cfg)
    overlay = st.toggle("Colour each cell by the digit the evaluator reads", key="mp_overlay", bind="query-params",
                        disabled=scorer is None,
                        help=None if scorer is not None else "Needs the evaluator of this runs folder.")
    digits = None
    if overlay and scorer is not None:
        from gandash.quality import evaluate

        digits = evaluate.classify(images, cfg.dataset, common.store().root).argmax(axis=1).tolist()
    scale = max(2, 1176 // (n * (images.shape[1] + 2)))
    img = tinted_grid(images, n, None if digits is None else [plots.PALETTE[d] for d in digits], scale=scale)
    fig = plots.latent_map_figure(img, n, digits=digits, big=common.presenting())
    event = st.plotly_chart(fig, key="mp_chart", on_select="rerun", selection_mode="points",
                            theme=None, config={"displaylogo": False, "displayModeBar": False},
                            width="stretch" if common.presenting() else "content")
    picked = [p.get("customdata", p.get("point_index")) for p in (event.selection.points if event else [])]
    if picked and picked[0] is not None:
        i = int(picked[0] if not isinstance(picked[0], list) else picked[0][0])
        _open_cell(cfg, images[i], zs[i], i, n)


def _open_cell(cfg: RunConfig, image: np.ndarray, z: np.ndarray, i: int, n: int) -> None:
    r, c = divmod(i, n)
    st.subheader(f"Cell at row {r + 1}, column {c + 1}")
    c1, c2 = st.columns([1, 3])
    with c1:
        common.show_image(to_grid_image(image[None], 1, pad=0), scale=6)
    with c2:
        reads = _reads(cfg, image[None])
        if reads:
            st.markdown(f"The evaluator reads **{reads[0]}**.")
        st.caption(f"|z| = {np.linalg.norm(z):.2f}")
        st.download_button("Download z (.npy)", _npy(z), file_name=f"cell-{r + 1}-{c + 1}.npy", key="mp_dl_z")
    copying_section(cfg, image, key="mp_nn", what="this cell")


def _npy(z: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, z)
    return buf.getvalue()
