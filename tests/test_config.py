"""Config validation: presets build, bad values are refused with the field named."""
import dataclasses
import json

import pytest

from gandash.config import (
    PRESETS,
    UNLABELLED_NOTE,
    ConfigError,
    RunConfig,
    config_from_dict,
    fit_to_labels,
    make_config,
    parse_value,
)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_presets_are_valid_and_roundtrip_through_json(preset):
    cfg = make_config(preset)
    again = config_from_dict(json.loads(cfg.to_json()))
    assert again == cfg


def test_preset_recipes_hold_their_published_settings():
    mlp = make_config("mlp-classic")
    assert (mlp.latent_dim, mlp.g_optimizer, mlp.g_lr, mlp.g_clipvalue, mlp.dropout, mlp.real_label) == \
        (64, "rmsprop", 8e-4, 1.0, 0.2, 0.9)
    dc = make_config("dcgan-keras")
    assert (dc.latent_dim, dc.g_lr, dc.g_beta1, dc.upsampling) == (100, 2e-4, 0.5, "upsample")
    ac = make_config("acgan")
    assert ac.is_conditional and ac.real_label - ac.label_noise == pytest.approx(0.8)
    tricks = make_config("dcgan-tricks")
    assert tricks.spectral_norm and tricks.label_flip == 0.05 and tricks.g_lr != tricks.d_lr
    w = make_config("wgan-gp")
    assert w.gp_weight == 10 and w.d_steps == 5


def test_the_default_preset_is_conditional_and_its_twin_finds_the_digits_alone():
    fast, alone = make_config(), make_config("fast-unsupervised")
    assert fast == make_config("fast") and fast.is_conditional and not fast.latent_code
    assert alone.architecture == "dcgan" and alone.latent_code and not alone.is_conditional


@pytest.mark.parametrize("preset, overrides, has_labels, want", [
    ("fast", {}, False, "fast-unsupervised"),  # the default on unlabelled data: its unsupervised twin
    ("fast", {"width": 0.25}, False, "fast-unsupervised"),
    ("fast", {}, True, "fast"),
    ("fast", {"architecture": "cgan"}, False, "fast"),  # asked for by name: kept (the data check refuses it)
    ("acgan", {}, False, "acgan"),
    ("fast-unsupervised", {}, True, "fast-unsupervised"),
])
def test_only_the_default_falls_back_on_data_without_labels(preset, overrides, has_labels, want):
    cfg, note = fit_to_labels(preset, overrides, has_labels)
    assert cfg == make_config(want, overrides)
    assert note == (UNLABELLED_NOTE if want != preset else "")


def test_wgan_without_explicit_penalty_gets_the_usual_weight():
    assert make_config("fast", {"architecture": "wgan-gp"}).gp_weight == 10.0


@pytest.mark.parametrize("overrides", [dict(architecture="cgan"), dict(architecture="acgan"),
                                       dict(architecture="wgan-gp", conditional=True)])
def test_conditional_models_ignore_the_latent_code(overrides):
    cfg = make_config("fast", dict(overrides, latent_code=True))
    assert cfg.is_conditional and not cfg.latent_code
    assert make_config("fast", dict(architecture="wgan-gp", latent_code=True)).latent_code


def test_overrides_parse_text_into_field_types():
    cfg = make_config("fast", {"batch_size": "32", "g_lr": "1e-3", "spectral_norm": "yes"})
    assert (cfg.batch_size, cfg.g_lr, cfg.spectral_norm) == (32, 1e-3, True)


