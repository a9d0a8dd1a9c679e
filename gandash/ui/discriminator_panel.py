"""The discriminator's view on Explore and Monitor, and the real-or-generated game."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from gandash.explore import discriminator as D
from gandash.explore import plots
from gandash.explore.images import heat_overlay, to_grid_image
from gandash.store.runs import Run, RunError
from gandash.ui import common

VIEW_N = 512  # images of each kind D scores for the view


@st.cache_resource(max_entries=4, show_spinner=False)
def _discriminator(run_dir: str, mtime_ns: int):
    return D.load_discriminator(Run(Path(run_dir)))


def discriminator(run: Run):
    """The run's discriminator at its latest checkpoint, cached until a newer checkpoint is written."""
    return _discriminator(str(run.dir), run.checkpoint_path.stat().st_mtime_ns)


def current_view(run: Run, gen, seed: int = 0) -> D.View:
    """The view of the latest checkpoint, computed once per checkpoint and seed in this session."""
    key = (run.id, run.checkpoint_path.stat().st_mtime_ns, common.generator_key(run), seed)
    cached = st.session_state.get("d_view")
    if not cached or cached[0] != key:
        with st.spinner(f"The discriminator scores {VIEW_N} real and {VIEW_N} generated images…"):
            st.session_state["d_view"] = (key, D.view(run, gen, discriminator(run), n=VIEW_N, seed=seed))
    return st.session_state["d_view"][1]


def _view_or_message(run: Run, gen) -> D.View | None:
    """The view, or None after saying why there is none (no checkpoint yet, or one that cannot be read)."""
    if not run.checkpoint_path.exists():
        st.info("The discriminator is saved with each checkpoint; this run has none yet.")
        return None
    try:
        return current_view(run, gen)
    except (D.DiscriminatorError, RunError, OSError, ValueError) as e:
        st.error(f"Cannot score with the discriminator: {e}")
        return None


def view_section(run: Run, cfg, gen, *, key: str = "dv") -> None:
    """Histograms of D's scores with their overlap, the extremes, where D looks, and its class head."""
    v = _view_or_message(run, gen)
    if v is None:
        return
    big = common.presenting()
    left, right = st.columns([3, 1], vertical_alignment="center")
    common.chart(plots.score_histogram_figure(v.real_scores, v.fake_scores, v.overlap, critic=v.critic, big=big),
                 f"{key}_hist", left)
    right.metric("Overlap of real and generated", f"{v.overlap:.0%}",
                 help="Share of the two score histograms that coincide: 100 % = D cannot tell generated images "
                      "from real ones (the generator wins); 0 % = D separates them completely.")
    called = (v.fake_scores < 0).mean() if not v.critic else float("nan")
    if not v.critic:
        right.metric("Generated images D calls fake", f"{called:.0%}")
    right.caption("Samples come from the generator you see (its weight average when the run keeps one); D saw "
                  "the live generator's images while training.")
    strips = v.extremes(8)
    for title, idx in strips.items():
        images = v.real if title.startswith("real") else v.fake
        values = v.real_scores if title.startswith("real") else v.fake_scores
        st.markdown(f"**{title[:1].upper()}{title[1:]}** (scores {', '.join(f'{values[i]:.1f}' for i in idx[:4])}, …)")
        common.show_image(to_grid_image(images[idx], 8), scale=common.image_scale(3))
    saliency_section(run, v, cfg, key)
    if v.fake_classes is not None:
        class_head_section(v, cfg)
    if v.gradient_norms is not None:
        g = v.gradient_norms
        st.markdown(f"**The critic's gradient at interpolates**: median ‖∇D(x̂)‖ = {np.median(g):.2f} "
                    f"(the penalty holds it near 1; {np.mean(np.abs(g - 1) < 0.5):.0%} of them are within 0.5 of 1).")


def saliency_section(run: Run, v: D.View, cfg, key: str) -> None:
    st.markdown("**Where D looks**: the pixels whose change would move D's verdict most "
                "(the gradient of its score, smoothed), over the image.")
    pool = {"a generated image D finds fake": (v.fake, v.fake_labels, np.argsort(v.fake_scores)),
            "a generated image D finds real": (v.fake, v.fake_labels, np.argsort(-v.fake_scores)),
            "a real image": (v.real, v.real_labels, np.arange(len(v.real)))}
    c1, c2 = st.columns([2, 1])
    which = c1.selectbox("Show", list(pool), key=f"{key}_sal_pool", bind="query-params")
    rank = int(c2.number_input("Which one (1 = the most)", 1, 32, 1, key=f"{key}_sal_rank", bind="query-params"))
    images, labels, order = pool[which]
    i = int(order[rank - 1])
    label = int(labels[i]) if labels is not None and cfg.is_conditional else None
    heat = D.saliency(discriminator(run), cfg, images[i], label)
    cols = st.columns(4)
    cols[0].image(to_grid_image(images[i:i + 1], 1, pad=0, scale=8), caption="the image", width=200)
    cols[1].image(heat_overlay(images[i], heat), caption="where D looks", width=200)


