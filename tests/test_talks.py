"""Talks: decks saved, read back safely and stepped with the arrow keys; the demo's runs and deck, from the CLI and
the empty Runs page; the sidebar's deck editor."""
from __future__ import annotations

import json

import pytest

from gandash.store.queue import RunQueue
from gandash.talks import deck as D
from gandash.talks import demo
from tests.test_cli import in_process
from tests.ui.apptest import app, texts, written_run


def test_a_deck_is_saved_added_to_and_read_back(tmp_path):
    a = D.View("monitor", {"run": "r1", "map": "true"}, "the map", "training-map")
    D.save(tmp_path, "my talk", [a])
    b = D.view("explore", {"run": "r1", "tab": "Per digit", "deck": "my talk", "slide": "3"}, "  digits\n  ")
    assert b == D.View("explore", {"run": "r1", "tab": "Per digit"}, "digits")  # the deck's own place is not saved
    assert D.add(tmp_path, "my talk", b) == [a, b]
    assert D.load(tmp_path, "my talk") == [a, b] and D.names(tmp_path) == ["my talk"]
    assert a.url("runs", slide="1") == "./monitor?run=r1&map=true&slide=1#training-map"
    assert D.View("runs", {"runs_filter": "active"}).url("runs") == "./?runs_filter=active"
    D.delete(tmp_path, "my talk")
    assert D.names(tmp_path) == []
    with pytest.raises(D.DeckError, match="no deck named"):
        D.load(tmp_path, "my talk")
    for bad in ("", "../x", "a/b", ".hidden", "x" * 61):
        with pytest.raises(D.DeckError, match="invalid deck name"):
            D.path(tmp_path, bad)


def test_a_deck_file_of_any_content_gives_well_formed_views_only(tmp_path):
    folder = tmp_path / D.DECKS_DIR
    folder.mkdir()
    views = [{"page": "monitor", "params": {"run": "r", "x y": "1", "s": {"a": 1}, "ok": 3, "b": True,
                                            "long": "v" * 501, "many": ["1", "2"]}, "title": 7, "anchor": "x#y"},
             {"page": "../etc", "params": {}}, {"page": "Monitor"}, "text", None, {"params": []},
             {"page": "explore", "params": "run=r", "title": ["t"], "anchor": "how-it-works"}]
    (folder / "t.json").write_text(json.dumps({"views": views}))
    assert D.load(tmp_path, "t") == [D.View("monitor", {"run": "r", "ok": "3", "many": "2"}, "7"),
                                     D.View("explore", {}, "", "how-it-works")]
    for content in ("{not json", "[]", '{"views": 3}', "\x00\xff"):
        (folder / "t.json").write_text(content)
        assert D.load(tmp_path, "t") == []
    url = D.View("monitor", {"run": "<script>", "k": "a&b=c#d"}).url("runs")
    assert "<" not in url and "&b=" not in url and "#" not in url


def test_demo_queues_four_labelled_runs_and_a_deck_that_walks_through_them(store, fake_launch, capsys):
    code, err = in_process(store.root, ["demo", "--budget", "60"], capsys)
    assert code == 0, err
    started = [c for c in fake_launch if c[0] == "start"]
    assert [c[2].name for c in started] == [p.name for p in demo.PARTS]
    assert all(c[2].max_seconds == 60.0 for c in started)
    collapse = started[2][2]
    assert (collapse.latent_dim, collapse.latent_dist, collapse.architecture, collapse.latent_code) == (
        1, "sphere", "dcgan", False)  # G takes nothing but z: two images at most
    assert started[3][2].architecture == "wgan-gp" and started[0][2].architecture == "cgan"
    RunQueue(store.root).set_slots(1)
    assert demo.ready_in(store, 60) == "all 4 are trained in about 4 minutes (4 runs of 1 minute, 1 at a time)"
    RunQueue(store.root).set_slots(3)
    assert demo.ready_in(store, 90) == "all 4 are trained in about 3 minutes (4 runs of 1.5 minutes, 3 at a time)"
    views = D.load(store.root, demo.DECK)
    ids = [c[1] for c in started]
    assert {v.params.get("run") for v in views if v.page == "monitor"} == set(ids)
    assert views[-1] == D.View("compare", {"runs": ",".join(ids)}, views[-1].title)
    assert all(v.title for v in views)
    code, err = in_process(store.root, ["demo", "--budget", "5"], capsys)
    assert code == 2 and "--budget must be from 10 seconds" in err