BAD = [
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": -5}, "batch_size"),
    ({"batch_size": "many"}, "batch_size"),
    ({"batch_size": 2.5}, "batch_size"),
    ({"g_lr": -0.1}, "g_lr"),
    ({"d_lr": 0}, "d_lr"),
    ({"d_lr": "nan"}, "d_lr"),
    ({"g_lr": "inf"}, "g_lr"),
    ({"latent_dim": 0}, "latent_dim"),
    ({"latent_dim": 100000}, "latent_dim"),
    ({"architecture": "stylegan"}, "architecture"),
    ({"dataset": "cifar10"}, "dataset"),
    ({"latent_dist": "cauchy"}, "latent_dist"),
    ({"g_optimizer": "lbfgs"}, "g_optimizer"),
    ({"image_size": 30}, "image_size"),
    ({"dropout": 1.0}, "dropout"),
    ({"leaky_slope": -0.2}, "leaky_slope"),
    ({"g_beta1": 1.0}, "g_beta1"),
    ({"real_label": 0.3}, "real_label"),
    ({"label_noise": 0.6}, "label_noise"),
    ({"label_flip": 0.7}, "label_flip"),
    ({"d_steps": 0}, "d_steps"),
    ({"gp_weight": 10}, "gp_weight"),  # penalty on a non-Wasserstein loss
    ({"architecture": "wgan-gp", "gp_weight": -1}, "gp_weight"),
    ({"architecture": "dcgan", "conditional": True}, "conditional"),  # dcgan cannot be conditional
    ({"update": "random"}, "update"),
    ({"code_weight": 0}, "code_weight"),
    ({"augment": 1.5}, "augment"),
    ({"lr_end": 0}, "lr_end"),
    ({"lr_end": 1.5}, "lr_end"),
    ({"lr_end": 0.5, "steps": 0}, "lr_end"),  # a decay needs to know the last step
    ({"augment": 0.5, "jit_compile": True}, "augment"),  # XLA cannot compile the warp
    ({"steps": -1}, "steps"),
    ({"epochs": 0}, "epochs"),
    ({"max_seconds": -3}, "max_seconds"),
    ({"seed": -1}, "seed"),
    ({"log_every": 0}, "log_every"),
    ({"sample_every": 0}, "sample_every"),
    ({"checkpoint_every": 0}, "checkpoint_every"),
    ({"width": 0}, "width"),
    ({"output_activation": "relu"}, "output_activation"),
    ({"upsampling": "pixelshuffle"}, "upsampling"),
    ({"dataset": "custom"}, "data_path"),
    ({"spectral_norm": "maybe"}, "spectral_norm"),
    ({"name": "x" * 101}, "name"),
    ({"no_such_key": 1}, "no_such_key"),
]


@pytest.mark.parametrize("overrides, field", BAD, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD)])
def test_bad_values_are_refused_naming_the_field(overrides, field):
    with pytest.raises(ConfigError) as e:
        make_config("fast", overrides)
    assert field in str(e.value)


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ConfigError, match="fast"):
        make_config("turbo")


def test_conditional_on_data_without_labels_is_refused(tmp_path):
    import numpy as np

    from gandash.engine.data import DataError, load_for_config

    np.savez(tmp_path / "d.npz", images=np.zeros((4, 28, 28), np.uint8))
    cfg = make_config("acgan", {"dataset": "custom", "data_path": str(tmp_path / "d.npz")})
    with pytest.raises(DataError, match="no labels"):
        load_for_config(cfg)


def test_config_from_dict_refuses_garbage():
    with pytest.raises(ConfigError):
        config_from_dict({"batch_size": 0})
    with pytest.raises(ConfigError):
        config_from_dict({"bogus": 1})
    with pytest.raises(ConfigError):
        config_from_dict(["not", "an", "object"])


def test_parse_value_bool_and_errors():
    assert parse_value("batch_norm", "off") is False
    with pytest.raises(ConfigError):
        parse_value("seed", "1.5")
    assert dataclasses.replace(RunConfig(), seed=3).seed == 3


def test_a_config_written_before_projection_existed_keeps_its_discriminator():
    from gandash.config import config_from_dict, make_config

    old = make_config("fast", {"architecture": "cgan"}).to_dict()
    del old["projection"]
    assert config_from_dict(old).projection is False
    assert config_from_dict(make_config("fast", {"architecture": "cgan"}).to_dict()).projection is True


def test_each_setting_is_defined_once_with_its_help_choices_range_and_rule():
    from dataclasses import fields

    from gandash.config import CHOICES, HELP, RunConfig, applies, settings_help

    for f in fields(RunConfig):
        assert f.metadata["help"] and HELP[f.name] == f.metadata["help"]
        assert f.metadata["choices"] or f.metadata["valid"] or f.type in ("bool", "str"), f.name
    assert CHOICES["architecture"] == ("mlp", "dcgan", "cgan", "acgan", "wgan-gp")
    values = RunConfig().to_dict()
    assert applies("g_beta2", values) and not applies("gp_weight", values) and not applies("data_path", values)
    assert applies("gp_weight", {**values, "architecture": "wgan-gp"})
    assert not applies("real_label", {**values, "architecture": "wgan-gp"})  # a critic has no targets
    assert "d_lr (default 0.0004; a number in (0, 10])" in settings_help()


@pytest.mark.parametrize("overrides, field", [({"width": 9.0}, "width"), ({"architecture": "vae"}, "architecture"),
                                              ({"label_noise": 0.45}, "label_noise"), ({"d_lr": "fast"}, "d_lr")])
def test_config_errors_name_their_field(overrides, field):
    with pytest.raises(ConfigError) as e:
        make_config("fast", overrides)
    assert e.value.field == field and str(e.value).startswith(f"{field}: ")
