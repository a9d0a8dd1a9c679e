"""Explore one checkpoint: samples, latent interpolation, per-digit grids, class morphing, walks, latent
directions, dissection, the discriminator's view and the real-or-generated game."""
from __future__ import annotations

import numpy as np
import streamlit as st

from gandash.config import RunConfig
from gandash.explore import morph, plots
from gandash.explore.images import gif_bytes, png_bytes, to_grid_image
from gandash.explore.sampling import SamplingError, generate, interpolate, latents, sample
from gandash.store.runs import Run, RunError
from gandash.ui import common, discriminator_panel, latent_panel, quality, your_digit

N_CANDIDATES = 16
DISCRIMINATOR_TAB, GAME_TAB = "Discriminator's view", "Real or generated?"


def render() -> None:
    if not common.presenting():
        st.title("Explore")
    all_runs = common.store().list()
    runs = [r for r in all_runs if r.generator_path.exists()]
    if not runs and not st.query_params.get("run"):
        st.info("No run has saved a generator yet. Runs save one at every checkpoint "
                "(`checkpoint_every` steps); start one on the Train page.")
        return
    run = common.pick_run(runs or all_runs)
    if run is None:
        return
    try:
        cfg = run.config()
    except RunError as e:
        st.error(str(e))
        return
    if not run.generator_path.exists():
        st.info(f"Run {run.id} has not saved a generator yet: it writes one at its first checkpoint "
                f"(every {cfg.checkpoint_every} steps).")
        return
    try:
        with st.spinner("Loading the generator…"):
            gen = common.load_generator(run)
    except (SamplingError, OSError) as e:
        st.error(f"The generator of run {run.id} cannot be loaded: {e}")
        return
    step = int(run.status().get("step") or 0)
    st.caption(f"{cfg.architecture} on {cfg.dataset}, latent {cfg.latent_dim}-d {cfg.latent_dist}. "
               f"Generator of the latest checkpoint (the run is at step {step:,}); "
               "a newer checkpoint is picked up automatically.")
    # The discriminator's tabs load D and score a thousand images: they run only while open.
    tabs = st.tabs(["Samples", "Your digit", "Interpolation", "Per digit", "Latent walk", "Latent map",
                    "Directions", "Dissect", DISCRIMINATOR_TAB, GAME_TAB], key="tab", bind="query-params")
    with tabs[0]:
        samples_tab(gen, cfg, run)
    with tabs[1]:
        if tabs[1].open:
            your_digit.digit_tab(gen, cfg, run)
    with tabs[2]:
        interpolation_tab(gen, cfg, run)
    with tabs[3]:
        digits_tab(gen, cfg, run)
    with tabs[4]:
        walk_tab(gen, cfg, run)
    with tabs[5]:
        if tabs[5].open:
            your_digit.map_tab(gen, cfg, run)
    with tabs[6]:
        if tabs[6].open:
            latent_panel.directions_tab(gen, cfg, run)
    with tabs[7]:
        if tabs[7].open:
            latent_panel.dissect_tab(gen, cfg, run)
    with tabs[8]:
        if tabs[8].open:
            discriminator_panel.view_section(run, cfg, gen, key="ex_dv")
    with tabs[9]:
        if tabs[9].open:
            discriminator_panel.game(run, cfg, gen)


def _show(images: np.ndarray, cols: int, caption: str | None = None, scale: int | None = None):
    img = to_grid_image(images, cols)
    common.show_image(img, caption=caption, scale=scale)
    return img


def samples_tab(gen, cfg: RunConfig, run: Run) -> None:
    c1, c2 = st.columns(2)
    with c1:
        seed = common.seed_box("Seed", "ex_seed")
    n = c2.select_slider("How many", [16, 36, 64, 100], value=100 if cfg.takes_label else 64, key="ex_n",
                         bind="query-params")
    cols = 10 if cfg.takes_label else int(np.sqrt(n))
    images, _ = sample(gen, cfg, n, seed=seed)
    caption = None
    if cfg.takes_label:
        caption = ("columns are digits 0–9" if cfg.is_conditional
                   else "columns are codes 0–9 (what each code shows, the model chose)")
    img = _show(images, cols, caption)
    st.download_button("Download (PNG)", png_bytes(common.styled(img, common.image_scale())),
                       file_name=f"{run.id}-seed{seed}.png", mime="image/png", key="dl_samples")
    k = int(st.number_input("Sample to check against the training set", 1, n, 1, key="ex_nn_pick", bind="query-params",
                            help="Counted row by row from the top left."))
    your_digit.copying_section(cfg, images[k - 1], key="ex_nn", what=f"sample {k}")


