"""The fused Adam/RMSprop updates are Keras's updates, with the same variables."""
import numpy as np
import pytest

from gandash.engine.optimizers import FusedAdam, FusedRMSprop, make_optimizer
from tests.conftest import tiny


def _train(optimizer, steps=5):
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    optimizer.build(model.trainable_weights)
    rng = np.random.default_rng(1)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_weights), model.trainable_weights))

    for _ in range(steps):
        step(rng.standard_normal((16, 6)).astype("float32"), rng.standard_normal((16, 1)).astype("float32"))
    return model.get_weights(), [v.numpy() for v in optimizer.variables]


@pytest.mark.parametrize("fused, stock, kwargs", [
    (FusedAdam, "Adam", dict(beta_1=0.5, beta_2=0.9)),
    (FusedAdam, "Adam", dict(clipvalue=0.05)),
    (FusedRMSprop, "RMSprop", dict(rho=0.8)),
    (FusedRMSprop, "RMSprop", dict(clipvalue=0.05)),
])
def test_fused_update_matches_keras(fused, stock, kwargs):
    import keras

    w_fused, s_fused = _train(fused(1e-2, **kwargs))
    w_keras, s_keras = _train(getattr(keras.optimizers, stock)(1e-2, **kwargs))
    assert not np.allclose(w_fused[0], _train(fused(1e-2, **kwargs), steps=0)[0][0])  # it did train
    for a, b in zip(w_fused, w_keras):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert len(s_fused) == len(s_keras)  # same optimizer state, so the same checkpoints
    for a, b in zip(s_fused, s_keras):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_make_optimizer_uses_fused_kernels_unless_asked_not_to():
    import keras

    cfg = tiny(g_optimizer="rmsprop", d_optimizer="adam")
    assert isinstance(make_optimizer(cfg, "g"), FusedRMSprop)
    assert isinstance(make_optimizer(cfg, "d"), FusedAdam)
    assert type(make_optimizer(cfg, "d", fused=False)) is keras.optimizers.Adam


def test_lr_end_decays_both_rates_linearly_over_the_run():
    cfg = tiny(steps=100, d_steps=2, g_lr=1e-3, d_lr=2e-3, lr_end=0.25)
    g, d = make_optimizer(cfg, "g"), make_optimizer(cfg, "d")
    for opt in (g, d):
        opt.build([])
    g.iterations.assign(50)  # halfway for G; a quarter of the way for D, which updates twice per step
    d.iterations.assign(50)
    assert float(g.learning_rate) == pytest.approx(1e-3 * (1 - 0.75 * 0.5))
    assert float(d.learning_rate) == pytest.approx(2e-3 * (1 - 0.75 * 0.25))
    g.iterations.assign(100)
    assert float(g.learning_rate) == pytest.approx(2.5e-4)
    constant = make_optimizer(tiny(steps=100, lr_end=1.0), "g")
    constant.build([])
    constant.iterations.assign(100)
    assert float(constant.learning_rate) == pytest.approx(tiny().g_lr)
