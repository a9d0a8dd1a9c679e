"""Training: every architecture and optimizer trains a few steps into a run directory."""
import json

import numpy as np
import pytest
from PIL import Image

from gandash.config import ARCHITECTURES, OPTIMIZERS
from gandash.engine.train import load_checkpoint, train
from tests.conftest import tiny

EXPECTED = {"mlp", "dcgan"}


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_smoke_every_architecture_and_optimizer(store, arch, opt):
    cfg = tiny(architecture=arch, g_optimizer=opt, d_optimizer=opt)
    run = store.create(cfg)
    assert train(run, install_signal_handlers=False) == "finished"
    st = run.status()
    assert st["state"] == "finished" and st["step"] == 3
    rows = run.metrics()
    assert [r["step"] for r in rows] == [1, 2, 3]
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert np.isfinite([r[key] for r in rows]).all(), key
    assert run.sample_steps() == [0, 2, 3]
    grid = Image.open(run.sample_path(3))
    cols = 10 if cfg.takes_label else 8
    assert grid.size == (2 + cols * 30, 2 + cols * 30)
    assert run.generator_path.exists() and run.checkpoint_path.exists()


def test_acgan_logs_class_losses_and_wgan_logs_penalty(store):
    run = store.create(tiny(architecture="acgan"))
    train(run, install_signal_handlers=False)
    assert {"d_class_loss", "g_class_loss", "d_class_acc"} <= set(run.metrics()[0])
    run = store.create(tiny(architecture="wgan-gp", d_steps=2))
    train(run, install_signal_handlers=False)
    row = run.metrics()[-1]
    assert row["gp"] >= 0 and np.isfinite(row["wasserstein"])


def test_latent_code_is_learned_by_d_and_g(store):
    """InfoGAN: both networks minimise the code loss, so D soon reads the code from G's images."""
    run = store.create(tiny(latent_code=True, steps=120, log_every=20, sample_every=120, checkpoint_every=120,
                            d_lr=1e-3, g_lr=1e-3))
    assert train(run, install_signal_handlers=False) == "finished"
    rows = run.metrics()
    assert rows[0]["code_loss"] > 1.5  # chance level is ln 10 = 2.30
    assert rows[-1]["code_loss"] < 0.5 * rows[0]["code_loss"]
    assert rows[-1]["code_acc"] > 0.8
    assert Image.open(run.sample_path(120)).size == (2 + 10 * 30, 2 + 10 * 30)  # one column per code


def test_fixed_noise_grid_is_the_same_every_time(store):
    """Two runs with one seed draw the same initial grid; a different seed differs."""
    a, b, c = (store.create(tiny(seed=s, steps=1)) for s in (7, 7, 8))
    for r in (a, b, c):
        train(r, install_signal_handlers=False)
    pa, pb, pc = (np.asarray(Image.open(r.sample_path(0))) for r in (a, b, c))
    assert (pa == pb).all() and not (pa == pc).all()


def test_the_default_presets_grid_has_one_column_per_digit_from_the_first_grid_on(store):
    from gandash.config import make_config
    from gandash.explore.sampling import fixed_grid_inputs, grid_columns

    cfg = make_config()
    z, labels = fixed_grid_inputs(cfg)
    assert grid_columns(cfg) == 10 and (labels.reshape(10, 10) == np.arange(10)).all()  # column k asks for k
    run = store.create(tiny("fast", architecture="cgan", steps=1))
    train(run, install_signal_handlers=False)
    assert np.asarray(Image.open(run.sample_path(0))).shape[1] == 10 * 28 + 11 * 2  # ten columns at step 0


def test_resume_continues_without_repeating_rows(store):
    """A trainer that died after step 4 with its last checkpoint at step 2 resumes from 2."""
    import shutil

    run = store.create(tiny(steps=2, checkpoint_every=2))
    train(run, install_signal_handlers=False)
    shutil.copy(run.checkpoint_path, run.dir / "ck2.npz")
    run.config_path.write_text(tiny(steps=4, checkpoint_every=2).to_json())
    train(run, install_signal_handlers=False)
    assert [int(r["step"]) for r in run.metrics()] == [1, 2, 3, 4]
    shutil.copy(run.dir / "ck2.npz", run.checkpoint_path)  # the step-4 checkpoint never landed
    run.config_path.write_text(tiny(steps=6, checkpoint_every=2).to_json())
    assert train(run, install_signal_handlers=False) == "finished"
    assert [int(r["step"]) for r in run.metrics()] == [1, 2, 3, 4, 5, 6]


