"""Page registry and navigation: every page is a function in its own module."""
from __future__ import annotations

import importlib

import streamlit as st

from gandash.errors import GandashError

# url path -> (title, icon, module); the order is the sidebar's order.
PAGES = {
    "runs": ("Runs", ":material/list:", "gandash.ui.runs_page"),
    "train": ("Train", ":material/rocket_launch:", "gandash.ui.train_page"),
    "monitor": ("Monitor", ":material/monitoring:", "gandash.ui.monitor_page"),
    "explore": ("Explore", ":material/explore:", "gandash.ui.explore_page"),
    "compare": ("Compare", ":material/compare:", "gandash.ui.compare_page"),
    "studies": ("Studies", ":material/leaderboard:", "gandash.ui.study_page"),
}


def page(name: str, default: bool = False) -> st.Page:
    """The st.Page for a url path; pages compare equal by url path, so any call can switch to it."""
    title, icon, module = PAGES[name]
    render = importlib.import_module(module).render
    return st.Page(render, title=title, icon=icon, url_path=name, default=default)


def go(name: str, run_id: str | None = None) -> None:
    """Switch to a page, optionally opening one run there."""
    st.switch_page(page(name), query_params={"run": run_id} if run_id else None)


def main(default: str = "runs") -> None:
    """The whole app: page config, navigation, shared sidebar, then the chosen page."""
    from gandash.ui import common, deck_panel

    st.set_page_config(page_title="gandash", page_icon=":material/blur_on:", layout="wide")
    nav = st.navigation([page(name, default=name == default) for name in PAGES])
    common.sidebar()
    deck_panel.panel(nav.url_path or default, PAGES, default)
    common.keep_warm()
    try:
        nav.run()
    except GandashError as e:  # the one place a page's uncaught user error is shown: one line, no traceback
        st.error(common.plain(str(e)))
