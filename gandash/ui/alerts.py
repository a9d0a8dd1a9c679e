"""Health alerts on the pages: a badge per run, and Monitor's panel of alerts with their remedies."""
from __future__ import annotations

import streamlit as st

from gandash.quality.health import Alert
from gandash.store.runs import Run
from gandash.ui import common
from gandash.ui.nav import go


def badge(alerts: list[Alert]) -> str:
    """':red-badge[⚠ mode collapse]' per alert that still holds, orange for the passed ones; '' if healthy."""
    return " ".join(f":{'red' if a.ongoing else 'orange'}-badge[⚠ {a.title.lower()}]" for a in alerts)


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value).lower() if isinstance(value, bool) else str(value)


def change_text(cfg, changes: dict) -> str:
    """'d_lr 0.0016 → 0.0004, spectral_norm false → true'."""
    return ", ".join(f"`{k}` {_fmt(getattr(cfg, k))} → {_fmt(v)}" for k, v in changes.items())


def panel(run: Run, alerts: list[Alert], cfg) -> None:
    """Each alert in plain words with the step it started at, and its remedies, each with a button
    that opens Train with this run's settings and that one change."""
    for i, a in enumerate(alerts):
        since = f"from step {a.step:,}" + ("" if a.ongoing else f" to {a.last_step:,}, then passed")
        box = st.error if a.ongoing else st.warning
        box(f"**{a.title}** ({since}). {a.message}" + (f"\n\n*{a.sure}*" if a.sure else ""), icon=":material/warning:")
        if not a.remedies or cfg is None or common.presenting():
            continue
        with st.expander(f"What to try for “{a.title.lower()}” ({len(a.remedies)} remedies)", expanded=a.ongoing):
            for j, r in enumerate(a.remedies):
                left, right = st.columns([5, 2], vertical_alignment="center")
                left.markdown(f"**{r.label}**: {change_text(cfg, r.changes)}. {r.why[:1].upper()}{r.why[1:]}.")
                if right.button("Duplicate with this change", key=f"fix_{run.id}_{i}_{j}",
                                icon=":material/content_copy:"):
                    st.session_state["train_from"] = run.id
                    st.session_state["train_change"] = (r.label, dict(r.changes))
                    go("train")
