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