def test_checkpoint_restores_weights_optimizers_and_rng(store):
    from gandash.engine.algorithms import build_gan

    cfg = tiny(steps=2)
    run = store.create(cfg)
    train(run, install_signal_handlers=False)
    a, b = build_gan(cfg), build_gan(cfg)
    load_checkpoint(run, a)
    load_checkpoint(run, b)
    assert int(a.g_optimizer.iterations.numpy()) == 2
    for va, vb in zip(a.generator.weights + a.d_optimizer.variables,
                      b.generator.weights + b.d_optimizer.variables):
        np.testing.assert_array_equal(np.asarray(va), np.asarray(vb))
    np.testing.assert_array_equal(a.sample_z(4).numpy(), b.sample_z(4).numpy())


def test_divergence_stops_as_diverged_keeping_last_good_checkpoint(store):
    cfg = tiny(architecture="mlp", g_optimizer="sgd", d_optimizer="sgd", g_lr=10.0, d_lr=10.0,
               steps=200, checkpoint_every=1, sample_every=100, batch_norm=False, dropout=0.0,
               g_beta1=0.9, d_beta1=0.9)
    run = store.create(cfg)
    assert train(run, install_signal_handlers=False) == "diverged"
    st = run.status()
    assert st["state"] == "diverged" and "NaN" in st["error"]
    bad_step = int(st["error"].rsplit(" ", 1)[-1])
    from gandash.engine.algorithms import build_gan
    model = build_gan(cfg)
    step, _ = load_checkpoint(run, model)
    assert step < bad_step
    assert all(np.isfinite(np.asarray(w)).all() for w in model.generator.weights)
    import keras
    keras.saving.load_model(run.generator_path, safe_mode=True)


def test_max_seconds_stops_cleanly(store):
    run = store.create(tiny(steps=100000, max_seconds=0.001, log_every=2))
    assert train(run, install_signal_handlers=False) == "finished"
    st = run.status()
    assert st["step"] == 2 and "max_seconds" in st["error"]
    assert json.loads(run.config_path.read_text())["max_seconds"] == 0.001


def test_status_records_the_start_up_phases_before_the_first_step(store):
    run = store.create(tiny(steps=4, log_every=2, steps_per_execution=2))
    assert train(run, install_signal_handlers=False) == "finished"
    st = run.status()
    phases = st["startup"]
    assert set(phases) == {"process", "imports", "data", "build", "first grid", "first steps"}
    assert all(isinstance(v, float) and v >= 0 for v in phases.values())
    assert phases["imports"] + phases["first steps"] > 0  # Keras and the step's tracing take time
    assert sum(phases.values()) <= st["finished"] - st["created"] + 0.05  # they fit inside the run's life
    run.config_path.write_text(tiny(steps=6, log_every=2, steps_per_execution=2).to_json())
    assert train(run, install_signal_handlers=False) == "finished"
    assert "process" not in run.status()["startup"]  # a resumed run was not just created
    assert "first steps" in run.status()["startup"]


def test_data_gone_by_the_time_it_trains_fails_with_clear_status(store, tmp_path):
    from gandash.store.runs import RunError

    with pytest.raises(RunError, match="does not exist"):  # refused at submission
        store.create(tiny(dataset="custom", data_path=str(tmp_path / "missing.npz")))
    data = tmp_path / "gone.npz"
    np.savez(data, images=np.zeros((40, 28, 28), np.uint8))
    run = store.create(tiny(dataset="custom", data_path=str(data)))
    data.unlink()  # deleted while the run waited its turn
    assert train(run, install_signal_handlers=False) == "failed"
    assert "DataError" in run.status()["error"]


