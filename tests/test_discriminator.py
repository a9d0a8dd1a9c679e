"""The discriminator's view: D rebuilt from the checkpoint scores as in training, overlap, extremes,
saliency, class and code heads, the critic's gradient norm, and the real-or-generated game."""
import numpy as np
import pytest

from gandash.engine.train import load_checkpoint, train
from gandash.explore import discriminator as D
from gandash.explore.sampling import load_generator
from tests.conftest import tiny

CASES = {"dcgan": dict(architecture="dcgan"), "cgan": dict(architecture="cgan"),
         "acgan": dict(architecture="acgan"), "wgan-gp": dict(architecture="wgan-gp", d_steps=1),
         "infogan": dict(architecture="dcgan", latent_code=True)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from gandash.store.runs import RunStore

    store = RunStore(tmp_path_factory.mktemp("d") / "runs")
    out = {}
    for key, kw in CASES.items():
        run = store.create(tiny("fast", steps=4, **kw))
        assert train(run, install_signal_handlers=False) == "finished"
        out[key] = run
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_the_view_scores_with_the_checkpoints_discriminator(trained, case):
    from gandash.engine.algorithms import build_gan

    run = trained[case]
    cfg = run.config()
    disc = D.load_discriminator(run)
    model = build_gan(cfg)
    load_checkpoint(run, model)
    for mine, theirs in zip(disc.weights, model.discriminator.weights):  # the very weights training left
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
    v = D.view(run, load_generator(run.generator_path), disc, n=40, seed=1)
    assert v.real.shape == v.fake.shape == (40, 28, 28) and v.real_scores.shape == v.fake_scores.shape == (40,)
    assert np.isfinite(v.real_scores).all() and 0 <= v.overlap <= 1
    assert (v.fake_classes is not None) == (case in ("acgan", "infogan"))
    if v.fake_classes is not None:
        np.testing.assert_allclose(v.fake_classes.sum(axis=1), 1, atol=1e-5)
    assert (v.gradient_norms is not None) == (case == "wgan-gp") and v.critic == (case == "wgan-gp")
    if case == "wgan-gp":
        assert v.gradient_norms.shape == (40,) and (v.gradient_norms > 0).all()
    ext = v.extremes(5)
    top = ext["fakes D finds most real"]
    assert v.fake_scores[top[0]] == v.fake_scores.max() and v.fake_scores[ext["fakes D finds most fake"][0]] == \
        v.fake_scores.min() and v.real_scores[ext["real images D finds most fake"][0]] == v.real_scores.min()
    label = int(v.fake_labels[0]) if cfg.is_conditional else None
    heat = D.saliency(disc, cfg, v.fake[0], label)
    assert heat.shape == (28, 28) and heat.max() == pytest.approx(1.0) and heat.min() >= 0


def test_scores_match_the_algorithms_own_discriminator_call(trained):
    from gandash.engine.algorithms import build_gan
    from gandash.engine.data import scale

    run = trained["cgan"]
    cfg = run.config()
    model = build_gan(cfg)
    load_checkpoint(run, model)
    images = np.random.default_rng(0).integers(0, 256, (6, 28, 28)).astype(np.uint8)
    labels = np.arange(6, dtype=np.int32)
    x = scale(images.astype(np.float32), cfg.output_activation)[..., None]
    import tensorflow as tf

    theirs = model.discriminate(tf.constant(x), tf.constant(labels.reshape(-1, 1)), training=False)
    theirs = np.asarray(theirs).reshape(-1)
    mine, _ = D.scores(D.load_discriminator(run), cfg, images, labels)
    np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-5)


def test_overlap_is_one_for_the_same_scores_and_zero_for_separated_ones():
    a = np.random.default_rng(0).normal(size=1000)
    assert D.overlap(a, a) == pytest.approx(1.0)
    assert D.overlap(a, a + 100) == 0.0
    assert 0.2 < D.overlap(a, a + 1.5) < 0.6


def test_a_game_round_is_half_real_and_d_calls_its_lowest_half_generated(trained):
    run = trained["dcgan"]
    v = D.view(run, load_generator(run.generator_path), D.load_discriminator(run), n=30)
    r = D.game_round(v, seed=3)
    assert r.images.shape == (16, 28, 28) and r.generated.sum() == 8 and r.d_says_generated.sum() == 8
    again = D.game_round(v, seed=3)
    np.testing.assert_array_equal(r.images, again.images)  # a seed makes the round repeatable
    assert not np.array_equal(D.game_round(v, seed=4).generated, r.generated) or \
        not np.array_equal(D.game_round(v, seed=4).images, r.images)
    assert D.accuracy(r.generated, r.generated) == 1.0 and D.accuracy(~r.generated, r.generated) == 0.0


def test_a_run_without_a_checkpoint_is_a_clear_error(store):
    run = store.create(tiny("fast"))
    with pytest.raises(D.DiscriminatorError, match="no checkpoint yet"):
        D.load_discriminator(run)
