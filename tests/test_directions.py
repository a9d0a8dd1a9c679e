"""Latent directions and dissection: attributes measured right, directions that do what they say, G cut
and re-joined exactly, channels ranked by what they draw."""
import dataclasses

import numpy as np
import pytest

from gandash.explore import directions as D
from gandash.explore import dissect as X
from gandash.explore.sampling import SamplingError, generate, latents
from tests.conftest import tiny

DIM = 8


def _bar(width: int, height: int = 16, shift: float = 0.0, value: int = 255) -> np.ndarray:
    """A white bar on black, centred; ``shift`` pixels of horizontal shear per row going up."""
    img = np.zeros((28, 28), np.uint8)
    top = 14 - height // 2
    for r in range(top, top + height):
        x = int(round(14 - width / 2 + shift * (top + height - 1 - r)))
        img[r, x:x + width] = value
    return img


def test_each_attribute_reads_the_way_its_plus_is_described():
    m = D.measure(np.stack([_bar(2), _bar(6), _bar(2, shift=0.4), _bar(2, shift=-0.4), _bar(2, height=24),
                            _bar(6, value=120)]))
    thin, thick, right, left, tall, dim = range(6)
    assert m["thickness"][thick] > m["thickness"][thin]
    assert m["slant"][right] > 0.3 > abs(m["slant"][thin]) and m["slant"][left] < -0.3  # top leaning right is +
    assert m["width"][thick] > m["width"][thin] and abs(m["width"][right] - m["width"][thin]) < 1.0  # slant removed
    assert m["height"][tall] > m["height"][thin] + 5
    assert m["brightness"][dim] < m["brightness"][thick] and m["size"][thick] > m["size"][thin]
    assert abs(m["height"][thin] - 16) < 1 and abs(m["width"][thick] - 6) < 1  # in pixels


def test_every_dataset_has_its_own_attributes():
    assert D.attribute_names("mnist") == ("thickness", "slant", "width", "height")
    assert "brightness" in D.attribute_names("fashion_mnist") and "slant" not in D.attribute_names("fashion_mnist")
    assert set(D.attribute_names("custom")) == set(D.ATTRIBUTES)


def _toy(cfg):
    """A generator whose bar gets thicker with z[0] and taller with z[1], through a Dense → ReLU → Dense
    chain: SeFa's first direction is z[0] (its weight is largest), the ReLU layer is dissectable."""
    import keras

    z = keras.Input((DIM,), name="z")
    h = keras.layers.Dense(2 * DIM, use_bias=False, name="first")(z)
    h = keras.layers.ReLU(name="units")(h)
    x = keras.layers.Dense(28 * 28, name="draw")(h)
    x = keras.layers.Activation("sigmoid")(x)
    model = keras.Model(z, keras.layers.Reshape((28, 28, 1))(x))
    first = np.zeros((DIM, 2 * DIM), np.float32)
    first[np.arange(DIM), np.arange(DIM)] = 1.0
    first[np.arange(DIM), DIM + np.arange(DIM)] = -1.0
    first[0] *= 3.0
    draw, bias = np.zeros((2 * DIM, 784), np.float32), np.full(784, -8.0, np.float32)
    core, wide, tall = _bar(2) > 0, (_bar(8) > 0) & ~(_bar(2) > 0), (_bar(2, height=26) > 0) & ~(_bar(2) > 0)
    bias[core.ravel()] = 8.0
    draw[0, wide.ravel()] = 6.0  # unit 0 (z[0] > 0) widens the bar
    draw[DIM, wide.ravel()] = -6.0
    draw[1, tall.ravel()] = 6.0  # unit 1 (z[1] > 0) lengthens it
    draw[DIM + 1, tall.ravel()] = -6.0
    model.get_layer("first").set_weights([first])
    model.get_layer("draw").set_weights([draw, bias])
    return model


@pytest.fixture(scope="module")
def toy():
    cfg = tiny("mlp-classic", latent_dim=DIM, output_activation="sigmoid", dataset="mnist")
    return _toy(cfg), cfg