def test_samples_come_from_the_weight_average(store):
    """With ema on, generator.keras holds the averaged weights; with ema=0 the raw ones."""
    import keras

    from gandash.engine.algorithms import build_gan

    for ema in (0.999, 0.0):
        cfg = tiny(steps=4, ema=ema)
        run = store.create(cfg)
        train(run, install_signal_handlers=False)
        model = build_gan(cfg)
        load_checkpoint(run, model)
        saved = keras.saving.load_model(run.generator_path, safe_mode=True).get_weights()
        raw = model.generator.get_weights()
        if ema:
            avg = model.ema_generator.get_weights()
            assert all(np.array_equal(a, b) for a, b in zip(saved, avg))
            assert not all(np.array_equal(a, b) for a, b in zip(avg, raw))
        else:
            assert model.ema_generator is None
            assert all(np.array_equal(a, b) for a, b in zip(saved, raw))


def _one_step(cfg):
    """Weights of D and G after one train_step on a fixed batch (same seed, same noise)."""
    import keras
    import tensorflow as tf

    from gandash.engine.algorithms import build_gan

    keras.utils.set_random_seed(0)
    model = build_gan(cfg)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (cfg.batch_size, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, cfg.batch_size).astype("int32")
    model.train_step((tf.constant(x), tf.constant(y)))
    return model.discriminator.get_weights(), model.generator.get_weights()


@pytest.mark.parametrize("arch", ["dcgan", "acgan", "wgan-gp"])
def test_simultaneous_update_trains_g_against_d_before_its_update(arch):
    """simultaneous: D's update is the alternating one, and G's update is the one G would get if
    D had not moved; alternating: G's update sees the moved D. (No augmentation: G's own D pass
    would draw other turns and shifts than the shared one.)"""
    base = dict(architecture=arch, batch_norm=False, dropout=0.0, d_optimizer="sgd", d_beta1=0.0, ema=0.0,
                augment=0.0)
    big, small = dict(d_lr=1.0), dict(d_lr=1e-9)
    d_alt, g_alt = _one_step(tiny(**base, **big))
    d_sim, g_sim = _one_step(tiny(**base, **big, update="simultaneous"))
    _, g_still = _one_step(tiny(**base, **small))
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(d_alt, d_sim))
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(g_sim, g_still))
    assert not all(np.allclose(a, b, atol=1e-5) for a, b in zip(g_alt, g_sim))


@pytest.mark.parametrize("arch", ["mlp", "cgan", "wgan-gp"])
def test_simultaneous_update_trains_every_architecture(store, arch):
    run = store.create(tiny(architecture=arch, update="simultaneous"))
    assert train(run, install_signal_handlers=False) == "finished"
    assert np.isfinite([r["g_loss"] for r in run.metrics()]).all()