def interpolation_tab(gen, cfg: RunConfig, run: Run) -> None:
    yours = your_digit.found_for(run)
    st.markdown("Pick two endpoints from these candidates, then the path between them."
                + (" *Your digit* (from the Your digit tab) is one of them." if yours is not None else ""))
    cseed = common.seed_box("Candidate seed", "ip_seed")
    z = latents(N_CANDIDATES, cfg.latent_dim, cfg.latent_dist, seed=cseed + 7)
    label = common.label_box(cfg, st, "ip_digit")
    labels = np.full(N_CANDIDATES, label or 0, np.int32) if cfg.takes_label else None
    cand = generate(gen, cfg, z, labels)
    cols = st.columns(8)
    for i, im in enumerate(cand):
        cols[i % 8].image(common.styled(to_grid_image(im[None], 1, pad=0), 2), caption=f"#{i + 1}")
    names = {i: f"#{i + 1}" for i in range(N_CANDIDATES)}
    if yours is not None:  # your digit, as found: one more endpoint
        z = np.concatenate([z, yours.z[None]])
        names[N_CANDIDATES] = "your digit"
    c = st.columns(4)
    a = c[0].selectbox("From", list(names), format_func=names.get, key="ip_a", bind="query-params")
    b = c[1].selectbox("To", list(names), index=N_CANDIDATES - 1, format_func=names.get, key="ip_b",
                       bind="query-params")
    method = c[2].radio("Path", ["slerp", "lerp"], key="ip_method", bind="query-params", horizontal=True,
                        help="slerp follows the sphere where Gaussian latents live; lerp is a straight line.")
    steps = c[3].slider("Steps", 3, 24, 10, key="ip_steps", bind="query-params")
    path = interpolate(z[a], z[b], steps, method)
    frames = generate(gen, cfg, path, np.full(steps, label or 0, np.int32) if cfg.takes_label else None)
    _show(frames, steps, f"{method} from {names[a]} to {names[b]}, {steps} steps",
          scale=common.image_scale(3))
    _gif_button(frames, f"{run.id}-{method}-{names[a]}-{names[b]}.gif".replace("#", "").replace(" ", "-"), "ip")


def _gif_button(frames: np.ndarray, name: str, key: str) -> None:
    scale = common.image_scale(3)
    pics = [common.styled(to_grid_image(f[None], 1, pad=0), scale) for f in frames]
    data = gif_bytes(pics, duration_ms=120, boomerang=True)
    c1, c2 = st.columns(2)
    c1.download_button("Download as GIF", data, file_name=name, mime="image/gif", key=f"{key}_gif",
                       icon=":material/movie:")
    if c2.toggle("Play as animation", key=f"{key}_play"):
        st.image(data)


def digits_tab(gen, cfg: RunConfig, run: Run) -> None:
    if cfg.takes_label:
        conditional_digits(gen, cfg, run)
        class_morph(run, cfg)
    if not cfg.is_conditional:
        if cfg.takes_label:
            st.subheader("What the evaluator sees")
        bucketed_digits(gen, cfg, run)


def conditional_digits(gen, cfg: RunConfig, run: Run) -> None:
    word = common.label_word(cfg)
    if not cfg.is_conditional:
        st.markdown("This model was given a latent code (InfoGAN): each code is one kind of image it "
                    "learned to make, without being told the digits.")
    c1, c2 = st.columns([3, 1])
    digits = c1.pills(f"{word.capitalize()}s", list(range(10)), selection_mode="multi", default=list(range(10)),
                      key="dg_digits")
    n = c2.number_input(f"Per {word}", 1, 20, 8, key="dg_n", bind="query-params")
    if not digits:
        st.info(f"Choose at least one {word}.")
        return
    seed = int(st.session_state.get("ex_seed", 0))
    z = latents(n, cfg.latent_dim, cfg.latent_dist, seed=seed)
    rows = [generate(gen, cfg, z, np.full(n, d, np.int32)) for d in sorted(digits)]
    _show(np.concatenate(rows), n, f"one row per {word}, the same noise in each column")


