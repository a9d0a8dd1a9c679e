"""A deck: a talk's list of dashboard views (a page and its address-bar settings), saved in the runs folder.

``<runs>/_decks/<name>.json`` holds ``{"views": [{"page": ..., "params": {...}, "title": ...}, ...]}``.
A deck may come from anyone (copied between machines, edited by hand), so it is read as untrusted:
what is not a well-formed view is dropped, never run.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from gandash.errors import GandashError
from gandash.store.runs import atomic_write_json, read_json

DECKS_DIR = "_decks"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,59}")
PAGE_RE = re.compile(r"[a-z]{1,20}")
KEY_RE = re.compile(r"[A-Za-z0-9_]{1,60}")
ANCHOR_RE = re.compile(r"[a-z0-9-]{1,60}")  # a section's heading anchor, as Streamlit makes them
MAX_VIEWS = 200
MAX_PARAMS = 60
MAX_VALUE = 500
MAX_TITLE = 120
NOT_SAVED = ("deck", "slide")  # where a deck is and which view it shows: the deck's own state, not a view's


class DeckError(GandashError):
    """A deck name or file that cannot be used."""


@dataclass(frozen=True)
class View:
    """One view: a page, the settings in its address bar, and what the speaker calls it."""

    page: str
    params: dict[str, str] = field(default_factory=dict)
    title: str = ""
    anchor: str = ""  # the section to scroll to (``training-map``), or the top

    def url(self, default_page: str, **extra: str) -> str:
        """The view's address relative to the app's root (``./monitor?run=…#training-map``); the default page
        is ``./``."""
        query = urlencode({**self.params, **extra})
        return (f"./{'' if self.page == default_page else self.page}" + (f"?{query}" if query else "")
                + (f"#{self.anchor}" if self.anchor else ""))

    def to_dict(self) -> dict[str, Any]:
        return {"page": self.page, "params": dict(self.params), "title": self.title, "anchor": self.anchor}


def view(page: Any, params: Any = None, title: Any = "", anchor: Any = "") -> View | None:
    """A well-formed View from any values, or None: a page name of lowercase letters, settings with plain
    names and short text values (the deck's own ``deck`` and ``slide`` left out), a one-line title."""
    if not isinstance(page, str) or not PAGE_RE.fullmatch(page):
        return None
    clean: dict[str, str] = {}
    for k, v in (params.items() if isinstance(params, dict) else ()):
        if isinstance(v, list) and v:  # a repeated setting in an address bar: its last value, as Streamlit reads it
            v = v[-1]
        if (isinstance(k, str) and KEY_RE.fullmatch(k) and k not in NOT_SAVED and isinstance(v, (str, int, float))
                and not isinstance(v, bool) and len(str(v)) <= MAX_VALUE and len(clean) < MAX_PARAMS):
            clean[k] = str(v)
    title = " ".join(str(title).split())[:MAX_TITLE] if isinstance(title, (str, int, float)) else ""
    return View(page, clean, title, anchor if isinstance(anchor, str) and ANCHOR_RE.fullmatch(anchor) else "")


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name.strip()):
        raise DeckError(f"invalid deck name {str(name)[:80]!r}: use 1 to 60 letters, digits, spaces, '.', '_' or '-', "
                        f"starting with a letter or digit")
    return name.strip()


def path(root: Path, name: str) -> Path:
    return Path(root) / DECKS_DIR / f"{check_name(name)}.json"


def names(root: Path) -> list[str]:
    """The saved decks, by name."""
    folder = Path(root) / DECKS_DIR
    try:
        files = sorted(folder.glob("*.json"))
    except OSError:
        return []
    return [p.stem for p in files if NAME_RE.fullmatch(p.stem)]


def load(root: Path, name: str) -> list[View]:
    """A deck's views; its malformed entries are dropped. A deck that does not exist is an error."""
    p = path(root, name)
    if not p.exists():
        raise DeckError(f"no deck named {name!r} in {Path(root) / DECKS_DIR}")
    data = read_json(p) or {}
    items = data.get("views")
    items = [i for i in (items if isinstance(items, list) else []) if isinstance(i, dict)]
    out = [view(i.get("page"), i.get("params"), i.get("title", ""), i.get("anchor", "")) for i in items]
    return [v for v in out if v is not None][:MAX_VIEWS]


def save(root: Path, name: str, views: list[View]) -> Path:
    if len(views) > MAX_VIEWS:
        raise DeckError(f"a deck holds at most {MAX_VIEWS} views")
    p = path(root, name)
    atomic_write_json(p, {"views": [v.to_dict() for v in views]})
    return p


def add(root: Path, name: str, v: View) -> list[View]:
    """Append a view to a deck (made if new); the deck's views after."""
    views = load(root, name) if path(root, name).exists() else []
    views.append(v)
    save(root, name, views)
    return views


def delete(root: Path, name: str) -> None:
    path(root, name).unlink(missing_ok=True)
