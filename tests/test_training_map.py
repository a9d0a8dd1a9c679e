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
    at.toggle(key="map").set_value(True).run()
    assert not at.exception, at.exception
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")
              if "Training map" in c.proto.spec]
    assert titles == ["Training map · step 4 · arrows: from step 2 (the last 2)"]
    at.select_slider(key="map_step").set_value(2).run()
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")
              if "Training map" in c.proto.spec]
    assert titles == ["Training map · step 2 · arrows: to step 4 (2 later)"]
    assert "How to read it" in "\n".join(str(c.value) for c in at.caption)


# -- the overview ------------------------------------------------------------------------
def test_the_overview_shows_the_newest_grid_s_first_sample_with_d_s_scores_and_the_newest_numbers(trained):
    from gandash.explore import overview as O
    from gandash.explore.images import read_png
    from gandash.explore.sampling import fixed_grid_inputs

    _, runs = trained
    for run, critic in zip(runs, (False, True)):
        cfg = run.config()
        rows = run.metrics()
        real = O.first_real(cfg)
        ov = O.build(run, cfg, rows, real)
        assert ov.step == 4 and ov.critic is critic
        grid = np.asarray(read_png(run.sample_path(4)))
        assert np.array_equal(ov.fake, grid[2:30, 2:30])  # the grid's first tile
        assert np.array_equal(ov.z, fixed_grid_inputs(cfg)[0][0]) and ov.label == (0 if not critic else None)
        scores = tm.read_scores(run, 4)
        assert ov.fake_score == pytest.approx(scores["fake"][0]) and ov.real_score == pytest.approx(scores["real"][0])
        assert np.array_equal(ov.real, real[0]) and real[0].shape == (28, 28) and real[0].dtype == np.uint8
        for k in O.NUMBERS:
            assert ov.numbers[k] == pytest.approx(rows[-1][k], nan_ok=True)
        assert O.said(ov.fake_score, critic).startswith("critic score" if critic else "D: ")
    assert O.said(0.0, False) == "D: 50% real" and O.said(None, False) == "not scored"
    assert O.build(runs[0], runs[0].config(), [], None).real is None  # no data here: the generated side only
    cells = O.z_image(np.array([-9.0, 0.0, 9.0]))
    assert cells.shape == (2, 2) and cells[0, 0] == 0 and cells[0, 1] == 127 and cells[1, 0] == 255


def test_g_s_layers_for_one_z_run_from_its_input_to_the_image(trained):
    from gandash.explore import overview as O
    from gandash.explore.dissect import dissectable
    from gandash.explore.sampling import load_generator

    _, runs = trained
    run = runs[0]
    gen = load_generator(run.generator_path)
    cfg = run.config()
    maps = O.layer_maps(gen, cfg, np.zeros(cfg.latent_dim, np.float32), 3)
    assert [m[0] for m in maps] == [n for n, _ in dissectable(gen)]
    for (_, shape), (_, text, m) in zip(dissectable(gen), maps):
        assert m.dtype == np.uint8 and m.shape[0] == (min(16, shape[-1]) if len(shape) == 3 else 1)
        assert ("maps" in text) == (len(shape) == 3)


def test_monitor_opens_the_overview_and_its_parts(trained):
    from tests.ui.apptest import app

    store, runs = trained
    for run in runs:
        at = app("monitor", store.root, run=run.id)
        at.toggle(key="overview").set_value(True).run()
        assert not at.exception, at.exception
        specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if "How the GAN learns" in c.proto.spec]
        assert len(specs) == 1 and specs[0]["layout"]["title"]["text"] == "How the GAN learns · step 4"
        words = " ".join(a["text"] for a in specs[0]["layout"]["annotations"])
        assert ("critic" in words) == (run.config().architecture == "wgan-gp") and "G loss" in words
        assert len(specs[0]["layout"]["images"]) == 3  # z, G(z) and the real digit
        at.segmented_control(key="part").set_value("G's layers for this z").run()
        assert not at.exception and "maps, " in _captions(at) and "G(z)" in _captions(at)
        at.segmented_control(key="part").set_value("Where D looks").run()
        assert not at.exception and "where D looks on G(z)" in _captions(at)
        assert "where D looks on x, real" in _captions(at)


def _captions(at) -> str:
    return "\n".join(img.caption for e in at.get("image") for img in e.proto.imgs)


def test_the_map_and_the_overview_show_the_run_s_ongoing_health_alerts(trained):
    from gandash.quality import health
    from tests.test_health import healthy_rows, set_from
    from tests.ui.apptest import app, texts

    store, runs = trained
    run = runs[0]
    rows = set_from(set_from(healthy_rows(), 1000, "d_acc_fake", lambda s: 0.997), 1000, "g_loss",
                    lambda s: 1.3 + (s - 1000) / 300)
    try:
        assert [a.kind for a in health.check(run, run.config(), rows, 3000)] == ["discriminator_wins"]
        at = app("monitor", store.root, run=run.id)
        at.toggle(key="overview").set_value(True).run()
        at.toggle(key="map").set_value(True).run()
        assert not at.exception
        assert "**Health:** The discriminator is winning" in texts(at)  # above the map
        overview = next(c.proto.spec for c in at.get("plotly_chart") if "How the GAN learns" in c.proto.spec)
        assert "Health: The discriminator is winning" in overview
    finally:
        run.health_path.unlink(missing_ok=True)