def _reader(images):
    """A stand-in evaluator: digit 1 when the image has little ink, 7 when it has a lot."""
    ink = images.astype(np.float32).mean((1, 2)) / 255
    p = np.full((len(images), 10), 0.01)
    p[np.arange(len(images)), np.where(ink > 0.09, 7, 1)] = 0.91
    return p


def test_fitted_directions_point_where_the_attribute_grows(toy):
    gen, cfg = toy
    sp = D.fit(gen, cfg, n=600, n_assess=60, discovered=3, keep_digit=False)
    assert abs(sp.get("thickness").vector[0]) > 0.9 and sp.get("thickness").vector[0] > 0
    assert sp.get("height").vector[1] > 0.9
    th = sp.get("thickness")
    assert th.effect["thickness"] > 0 and th.agrees["thickness"] > 0.9
    assert th.holds is None  # no reader, no digit check
    assert set(sp.directions) == {*D.attribute_names("mnist"), "sefa-1", "sefa-2", "sefa-3", "pca-1", "pca-2",
                                  "pca-3"}


def test_sefa_finds_the_strongest_weight_and_orients_it_by_what_it_changes(toy):
    gen, cfg = toy
    first = D.sefa(gen, cfg, 1)[0]
    assert abs(first[0]) > 0.99  # z[0] carries weight 3, the others 1
    sp = D.fit(gen, cfg, _reader, n=400, n_assess=60, discovered=2, keep_digit=False)
    s1 = sp.get("sefa-1")
    assert s1.main in ("thickness", "width") and s1.effect[s1.main] > 0 and s1.vector[0] > 0.99
    assert 0 <= s1.holds <= 1


def test_keeping_the_digit_takes_the_readings_direction_out(toy):
    """With a reader whose digit depends on ink, the thickness direction must leave z[0] and the reading."""
    gen, cfg = toy
    free = D.fit(gen, cfg, _reader, n=600, n_assess=100, discovered=1, keep_digit=False).get("thickness")
    kept = D.fit(gen, cfg, _reader, n=600, n_assess=100, discovered=1, keep_digit=True).get("thickness")
    assert abs(kept.vector[0]) < abs(free.vector[0])
    assert kept.holds >= free.holds


def test_moves_are_in_units_of_the_samples_spread_and_stay_where_g_was_trained(toy):
    gen, cfg = toy
    d = D.Direction("x", "attribute", np.eye(DIM, dtype=np.float32)[2], scale=0.5)
    z = latents(5, DIM, "normal", 0)
    np.testing.assert_allclose(D.move(z, cfg, [(d, 2.0)])[:, 2] - z[:, 2], 1.0, atol=1e-6)
    np.testing.assert_array_equal(D.move(z, cfg, []), z)
    sphere = dataclasses.replace(cfg, latent_dist="sphere")
    zs = latents(5, DIM, "sphere", 0)
    np.testing.assert_allclose(np.linalg.norm(D.move(zs, sphere, [(d, 3.0)]), axis=1), 1.0, atol=1e-5)
    cube = dataclasses.replace(cfg, latent_dist="uniform")
    assert np.abs(D.move(latents(5, DIM, "uniform", 0), cube, [(d, 9.0)])).max() <= 1.0


@pytest.mark.parametrize("text", ["thickness", "=2", "thickness=", "thickness=abc", "slant=11", "x=nan",
                                  "x=inf"])
def test_a_bad_move_is_refused_with_its_form(text):
    with pytest.raises(SamplingError, match="NAME=AMOUNT"):
        D.parse_moves([text])


def test_moves_parse_with_signs():
    assert D.parse_moves(["thickness=+2", " sefa-1 =-1.5"]) == [("thickness", 2.0), ("sefa-1", -1.5)]
    assert D.parse_moves(None) == []


def test_an_unknown_direction_names_those_there_are(toy):
    gen, cfg = toy
    sp = D.Space(("thickness",), {"thickness": 1.0},
                 {"thickness": D.Direction("thickness", "attribute", np.ones(DIM, np.float32), 1.0)})
    with pytest.raises(SamplingError, match="this run has: thickness"):
        sp.get("thick")


