"""The sidebar's deck: save the view on screen to a talk's deck, and step through a deck with the arrow keys."""
from __future__ import annotations

import json

import streamlit as st

from gandash.talks import deck as D
from gandash.ui import common

NEW = "a new deck…"
SETTLE_MS = (800, 2500, 5000)  # a view's section is scrolled to this long after the page opens, as charts load above it
# Once per page load, and not after the speaker has scrolled or pressed a key: a later rerun leaves their place.
_SCROLL_JS = """<script>
if (!window.gandashScroll) {
  window.gandashScroll = true;
  let moved = false;
  for (const e of ["wheel", "touchmove", "mousedown"]) window.addEventListener(e, () => { moved = true; }, true);
  for (const ms of %s) setTimeout(() => { if (!moved) document.getElementById(%s)?.scrollIntoView(); }, ms);
}
</script>"""
SECTIONS = {"monitor": {"": "the top", "how-it-works": "How it works", "training-map": "Training map",
                        "quality": "Quality", "discriminator": "The discriminator's view", "time-lapse": "Time-lapse"}}


def panel(page_now: str, pages: dict, default_page: str) -> None:
    """Presentation mode: the deck in the address bar (``?deck=``) stepped with ← and →. Otherwise: add the view on
    screen to a deck, reorder and remove its views, open one, or present the deck."""
    root = common.store().root
    with st.sidebar:
        where = st.session_state.pop("deck_go", None)
        if where:
            go_to(where)
        name = st.query_params.get("deck")
        try:
            views = D.load(root, name) if name else None
        except D.DeckError as e:
            st.error(f"{e}.")
            views = None
        if common.presenting():
            if views:
                presenter(name, views, pages, default_page)
            return
        with st.expander("Deck for a talk", icon=":material/slideshow:", expanded=views is not None):
            editor(root, page_now, pages, default_page, name if views is not None else None)


def slide() -> int:
    return common.url_int("slide", 1, D.MAX_VIEWS) or 1


def _go(views: list[D.View], name: str, k: int, default_page: str, present: bool) -> None:
    """Open view ``k`` (1-based) of the deck with a fresh page load, the deck's place in the address bar."""
    extra = {"deck": name, "slide": str(k)}
    if present:
        extra["present"] = "true"
    st.session_state["deck_go"] = views[k - 1].url(default_page, **extra)
    st.rerun()


def go_to(url: str) -> None:
    """Load ``url`` (relative to the app) in this tab: a fresh start of the page, so every setting in its address
    bar applies, as when a bookmark is opened."""
    target = json.dumps(url).replace("<", "\\u003c")
    st.html(f"<script>window.location.assign(new URL({target}, window.location.href))</script>",
            unsafe_allow_javascript=True)
    st.caption(f"Opening `{url}`…")


def presenter(name: str, views: list[D.View], pages: dict, default_page: str) -> None:
    k = min(slide(), len(views))
    st.markdown(f"**{common.plain(name)}**: view {k} of {len(views)}")
    row = st.container(horizontal=True)
    if row.button("Back", icon=":material/arrow_back:", key="deck_prev", shortcut="Left", disabled=k <= 1):
        _go(views, name, k - 1, default_page, True)
    if row.button("Next", icon=":material/arrow_forward:", key="deck_next", shortcut="Right",
                  disabled=k >= len(views)):
        _go(views, name, k + 1, default_page, True)
    v = views[k - 1]
    if v.anchor:  # once the page has drawn its images and charts, which push the section down as they load
        st.html(_SCROLL_JS % (json.dumps(list(SETTLE_MS)), json.dumps(v.anchor)), unsafe_allow_javascript=True)
    if v.page not in pages:
        st.warning(f"View {k} is of a page this dashboard does not have ({v.page!r}).")
    if v.title:
        st.caption(common.plain(v.title))


def _title(page_now: str, pages: dict) -> str:
    run = st.query_params.get("run") or st.query_params.get("study") or ""
    return f"{pages.get(page_now, (page_now,))[0]}{f' · {run}' if run else ''}"


def editor(root, page_now: str, pages: dict, default_page: str, chosen: str | None) -> None:
    names = D.names(root)
    options = [*names, NEW]
    if chosen in names:
        st.session_state.setdefault("deck_pick", chosen)
    name = st.selectbox("Deck", options, key="deck_pick")
    if name == NEW:
        name = st.text_input("New deck's name", key="deck_new", max_chars=60, placeholder="my talk")
    title = st.text_input("This view's title", key="deck_title", max_chars=D.MAX_TITLE,
                          placeholder=_title(page_now, pages))
    sections = SECTIONS.get(page_now, {"": "the top"})
    anchor = st.selectbox("Scroll to", list(sections), format_func=sections.get, key="deck_anchor",
                          disabled=len(sections) == 1)
    if st.button("Add this view", icon=":material/add:", key="deck_add", disabled=not name,
                 help="Saves this page with the settings in the address bar (run, step, seed, digit, tab, the map's "
                      "settings) to the deck, in the runs folder."):
        v = D.view(page_now, st.query_params.to_dict(), title or _title(page_now, pages), anchor or "")
        common.act("deck_flash", lambda: f"Added view {len(D.add(root, name, v))} to {name!r}.")
    msg = st.session_state.pop("deck_flash", None)
    if msg:
        (st.success if msg[0] == "ok" else st.error)(msg[1])
    if not name or name not in names:
        return
    views = D.load(root, name)
    for i, v in enumerate(views):
        row = st.container(horizontal=True, vertical_alignment="center")
        row.markdown(f"{i + 1}\\. {common.plain(v.title or v.page)}")
        if row.button("", icon=":material/open_in_new:", key=f"deck_open{i}", help="Open this view"):
            _go(views, name, i + 1, default_page, False)
        if i and row.button("", icon=":material/arrow_upward:", key=f"deck_up{i}", help="Move it up"):
            views[i - 1], views[i] = views[i], views[i - 1]
            common.act("deck_flash", lambda: (D.save(root, name, views), "Moved.")[1])
        if row.button("", icon=":material/close:", key=f"deck_del{i}", help="Remove it from the deck"):
            common.act("deck_flash", lambda i=i: (D.save(root, name, views[:i] + views[i + 1:]), "Removed.")[1])
    if views and st.button("Present this deck", icon=":material/slideshow:", key="deck_present",
                           help="Presentation mode from the first view; ← and → step through the deck."):
        _go(views, name, 1, default_page, True)
    if st.button("Delete this deck", icon=":material/delete:", key="deck_delete"):
        common.act("deck_flash", lambda: (D.delete(root, name), f"Deleted the deck {name!r}.")[1])
