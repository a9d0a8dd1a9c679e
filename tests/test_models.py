"""Every architecture builds with the right shapes; saved generators load in safe mode."""
import numpy as np
import pytest

from gandash.config import ARCHITECTURES
from gandash.engine.models import build_networks
from tests.conftest import tiny

CASES = [(a, s) for a in ARCHITECTURES for s in (28, 32, 64)]


@pytest.mark.parametrize("arch, size", CASES)
def test_shapes(arch, size):
    cfg = tiny(architecture=arch, image_size=size)
    g, d = build_networks(cfg)
    n = 3
    z = np.random.default_rng(0).standard_normal((n, cfg.latent_dim)).astype("float32")
    y = np.array([[1], [5], [9]], "int32")
    x = g([z, y] if cfg.takes_label else z).numpy()
    assert x.shape == (n, size, size, 1)
    assert x.min() >= -1 and x.max() <= 1
    out = d([x, y]) if cfg.is_conditional and arch != "acgan" else d(x)
    if arch == "acgan":
        src, cls = out
        assert src.shape == (n, 1) and cls.shape == (n, 10)
    else:
        assert out.shape == (n, 1)


@pytest.mark.parametrize("overrides", [
    dict(architecture="dcgan", upsampling="upsample"),
    dict(architecture="mlp", batch_norm=True, spectral_norm=True),
    dict(architecture="cgan", label_encoding="onehot", projection=False),
    dict(architecture="wgan-gp", conditional=True),
    dict(architecture="cgan", projection=False),
    dict(architecture="wgan-gp", conditional=True, projection=False),
    dict(architecture="dcgan", output_activation="sigmoid"),
])
def test_variants(overrides):
    cfg = tiny(**overrides)
    g, d = build_networks(cfg)
    z = np.zeros((2, cfg.latent_dim), "float32")
    y = np.zeros((2, 1), "int32")
    x = g([z, y] if cfg.takes_label else z).numpy()
    assert x.shape == (2, 28, 28, 1)
    if cfg.output_activation == "sigmoid":
        assert x.min() >= 0
    assert d([x, y] if cfg.is_conditional else x).shape == (2, 1)


@pytest.mark.parametrize("overrides", [dict(architecture="cgan"),
                                       dict(architecture="wgan-gp", conditional=True)])
def test_projection_discriminator_sees_the_image_alone_and_scores_the_label(overrides):
    import keras

    _, d = build_networks(tiny(**overrides, projection=True))
    first_conv = next(layer for layer in d.layers if isinstance(layer, keras.layers.Conv2D))
    assert first_conv.kernel.shape[2] == 1  # no label channel joined to the image
    x = np.repeat(np.random.default_rng(0).uniform(-1, 1, (1, 28, 28, 1)).astype("float32"), 4, axis=0)
    scores = d([x, np.arange(4, dtype="int32").reshape(4, 1)]).numpy().ravel()
    assert len(set(np.round(scores, 6))) == 4  # the same image scores differently per label


@pytest.mark.parametrize("arch", ["mlp", "dcgan", "wgan-gp"])
def test_latent_code_feeds_g_the_code_and_gives_d_a_code_head(arch):
    cfg = tiny(architecture=arch, latent_code=True)
    g, d = build_networks(cfg)
    z = np.repeat(np.random.default_rng(0).standard_normal((1, cfg.latent_dim)).astype("float32"), 10, axis=0)
    codes = np.arange(10, dtype="int32").reshape(10, 1)
    x = g([z, codes], training=False).numpy()
    assert x.shape == (10, 28, 28, 1)
    flat = x.reshape(10, -1)
    gaps = np.abs(flat[:, None] - flat[None]).max(axis=-1)
    assert (gaps + np.eye(10) > 1e-5).all()  # the same z draws a different image for every code
    score, code_logits = d(x)
    assert score.shape == (10, 1) and code_logits.shape == (10, 10)


def test_critic_has_no_batch_norm_or_sigmoid():
    _, critic = build_networks(tiny(architecture="wgan-gp"))
    kinds = {type(layer).__name__ for layer in critic.layers}
    assert "BatchNormalization" not in kinds
    assert critic.layers[-1].get_config().get("activation") in (None, "linear")


def test_transpose_kernels_are_multiples_of_stride():
    g, _ = build_networks(tiny(architecture="dcgan"))
    for layer in g.layers:
        if type(layer).__name__ == "Conv2DTranspose":
            k, s = layer.kernel_size[0], layer.strides[0]
            assert k % s == 0


@pytest.mark.parametrize("overrides", [dict(architecture="cgan"), dict(architecture="dcgan"),
                                       dict(architecture="mlp", latent_code=True)])
def test_generator_saves_and_loads_with_plain_keras(tmp_path, overrides):
    import keras

    cfg = tiny(**overrides)
    g, _ = build_networks(cfg)
    path = tmp_path / "generator.keras"
    g.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    z = np.ones((2, cfg.latent_dim), "float32")
    inp = [z, np.array([[3], [4]], "int32")] if cfg.takes_label else z
    np.testing.assert_allclose(loaded(inp).numpy(), g(inp).numpy(), atol=1e-6)