def class_head_section(v: D.View, cfg) -> None:
    """AC-GAN: what D's class head reads in each sample; InfoGAN: which code it reads."""
    word = "digit" if cfg.is_conditional else "code"
    read = v.fake_classes.argmax(axis=1)
    agree = float((read == v.fake_labels).mean()) if v.fake_labels is not None else float("nan")
    st.markdown(f"**What D's {word} head reads in the samples**: it reads the {word} each was drawn for in "
                f"{agree:.0%} of them" + (f"; on real images it names the true digit in "
                                          f"{(v.real_classes.argmax(axis=1) == v.real_labels).mean():.0%}."
                                          if v.real_labels is not None and cfg.architecture == "acgan" else "."))
    show = np.arange(min(10, len(v.fake)))
    cols = st.columns(len(show))
    for c, i in zip(cols, show):
        c.image(to_grid_image(v.fake[i:i + 1], 1, pad=0, scale=3),
                caption=f"{word} {v.fake_labels[i]} · D reads {read[i]} ({v.fake_classes[i].max():.0%})")


# -- the game -------------------------------------------------------------------------------------
def game(run: Run, cfg, gen) -> None:
    """Real or generated? 16 images, half from the data; the player marks the generated ones, then
    sees the truth beside D's verdicts. Rounds add up in this session."""
    v = _view_or_message(run, gen)
    if v is None:
        return
    tally = st.session_state.setdefault("game_tally", {})
    score = tally.setdefault(run.id, {"rounds": 0, "you": 0, "d": 0, "tiles": 0})
    round_no = st.session_state.setdefault(f"game_round_{run.id}", 0)
    r = D.game_round(v, seed=1000 * round_no + 7)
    answered = st.session_state.get(f"game_answered_{run.id}") == round_no
    big = common.presenting()
    st.markdown(f"{'### ' if big else ''}Half of these 16 images are real digits and half were drawn by the "
                f"generator. **Tick the ones you think are generated**, then show the answer.")
    marks = []
    size = 150 if big else 96
    for row in range(4):
        cols = st.columns(4)
        for c in range(4):
            i = 4 * row + c
            with cols[c]:
                st.image(to_grid_image(r.images[i:i + 1], 1, pad=0, scale=6), width=size)
                marks.append(st.checkbox(f"generated #{i + 1}", key=f"game_{run.id}_{round_no}_{i}",
                                         disabled=answered))
                if answered:
                    truth = "generated" if r.generated[i] else "real"
                    you = "✓" if marks[i] == r.generated[i] else "✗"
                    d = "✓" if r.d_says_generated[i] == r.generated[i] else "✗"
                    st.caption(f"**{truth}** · you {you} · D {d}")
    marks = np.array(marks)
    row = st.container(horizontal=True)
    if not answered and row.button("Show the answer", type="primary", key=f"game_answer_{run.id}"):
        score["rounds"] += 1
        score["tiles"] += D.GAME_TILES
        score["you"] += int((marks == r.generated).sum())
        score["d"] += int((r.d_says_generated == r.generated).sum())
        st.session_state[f"game_answered_{run.id}"] = round_no
        st.rerun()
    if answered:
        you, d = D.accuracy(marks, r.generated), D.accuracy(r.d_says_generated, r.generated)
        st.markdown(f"{'## ' if big else '**'}This round: you {you:.0%}, the discriminator {d:.0%}"
                    f"{'' if big else '**'}")
        if row.button("Next round", icon=":material/refresh:", key=f"game_next_{run.id}"):
            st.session_state[f"game_round_{run.id}"] = round_no + 1
            st.rerun()
    if score["rounds"]:
        c = st.columns(3)
        c[0].metric("Rounds", score["rounds"])
        c[1].metric("You", f"{score['you'] / score['tiles']:.0%}", help="Share of tiles called right, all rounds")
        c[2].metric("The discriminator", f"{score['d'] / score['tiles']:.0%}")
    st.caption("D sees the same 16 images and, like you, knows half are generated: it calls generated the "
               "8 it scores least real. Its job in training is exactly this game.")