def class_morph(run: Run, cfg: RunConfig) -> None:
    word = common.label_word(cfg)
    st.subheader("Class morphing" if cfg.is_conditional else "Code morphing")
    st.caption(f"The same noise z while the {word} moves from one to another.")
    c = st.columns(4)
    a = c[0].selectbox(f"From {word}", list(range(10)), index=1, key="mo_a", bind="query-params")
    b = c[1].selectbox(f"To {word}", list(range(10)), index=7, key="mo_b", bind="query-params")
    steps = c[2].slider("Steps", 2, 24, 10, key="mo_steps", bind="query-params")
    zseed = int(c[3].number_input("Noise seed", 0, 2**31 - 1, 0, key="mo_seed", bind="query-params"))
    z = latents(1, cfg.latent_dim, cfg.latent_dist, seed=zseed)[0]
    try:
        frames = morph.class_morph(common.morph_parts(run), cfg, z, a, b, steps)
    except SamplingError as e:
        st.error(str(e))
        return
    _show(frames, steps, f"{a} → {b}", scale=common.image_scale(3))
    _gif_button(frames, f"{run.id}-morph-{a}-{b}.gif", "mo")


def bucketed_digits(gen, cfg: RunConfig, run: Run) -> None:
    st.markdown("This model is unconditional: generated samples are sorted by what the evaluator "
                "classifier thinks they show." + (" Every code makes the same number of samples, as "
                                                   "it does on average in training." if cfg.takes_label else ""))
    if not quality.evaluator_notice(cfg.dataset, "explore"):
        return
    c1, c2 = st.columns(2)
    n = c1.select_slider("Samples to classify", [200, 500, 1000, 2000, 5000], value=1000, key="bk_n",
                         bind="query-params")
    per = c2.number_input("Shown per digit", 1, 16, 8, key="bk_per", bind="query-params")
    if not st.button("Generate and classify", key="bk_go", icon=":material/category:"):
        if st.session_state.get("bk_result", (None,))[0] != common.generator_key(run):
            return
    else:
        bar = st.progress(0.0, text="Generating…")
        images, codes = sample(gen, cfg, n, seed=int(st.session_state.get("ex_seed", 0)))
        bar.progress(0.5, text="Classifying…")
        try:
            probs = np.asarray(common.evaluator().classify(images, cfg.dataset, common.store().root))
        except Exception as e:  # noqa: BLE001 - the evaluator is optional; say what went wrong
            bar.empty()
            st.error(f"Classifying failed: {e}")
            return
        bar.empty()
        st.session_state["bk_result"] = (common.generator_key(run), images, probs.argmax(axis=1), codes)
    _, images, pred, codes = st.session_state["bk_result"]  # only ever this checkpoint's result
    counts = np.bincount(pred, minlength=10)
    common.chart(plots.digit_histogram_figure(counts, big=common.presenting()), key="bk_hist")
    if codes is not None:
        common.chart(plots.code_digit_figure(codes, pred, num_codes=cfg.num_classes, big=common.presenting()),
                     key="bk_codes")
        st.caption("Each code should settle on one digit. Two codes on one digit, or one code spread over "
                   "several, leave some digit short in the histogram above.")
    rows = []
    for d in range(10):
        pick = images[pred == d][:per]
        pad = np.zeros((per - len(pick), *images.shape[1:]), np.uint8)
        rows.append(np.concatenate([pick, pad]))
    _show(np.concatenate(rows), per, "row k: samples classified as digit k (black = none)")


def walk_tab(gen, cfg: RunConfig, run: Run) -> None:
    st.markdown("Move one sample along a random direction in latent space.")
    yours = your_digit.found_for(run)
    if yours is not None:
        from_yours = st.toggle("Start from your digit (as found on the Your digit tab)", key="wk_yours")
    c = st.columns(3)
    zseed = int(c[0].number_input("Start seed", 0, 2**31 - 1, 0, key="wk_z", bind="query-params",
                                  disabled=yours is not None and from_yours))
    dseed = int(c[1].number_input("Direction seed", 0, 2**31 - 1, 1, key="wk_d", bind="query-params"))
    label = common.label_box(cfg, c[2], "wk_digit")
    alpha = st.slider("Position along the direction", -4.0, 4.0, 0.0, 0.25, key="wk_alpha", bind="query-params")
    z0 = yours.z if yours is not None and from_yours else latents(1, cfg.latent_dim, cfg.latent_dist, seed=zseed)[0]
    d = morph.random_direction(cfg.latent_dim, dseed)
    strip = np.linspace(-4, 4, 9)
    images = morph.walk(gen, cfg, z0, d, [alpha, *strip], label)
    c1, c2 = st.columns([1, 4])
    with c1:
        _show(images[:1], 1, f"position {alpha:+.2f}", scale=common.image_scale(4))
    with c2:
        _show(images[1:], 9, "positions −4 … +4", scale=common.image_scale(3))