def test_a_strip_is_one_row_per_sample_from_minus_to_plus(toy):
    gen, cfg = toy
    d = D.Direction("t", "attribute", np.eye(DIM, dtype=np.float32)[0], 1.0)
    images = D.strip(gen, cfg, latents(2, DIM, "normal", 0), d, [-3, 0, 3])
    assert images.shape == (6, 28, 28)
    ink = images.reshape(2, 3, -1).mean(-1)
    assert (ink[:, 2] > ink[:, 0]).all()


# -- dissection ---------------------------------------------------------------------------------------------
def test_dissecting_the_toy_finds_the_unit_that_draws_the_stroke(toy):
    gen, cfg = toy
    assert [name for name, _ in X.dissectable(gen)] == ["units"]
    s = X.split(gen)
    z = np.zeros((1, DIM), np.float32)
    z[0, 0], z[0, 1] = 1.5, 1.5  # wide and tall: units 0 and 1 draw
    acts = X.activations(s, cfg, z)
    wide = (_bar(8) > 0) & ~(_bar(2) > 0)
    r = X.region(s, cfg, acts, wide)
    assert r.top(1) == [0] and r.score[0] > 0.3
    tall = (_bar(2, height=26) > 0) & ~(_bar(2, height=16) > 0)
    assert X.region(s, cfg, acts, tall).top(1) == [1]
    e = X.effect(s, cfg, acts)
    assert set(e.top(2)) == {0, 1} and e.score[5] == 0  # a unit that is off does nothing
    base = X.render(s, cfg, acts)
    off = X.render(s, cfg, X.edited(s, acts, off=[0]))
    louder = X.render(s, cfg, X.edited(s, acts, gain={0: 3.0}))
    assert off[0][wide].mean() < 40 < base[0][wide].mean() <= louder[0][wide].mean()
    assert X.reading(s, cfg, acts, _reader).top(1) == [0]


def test_dissection_refuses_what_it_cannot_do(toy):
    gen, cfg = toy
    s = X.split(gen)
    acts = X.activations(s, cfg, latents(2, DIM, "normal", 0))
    with pytest.raises(SamplingError, match="from 0 to 15"):
        X.edited(s, acts, off=[16])
    with pytest.raises(SamplingError, match="gain"):
        X.edited(s, acts, gain={0: 100.0})
    with pytest.raises(SamplingError, match="non-empty"):
        X.region(s, cfg, acts, np.zeros((28, 28), bool))
    with pytest.raises(SamplingError, match="choose from: units"):
        X.split(gen, "draw")


@pytest.mark.parametrize("arch, extra", [("dcgan", {}), ("dcgan", {"upsampling": "transpose"}), ("mlp", {}),
                                         ("cgan", {}), ("acgan", {}), ("wgan-gp", {"conditional": True})])
def test_every_architecture_cuts_and_rejoins_exactly_and_has_directions(arch, extra):
    from gandash.engine.models import build_networks

    cfg = tiny("fast", architecture=arch, **extra)
    gen = build_networks(cfg)[0]
    z = latents(4, cfg.latent_dim, cfg.latent_dist, 1)
    labels = np.arange(4, dtype=np.int32) if cfg.takes_label else None
    whole = generate(gen, cfg, z, labels)
    layers = X.dissectable(gen)
    assert layers
    for name, shape in layers:
        s = X.split(gen, name)
        acts = X.activations(s, cfg, z, labels)
        assert acts.shape[1:] == shape
        np.testing.assert_allclose(X.render(s, cfg, acts).astype(int), whole.astype(int), atol=1)
    sp = D.fit(gen, cfg, n=200, n_assess=20, discovered=2)
    assert {"sefa-1", "pca-2", "thickness"} <= set(sp.directions)
    assert all(np.isclose(np.linalg.norm(d.vector), 1, atol=1e-4) for d in sp.directions.values())
