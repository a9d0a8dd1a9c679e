"""The training map: D's scores recorded with every grid, a plane fitted once and never again, grids read back into
their samples, the field, and the Monitor section that draws it."""
import json

import numpy as np
import pytest

from gandash.engine.train import train
from gandash.explore import training_map as tm
from gandash.explore.images import to_grid_array
from tests.conftest import tiny


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny conditional run (grids of 100) and a tiny unconditional one (64), trained 4 steps each."""
    from gandash.store.runs import RunStore

    store = RunStore(tmp_path_factory.mktemp("runs"))
    runs = [store.create(tiny(steps=4, architecture=arch)) for arch in ("cgan", "wgan-gp")]
    for run in runs:
        assert train(run, install_signal_handlers=False, queued=False) == "finished"
    return store, runs


def test_every_grid_has_d_scores_of_its_samples_and_of_the_real_subset(trained):
    _, runs = trained
    for run, n, critic in zip(runs, (100, 64), (False, True)):
        assert run.sample_steps() == [0, 2, 4]
        for step in run.sample_steps():
            scores = tm.read_scores(run, step)
            assert scores is not None and scores["critic"] is critic
            assert len(scores["fake"]) == n and len(scores["real"]) == tm.SCORED_REAL
        later = tm.read_scores(run, 4)
        assert not np.array_equal(tm.read_scores(run, 0)["real"], later["real"])  # D learned between them


def test_a_scores_file_that_is_not_ours_is_not_read(trained):
    _, runs = trained
    run = runs[0]
    path = tm.scores_path(run, 2)
    good = path.read_bytes()
    try:
        for bad in (b"{not json", json.dumps({"fake": [1, "x"], "real": []}).encode(),
                    json.dumps({"fake": [float("nan")], "real": [0.0]}).encode(),
                    json.dumps({"fake": [[1.0]], "real": [0.0]}).encode(), b" " * (tm.MAX_SCORES_BYTES + 1)):
            path.write_bytes(bad)
            assert tm.read_scores(run, 2) is None
    finally:
        path.write_bytes(good)


def test_tiles_read_back_exactly_what_the_grid_holds():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (23, 28, 28), dtype=np.uint8)
    assert np.array_equal(tm.tiles(to_grid_array(images, 8), 23, 8, 28), images)


def test_the_plane_is_fitted_once_per_evaluator_and_kept(trained):
    store, runs = trained
    first = tm.plane("mnist", store.root)
    saved = store.root / "_evaluators" / "mnist.map.npz"
    assert saved.exists()
    again = tm.plane("mnist", store.root)
    assert np.array_equal(first.axes, again.axes) and np.array_equal(first.cloud, again.cloud)
    assert first.cloud.shape == (tm.CLOUD, 2) and 0 < first.share[1] <= first.share[0] < 1
    with np.load(saved) as f:  # a plane of another evaluator file is not used
        stale = {k: f[k] for k in f.files}
    stale["sha256"], stale["axes"] = np.asarray("another"), np.zeros_like(stale["axes"])
    np.savez(saved, **stale)
    assert np.array_equal(tm.plane("mnist", store.root).axes, first.axes)


def test_a_frame_places_the_grid_and_the_field_shows_where_d_believes_real(trained):
    store, runs = trained
    run = runs[0]
    cfg = run.config()
    the_plane = tm.plane(cfg.dataset, store.root)
    a, b = (tm.frame(run, cfg, s, the_plane, store.root) for s in (0, 4))
    assert a.xy.shape == b.xy.shape == (100, 2) and a.images.shape == (100, 28, 28)
    assert not np.allclose(a.xy, b.xy)  # the samples moved
    real = tm.real_xy(cfg, tm.SCORED_REAL, store.root)
    assert real.shape == (tm.SCORED_REAL, 2) and np.isfinite(real).all()
    points = np.array([[-1.0, 0.0], [1.0, 0.0]])
    xs, ys, values = tm.field(points, np.array([1.0, 0.0]), (-2, 2, -2, 2), cells=9)
    assert np.isfinite(values).all() and values[4, 0] > 0.9 and values[4, -1] < 0.1 and values[4, 4] == pytest.approx(
        0.5)
    shade = tm.relative(np.linspace(-3.0, 5.0, 101))
    assert shade[0] == 0.0 and shade[-1] == 1.0 and shade[50] == pytest.approx(0.5) and np.all(np.diff(shade) >= 0)
    assert list(tm.relative(np.zeros(3))) == [0.5] * 3
    assert tm.believes_real(np.array([0.0]))[0] == pytest.approx(0.5)


def test_monitor_draws_the_map_and_replays_it(trained):
    from tests.ui.apptest import app

    store, runs = trained
    run = runs[0]
    at = app("monitor", store.root, run=run.id)
    at.toggle(key=f"map_on_{run.id}").set_value(True).run()
    assert not at.exception, at.exception
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")
              if "Training map" in c.proto.spec]
    assert titles == ["Training map · step 4 · arrows: from step 2 (the last 2)"]
    at.select_slider(key=f"map_step_{run.id}").set_value(2).run()
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")
              if "Training map" in c.proto.spec]
    assert titles == ["Training map · step 2 · arrows: to step 4 (2 later)"]
    assert "How to read it" in "\n".join(str(c.value) for c in at.caption)
