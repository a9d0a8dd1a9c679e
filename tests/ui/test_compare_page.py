"""The Compare page: overlaid curves, grids side by side, the table with the best marked."""
from __future__ import annotations

import os

from streamlit.testing.v1 import AppTest

from gandash.store.runs import RowWriter
from tests.ui.apptest import app, script


# -- compare ----------------------------------------------------------------------------
def test_compare_overlays_and_grids(runs):
    store, ids = runs
    at = app("compare", store.root)
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2
    at.selectbox(key="cmp_metric").select("g_loss").run()
    assert not at.exception


def test_compare_table_marks_the_best_value(runs):
    store, ids = runs
    for run_id, fd in ((ids.ok, 12.0), (ids.failed, 30.0)):
        row = {"step": 50, "n": 1000, "fd": fd, "classifier_score": 40.0 - fd}
        w = RowWriter(store.root / run_id / "eval.csv", list(row))
        w.write(row)
        w.close()
    at = app("compare", store.root)
    df = at.dataframe[0].value
    assert {i.split(" (")[0] for i in df.index} == {"finished run", "failed run"}
    assert {"Fréchet distance", "classifier score", "step"} <= set(df.columns)


def test_compare_runs_from_the_address_are_checked(runs):
    store, ids = runs
    os.environ["GANDASH_RUNS_DIR"] = str(store.root)
    at = AppTest.from_function(script, kwargs={"page": "compare"}, default_timeout=60)
    at.query_params["runs"] = f"{ids.failed},../../etc,{ids.ok}"
    at.run()
    assert not at.exception and at.multiselect(key="cmp_runs").value == [ids.failed, ids.ok]


def test_the_race_lines_grids_up_at_equal_training_time_or_step_and_exports_a_gif(runs):
    import io

    from PIL import Image

    from gandash.studies import race

    store, ids = runs
    picked = [store.get(ids.ok), store.get(ids.failed)]  # grids at steps 0/25/50 and 0/10/20; 10 steps a second
    names = {r.id: r.config().name for r in picked}
    assert race.positions(picked, "time") == [0.0, 1.0, 2.0, 2.5, 5.0]
    assert race.positions(picked, "step") == [0.0, 10.0, 20.0, 25.0, 50.0]
    assert race.grid_of(picked[0], 2.4) == (0, 0.0) and race.grid_of(picked[1], 2.4) == (20, 2.0)
    assert race.grid_of(picked[0], 30, "step") == (25, 2.5)
    img = race.frame(picked, names, 2.5)
    assert img.size == (2 * race.TILE + 8, race.TILE + 3 * race.LABEL_H)
    with Image.open(io.BytesIO(race.gif(picked, names))) as gif:
        assert gif.format == "GIF" and gif.n_frames >= 5

    at = app("compare", store.root)
    assert not at.exception and len(at.get("image")) >= 1
    at.segmented_control(key="cmp_race_by").set_value("step").run()
    assert not at.exception and at.select_slider(key="cmp_race_step").value == 50.0
    at.button(key="cmp_race_gif").click().run()
    assert not at.exception and at.get("download_button")
    at.button(key="cmp_race_play").click().run()  # Play returns at once: frames come one per tick of a fragment
    assert not at.exception and at.session_state["cmp_race_playing"] == 1
    assert "playing: step 0" in [img.caption for e in at.get("image") for img in e.proto.imgs]
    assert at.button(key="cmp_race_stop") and at.get("download_button")  # the rest of the page is there meanwhile
    at.button(key="cmp_race_stop").click().run()
    assert "cmp_race_playing" not in at.session_state and at.button(key="cmp_race_play")


def test_runs_that_differ_only_in_seed_are_drawn_as_one_band(store):
    import dataclasses

    from gandash.config import make_config
    from gandash.studies.study import curves_over_time, seed_groups

    ids = []
    for seed, fd in ((0, (40.0, 20.0)), (1, (44.0, 24.0)), (2, (30.0, 10.0))):
        cfg = make_config("fast", {"name": "same", "seed": seed, "steps": 20})
        run = store.create(cfg if seed < 2 else dataclasses.replace(cfg, g_lr=1e-3))  # the third differs
        w = RowWriter(run.metrics_path, ["step", "wall_time"])
        for s in (10, 20):
            w.write({"step": s, "wall_time": s / 10})
        w.close()
        w = RowWriter(run.eval_path, ["step", "n", "fd"])
        for s, v in zip((10, 20), fd):
            w.write({"step": s, "n": 500, "fd": v})
        w.close()
        ids.append(run.id)
    groups = seed_groups([store.get(i) for i in ids])
    assert sorted(len(g) for g in groups.values()) == [1, 2] and "same × 2 seeds" in groups
    band = curves_over_time(groups, "fd")["same × 2 seeds"]
    assert band["runs"] == 2 and band["lo"][-1] == 20.0 and band["hi"][-1] == 24.0 and band["median"][-1] == 22.0
    os.environ["GANDASH_RUNS_DIR"] = str(store.root)
    at = AppTest.from_function(script, kwargs={"page": "compare"}, default_timeout=60)
    at.query_params["runs"] = ",".join(ids)
    at.run()
    assert not at.exception and at.selectbox(key="cmp_seed_metric").value == "fd"
