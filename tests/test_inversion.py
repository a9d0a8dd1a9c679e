"""Your digit as the network sees it, found in latent space, mapped, and compared with training images."""
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from gandash.engine.models import build_networks
from gandash.explore import inversion as inv
from gandash.explore.inversion import (
    InversionError,
    invert,
    latent_map,
    nearest,
    plane,
    prepare_digit,
    read_image,
    to_gray,
)
from gandash.explore.sampling import generate, latents
from tests.conftest import tiny


def _stroke(size=300, box=(40, 60, 120, 260), ink=255, paper=0, mode="L"):
    """A thick '1'-like stroke, off centre, on a large canvas."""
    im = Image.new("L", (size, size), paper)
    ImageDraw.Draw(im).line([box[:2], box[2:]], fill=ink, width=24)
    return im.convert(mode)


def _png(im) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def test_a_digit_is_scaled_into_a_20_pixel_box_and_centred_by_its_mass():
    digit = prepare_digit(to_gray(np.asarray(_stroke())))
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    ys, xs = np.nonzero(digit > 25)
    assert max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 <= 21  # the longer side fills the 20-pixel box
    assert ys.max() - ys.min() >= 17
    mass = digit.astype(float)
    cy = (np.arange(28) @ mass.sum(axis=1)) / mass.sum()
    cx = (np.arange(28) @ mass.sum(axis=0)) / mass.sum()
    assert abs(cy - 13.5) <= 1.0 and abs(cx - 13.5) <= 1.0  # the stroke was in the top-left corner


def test_dark_ink_on_paper_and_a_transparent_canvas_read_as_white_on_black():
    on_paper = prepare_digit(to_gray(np.asarray(_stroke(ink=20, paper=235, mode="RGB"))))
    on_black = prepare_digit(to_gray(np.asarray(_stroke())))
    assert np.abs(on_paper.astype(int) - on_black).mean() < 8
    canvas = np.zeros((280, 280, 4), np.uint8)  # what the drawing canvas returns: strokes opaque, the rest clear
    canvas[60:220, 110:170] = (255, 255, 255, 255)
    drawn = prepare_digit(to_gray(canvas))
    assert drawn[drawn > 0].size > 100 and drawn[0, 0] == 0 and drawn.max() > 200


@pytest.mark.parametrize("pixels", [np.zeros((280, 280, 4), np.uint8),  # an empty canvas
                                    np.full((64, 64, 3), 255, np.uint8),  # an all-white upload
                                    np.full((64, 64), 3, np.uint8)])  # an all-black one
def test_a_blank_image_is_refused_with_a_clear_message(pixels):
    with pytest.raises(InversionError, match="blank"):
        prepare_digit(to_gray(pixels))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # making the huge test image
def test_uploads_that_are_not_images_or_far_too_large_are_refused_before_decoding():
    with pytest.raises(InversionError, match="not an image"):
        read_image(b"%PDF-1.7 this is a document")
    huge = _png(Image.new("1", (10_000, 10_000)))
    with pytest.raises(InversionError, match="10000 × 10000 pixels; the largest accepted is 4096"):
        read_image(huge)
    assert read_image(_png(_stroke())).shape == (300, 300)


@pytest.fixture(scope="module")
def nets():
    out = {}
    for arch in ("dcgan", "cgan"):
        cfg = tiny(architecture=arch)
        out[arch] = (cfg, build_networks(cfg)[0])
    return out


def test_inversion_finds_a_latent_that_redraws_an_image_the_generator_drew(nets):
    cfg, gen = nets["dcgan"]
    z_true = latents(1, cfg.latent_dim, cfg.latent_dist, seed=123)
    target = generate(gen, cfg, z_true)[0]
    found = invert(gen, cfg, target, steps=150, starts=64)
    random = np.abs(generate(gen, cfg, latents(64, cfg.latent_dim, seed=9)).astype(float) - target).mean() / 255
    assert found.label is None and found.z.shape == (cfg.latent_dim,) and found.image.shape == (28, 28)
    assert found.distance < 0.5 * random  # far closer than a random latent draws it
    assert np.isclose(found.distance, np.abs(found.image.astype(float) - target).mean() / 255)


def test_a_conditional_inversion_searches_the_digit_unless_one_is_given(nets):
    cfg, gen = nets["cgan"]
    z_true = latents(1, cfg.latent_dim, cfg.latent_dist, seed=5)
    target = generate(gen, cfg, z_true, np.array([7], np.int32))[0]
    seen = []
    free = invert(gen, cfg, target, steps=40, starts=16, keep=2, progress=lambda f, m: seen.append(f))
    given = invert(gen, cfg, target, label=3, steps=40, starts=16, keep=2)
    assert free.label in range(10) and given.label == 3
    assert seen[0] == 0.0 and seen[-1] == 1.0 and len(seen) >= 5  # it says how far it is
    with pytest.raises(InversionError, match="from 0 to 9"):
        invert(gen, cfg, target, label=12, steps=1)
    with pytest.raises(InversionError, match="takes no digit"):
        invert(nets["dcgan"][1], nets["dcgan"][0], target, label=3, steps=1)


def test_a_map_spans_the_plane_through_three_points_or_around_one():
    a, b, c = (latents(3, 8, seed=1)[i] for i in range(3))
    z = plane([a, b, c], 5)
    assert z.shape == (25, 8)
    assert np.allclose(z[0], a) and np.allclose(z[4], b) and np.allclose(z[20], c)  # corners, row by row
    around = plane([a], 7, span=2.0, seed=3).reshape(7, 7, 8)
    assert np.allclose(around[3, 3], a, atol=1e-6)  # the point is the centre
    assert np.isclose(np.linalg.norm(around[3, 6] - a), 2.0, atol=1e-5)  # span along a unit direction
    with pytest.raises(InversionError, match="one line"):
        plane([a, b, a + 2 * (b - a)], 5)
    with pytest.raises(InversionError, match="21 × 21"):
        plane([a], 30)


def test_a_map_of_a_conditional_model_draws_one_digit_in_every_cell(nets):
    cfg, gen = nets["cgan"]
    z = latents(1, cfg.latent_dim, seed=0)[0]
    images, zs = latent_map(gen, cfg, [z], n=4, label=2)
    assert images.shape == (16, 28, 28) and zs.shape == (16, cfg.latent_dim)
    assert np.array_equal(images[5], generate(gen, cfg, zs[5:6], np.array([2], np.int32))[0])


def test_nearest_returns_the_closest_rows_first():
    pool = np.random.default_rng(0).standard_normal((500, 16)).astype(np.float32)
    query = pool[42] + 0.01
    idx, dist = nearest(query, pool, k=3)
    brute = np.argsort(np.linalg.norm(pool - query, axis=1))[:3]
    assert list(idx) == list(brute) and idx[0] == 42 and np.all(np.diff(dist) >= 0)


def test_a_nearest_index_built_once_answers_like_a_fresh_search():
    """The dashboard keeps one index per dataset, so a rerun's search is one product, not a copy of the pool."""
    images = np.random.default_rng(1).integers(0, 256, (300, 28, 28), dtype=np.uint8)
    index = inv.NearestIndex(images, scale=1 / 255)
    assert index.pool.dtype == np.float32 and index.pool.shape == (300, 784)
    for k in (0, 17, 299):
        query = images[k].astype(np.float32) / 255.0
        idx, dist = index.nearest(query)
        fresh_idx, fresh_dist = nearest(query, images.reshape(300, -1) / 255.0)
        assert idx[0] == k and list(idx) == list(fresh_idx) and np.allclose(dist, fresh_dist, atol=0.02)