@pytest.mark.parametrize("precision", [{"mixed_precision": True}, {"bfloat16": True}], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("arch", ["mlp", "cgan", "acgan", "wgan-gp"])
def test_reduced_precision_trains_every_algorithm(store, arch, precision):
    """float16 (with loss scaling) and bfloat16: finite losses, float32 images and weights, and the precision on the
    run's device line. The MLP's image left G in bfloat16 before its reshape was moved in front of the output."""
    import keras

    from gandash.explore.sampling import generate, load_generator

    run = store.create(tiny(architecture=arch, **precision))
    try:
        assert train(run, install_signal_handlers=False) == "finished"
        assert np.isfinite([r["d_loss"] for r in run.metrics()]).all()
        from gandash.engine.distribute import EMULATED_BF16, cpu_has_bf16

        bf16 = EMULATED_BF16 if cpu_has_bf16() is False else "bfloat16"  # on an AVX2 CPU: it warns it is emulated
        assert run.status()["device"].endswith(", float16" if "mixed_precision" in precision else f", {bf16}")
        gen = load_generator(run.generator_path)
        assert all(w.dtype == "float32" for w in gen.weights)
        cfg = run.config()
        images = generate(gen, cfg, np.zeros((2, cfg.latent_dim), np.float32),
                          np.zeros(2, np.int32) if cfg.takes_label else None)
        assert images.dtype == np.uint8 and images.shape == (2, 28, 28)
    finally:
        keras.mixed_precision.set_global_policy("float32")  # the policy is global: leave none to the next test


def test_one_reduced_precision_at_a_time():
    from gandash.config import ConfigError, validate

    with pytest.raises(ConfigError, match="bfloat16: True is not allowed; expected off with mixed_precision on"):
        validate(tiny(mixed_precision=True, bfloat16=True))


def test_input_pipeline_gives_scaled_shuffled_batches_without_the_autotuner():
    from gandash.engine.data import Dataset, make_pipeline

    images = np.repeat(np.arange(40, dtype=np.uint8)[:, None, None] * 6, 28 * 28).reshape(40, 28, 28)
    ds = Dataset(images, np.arange(40) % 10)
    cfg = tiny(batch_size=8)
    pipe = make_pipeline(ds, cfg, seed=0)
    # The autotuner stalls a finished fit on small CPUs until its optimisation loop wakes.
    assert pipe.options().autotune.enabled is False
    batches = [b for _, b in zip(range(10), pipe)]  # two passes over the 40 images
    x, y = batches[0]
    assert x.shape == (8, 28, 28, 1) and x.dtype.name == "float32" and y.dtype.name == "int32"
    assert -1.0 <= float(np.min(x)) and float(np.max(x)) <= 1.0  # tanh range
    first_pass = np.concatenate([b[0][:, 0, 0, 0].numpy() for b in batches[:5]])
    pixel_of = (first_pass + 1) / 2 * 255 / 6  # back to the image index
    np.testing.assert_allclose(np.sort(pixel_of), np.arange(40), atol=1e-3)  # each image once per pass
    assert not np.allclose(pixel_of, np.arange(40))  # shuffled
    labels = np.concatenate([b[1].numpy() for b in batches[:5]])
    np.testing.assert_array_equal(labels, np.round(pixel_of).astype(int) % 10)  # labels stay with their images


def test_warp_turns_and_shifts_images_and_passes_gradients():
    import tensorflow as tf

    from gandash.engine.augment import warp

    img = np.full((2, 6, 6, 1), -1.0, np.float32)
    img[:, 1, 4] = 1.0  # one bright pixel, off centre
    x = tf.constant(img)
    none = warp(x, tf.zeros(2), tf.zeros((2, 2)), -1.0).numpy()
    np.testing.assert_allclose(none, img, atol=1e-6)
    quarter = warp(x, tf.constant([np.pi / 2, 0.0]), tf.constant([[0.0, 0.0], [1.0, 0.0]]), -1.0).numpy()
    np.testing.assert_allclose(quarter[0, ..., 0], np.rot90(img[0, ..., 0], 1), atol=1e-5)  # a quarter turn
    shifted = np.full((6, 6), -1.0, np.float32)
    shifted[1, 3] = 1.0  # the source is read one pixel to the right: the image moves left; -1 comes in
    np.testing.assert_allclose(quarter[1, ..., 0], shifted, atol=1e-6)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(warp(x, tf.constant([0.3, -0.2]), tf.constant([[0.5, 0.0], [0.0, -1.5]]), -1.0))
    assert np.abs(tape.gradient(total, x).numpy()).sum() > 0


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_augment_changes_that_share_of_images_only_while_training(share):
    from gandash.engine.algorithms import build_gan

    model = build_gan(tiny(augment=share, latent_code=False))
    x = np.random.default_rng(0).uniform(-1, 1, (400, 28, 28, 1)).astype(np.float32)
    changed = (np.abs(np.asarray(model.augmenter(x, training=True)) - x) > 1e-4).any(axis=(1, 2, 3))
    assert abs(changed.mean() - share) < 0.08
    np.testing.assert_array_equal(model.augmenter(x, training=False), x)  # evaluation sees the images as they are


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_architecture_trains_with_augmentation(store, arch):
    run = store.create(tiny(architecture=arch, augment=0.5, latent_code=arch in EXPECTED))
    assert train(run, install_signal_handlers=False) == "finished"
    assert np.isfinite([r["d_loss"] for r in run.metrics()]).all()