def test_the_empty_runs_page_prepares_a_talk(store, fake_launch):
    RunQueue(store.root).set_slots(1)
    at = app("runs", store.root)
    next(b for b in at.button if b.label == "Prepare a talk").click()
    at.run()
    assert not at.exception
    assert len([c for c in fake_launch if c[0] == "start"]) == len(demo.PARTS)
    assert "Queued the demo's 4 runs" in texts(at, "success")
    assert "all 4 are trained in about 12 minutes (4 runs of 3 minutes, 1 at a time)" in texts(at, "success")
    assert len(D.load(store.root, demo.DECK)) == len(demo.views(store.list()))


def test_the_sidebar_adds_views_to_a_deck_reorders_them_and_presents_it(store):
    rid = written_run(store)
    at = app("monitor", store.root, run=rid)
    at.selectbox(key="deck_pick").set_value("a new deck…").run()
    at.text_input(key="deck_new").set_value("talk").run()
    at.selectbox(key="deck_anchor").set_value("time-lapse").run()
    at.button(key="deck_add").click().run()
    assert not at.exception and "Added view 1 to 'talk'" in texts(at, "success")
    assert D.load(store.root, "talk") == [D.View("monitor", {"run": rid}, f"Monitor · {rid}", "time-lapse")]
    D.add(store.root, "talk", D.View("explore", {"run": rid, "tab": "Per digit"}, "digits"))
    at = app("monitor", store.root, run=rid)
    at.selectbox(key="deck_pick").set_value("talk").run()
    at.button(key="deck_up1").click().run()
    assert [v.page for v in D.load(store.root, "talk")] == ["explore", "monitor"]
    at.button(key="deck_present").click().run()
    assert not at.exception
    html = " ".join(str(h.proto.body) for h in at.get("html"))
    assert "./explore?run=" in html and "deck=talk" in html and "slide=1" in html and "present=true" in html
    at.button(key="deck_del0").click().run()
    assert [v.page for v in D.load(store.root, "talk")] == ["monitor"]
    at.button(key="deck_open0").click().run()  # open one view, not presenting
    html = " ".join(str(h.proto.body) for h in at.get("html"))
    assert "./?run=" in html and "#time-lapse" in html and "present=true" not in html  # monitor: this app's default
    at.button(key="deck_delete").click().run()
    assert D.names(store.root) == [] and "Deleted the deck 'talk'" in texts(at, "success")


def test_presentation_mode_steps_a_deck_with_the_arrow_keys(store):
    rid = written_run(store)
    D.save(store.root, "talk", [D.View("monitor", {"run": rid}, "first"),
                                D.View("explore", {"run": rid}, "second", "top")])
    at = app("monitor", store.root, run=rid)
    at.query_params.update({"deck": "talk", "slide": "1"})
    at.session_state["present"] = True  # the browser sets it from ?present=true; AppTest has no browser
    at.run()
    assert "view 1 of 2" in texts(at) and at.button(key="deck_prev").disabled
    nxt = at.button(key="deck_next")
    assert nxt.proto.shortcut.lower() == "right" and at.button(key="deck_prev").proto.shortcut.lower() == "left"
    nxt.click().run()
    html = " ".join(str(h.proto.body) for h in at.get("html"))
    assert "./explore?run=" in html and "slide=2" in html and "#top" in html
    at.query_params["deck"] = "no such deck"
    at.run()
    assert "no deck named" in texts(at, "error")
