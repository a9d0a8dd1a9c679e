"""RunConfig: every hyperparameter of a run, its validation, and the named presets.

The config is a frozen dataclass written to ``config.json`` beside the weights and
rebuilt with ``RunConfig(**json.load(f))``. ``make_config`` is the single way a
config is built from user input (preset + overrides); it refuses anything invalid
with a :class:`ConfigError` that names the field and the allowed values.
"""
from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from gandash.errors import GandashError

ARCHITECTURES = ("mlp", "dcgan", "cgan", "acgan", "wgan-gp")
CONDITIONAL_ONLY = ("cgan", "acgan")
DATASETS = ("mnist", "fashion_mnist", "custom")
LATENT_DISTS = ("normal", "uniform", "sphere")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
OUTPUT_ACTIVATIONS = ("tanh", "sigmoid")
IMAGE_SIZES = (28, 32, 64)
DISTRIBUTE = ("none", "mirrored", "multiworker")
DCGAN_UPSAMPLING = ("transpose", "upsample")
LABEL_ENCODINGS = ("embedding", "onehot")
UPDATES = ("alternating", "simultaneous")
NUM_CLASSES = 10


class ConfigError(GandashError):
    """A config value is out of range; the message names the field, and ``field`` holds it ("" when
    the error is not one field's, such as an unknown preset)."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


def setting(default: Any, help: str, *, choices: tuple = (), valid: Callable[[Any], bool] | None = None,
            allowed: str = "", applies: Callable[[Mapping[str, Any]], bool] | None = None):
    """A RunConfig field with everything about it in one place: its default, its help text, its
    choices or its valid range (``valid`` and the words for it, ``allowed``), and when it applies
    (a function of the other values; the Train page hides a field that does not)."""
    return dataclasses.field(default=default, metadata={
        "help": help, "choices": tuple(choices), "valid": valid,
        "allowed": allowed or " / ".join(map(str, choices)), "applies": applies})


def _conditional(v: Mapping[str, Any]) -> bool:
    return v["architecture"] in CONDITIONAL_ONLY or (v["architecture"] == "wgan-gp" and bool(v["conditional"]))


def _has_targets(v: Mapping[str, Any]) -> bool:
    return v["architecture"] != "wgan-gp"  # a critic has no real/fake targets to smooth, noise or flip


@dataclass(frozen=True)
class RunConfig:
    """All settings of one training run. The defaults are the base of every preset (``fast``
    changes a few of them, see :data:`PRESETS`)."""

    name: str = setting("", "Free-text label shown in the dashboard.",
        valid=lambda v: len(v) <= 100, allowed="at most 100 characters")
    study: str = setting("", "The study this run belongs to (set by a study; empty for a run of its own).",
        valid=lambda v: len(v) <= 64, allowed="a study id of at most 64 characters")
    # data
    dataset: str = setting("mnist", "mnist, fashion_mnist, or custom (an .npz or a folder of images in data_path).",
        choices=DATASETS)
    data_path: str = setting("", "For dataset=custom: an .npz with 'images' (+ optional 'labels') or a folder of "
                                 "PNG/JPEG files.",
        applies=lambda v: False)
    image_size: int = setting(28, "Side of generated images: 28, or upscaled 32/64.",
        choices=IMAGE_SIZES)
    output_activation: str = setting("tanh", "tanh (data in [-1, 1]) or sigmoid (data in [0, 1]).",
        choices=OUTPUT_ACTIVATIONS)
    # model
    architecture: str = setting("dcgan", "mlp, dcgan, cgan (conditional), acgan (auxiliary classifier), wgan-gp.",
        choices=ARCHITECTURES)
    conditional: bool = setting(False, "wgan-gp only: feed the class label to generator and critic.",
        applies=lambda v: v["architecture"] == "wgan-gp")
    label_encoding: str = setting("embedding", "Conditional models: learned embedding or one-hot label.",
        choices=LABEL_ENCODINGS, applies=_conditional)
    projection: bool = setting(True, "cgan / conditional wgan-gp: the discriminator scores the label by projecting a "
                                     "label embedding onto its features (Miyato & Koyama 2018); off, the label joins "
                                     "the image as a channel.",
        applies=lambda v: v["architecture"] == "cgan" or (v["architecture"] == "wgan-gp" and bool(v["conditional"])))
    latent_code: bool = setting(False, "InfoGAN (Chen et al. 2016), unconditional models: G also gets a random 10-way"
                                       " code and D learns to tell which code made an image, so each code becomes one"
                                       " distinct kind of image. Uses no labels; conditional models, which are given "
                                       "the digit, ignore it.",
        applies=lambda v: not _conditional(v))
    code_weight: float = setting(1.0, "With latent_code: weight λ of the code loss for both networks (InfoGAN uses "
                                      "1).",
        valid=lambda v: 0 < v <= 100, allowed="a number in (0, 100]",
        applies=lambda v: not _conditional(v) and bool(v["latent_code"]))
    latent_dim: int = setting(64, "Size of the noise vector z.",
        valid=lambda v: 1 <= v <= 1024, allowed="an integer from 1 to 1024")
    latent_dist: str = setting("normal", "normal N(0, 1), uniform U(-1, 1), or sphere (normal projected to the unit "
                                         "sphere).",
        choices=LATENT_DISTS)
    width: float = setting(0.5, "Multiplier on every layer's width (0.5 = half the channels).",
        valid=lambda v: 0.0625 <= v <= 4, allowed="a number from 0.0625 to 4")
    dropout: float = setting(0.0, "Dropout rate in the discriminator.",
        valid=lambda v: 0 <= v < 1, allowed="a number in [0, 1)")
    leaky_slope: float = setting(0.2, "Negative slope of LeakyReLU.",
        valid=lambda v: 0 <= v < 1, allowed="a number in [0, 1)")
    batch_norm: bool = setting(True, "Batch normalisation in the generator.")
    spectral_norm: bool = setting(False, "Spectral normalisation on the discriminator's layers.")
    upsampling: str = setting("transpose", "dcgan-style generators: strided Conv2DTranspose or UpSampling2D+Conv2D.",
        choices=DCGAN_UPSAMPLING, applies=lambda v: v["architecture"] != "mlp")
    # optimisation
    batch_size: int = setting(64, "Images per training step.",
        valid=lambda v: 1 <= v <= 4096, allowed="an integer from 1 to 4096")
    epochs: int = setting(1, "Passes over the data (used when steps is 0).",
        valid=lambda v: 1 <= v <= 10000, allowed="an integer from 1 to 10000", applies=lambda v: v["steps"] == 0)
    steps: int = setting(1500, "Generator steps to train; overrides epochs when > 0.",
        valid=lambda v: 0 <= v <= 10_000_000, allowed="an integer from 0 (use epochs) to 10000000")
    max_seconds: float = setting(0.0, "Stop cleanly after this much training time (0 = no limit).",
        valid=lambda v: 0 <= v <= 30 * 86400, allowed="0 (no limit) to 2592000")
    g_optimizer: str = setting("adam", "Generator optimizer: adam, rmsprop or sgd.",
        choices=OPTIMIZERS)
    d_optimizer: str = setting("adam", "Discriminator optimizer: adam, rmsprop or sgd.",
        choices=OPTIMIZERS)
    g_lr: float = setting(2e-4, "Generator learning rate.",
        valid=lambda v: 0 < v <= 10, allowed="a number in (0, 10]")
    d_lr: float = setting(4e-4, "Discriminator learning rate.",
        valid=lambda v: 0 < v <= 10, allowed="a number in (0, 10]")
    g_beta1: float = setting(0.5, "Adam β1 (generator); SGD momentum when the optimizer is sgd.",
        valid=lambda v: 0 <= v < 1, allowed="a number in [0, 1)",
        applies=lambda v: v["g_optimizer"] in ("adam", "sgd"))
    g_beta2: float = setting(0.999, "Adam β2 (generator).",
        valid=lambda v: 0 <= v < 1, allowed="a number in [0, 1)", applies=lambda v: v["g_optimizer"] == "adam")
    d_beta1: float = setting(0.5, "Adam β1 (discriminator); SGD momentum when the optimizer is sgd.",
        valid=lambda v: 0 <= v < 1, allowed="a number in [0, 1)",
        applies=lambda v: v["d_optimizer"] in ("adam", "sgd"))
    d_beta2: float = setting(0.999, "Adam β2 (discriminator).",
        valid=lambda v: 0 <= v < 1, allowed="a number in [0, 1)", applies=lambda v: v["d_optimizer"] == "adam")
    g_clipvalue: float = setting(0.0, "Clip each gradient value of the generator (0 = off).",
        valid=lambda v: 0 <= v <= 1000, allowed="0 (off) to 1000")
    d_clipvalue: float = setting(0.0, "Clip each gradient value of the discriminator (0 = off).",
        valid=lambda v: 0 <= v <= 1000, allowed="0 (off) to 1000")
    lr_end: float = setting(1.0, "Both learning rates fall linearly from g_lr / d_lr at the first step to this share "
                                 "of them at the last (1 = constant). Needs a number of steps (steps > 0).",
        valid=lambda v: 0 < v <= 1, allowed="a share in (0, 1]", applies=lambda v: v["steps"] != 0)
    # stabilisation tricks
    real_label: float = setting(0.9, "Target for real images; 0.9 is one-sided label smoothing.",
        valid=lambda v: 0.5 < v <= 1, allowed="a number in (0.5, 1]", applies=_has_targets)
    label_noise: float = setting(0.0, "Noisy labels: real targets drawn in [real_label-noise, real_label], fake in "
                                      "[0, noise].",
        valid=lambda v: 0 <= v <= 0.5, allowed="a number in [0, 0.5]", applies=_has_targets)
    label_flip: float = setting(0.0, "Probability of swapping real and fake targets for the discriminator.",
        valid=lambda v: 0 <= v < 0.5, allowed="a probability in [0, 0.5)", applies=_has_targets)
    d_steps: int = setting(1, "Discriminator (critic) steps per generator step.",
        valid=lambda v: 1 <= v <= 20, allowed="an integer from 1 to 20")
    update: str = setting("alternating", "alternating: G is trained against the just-updated D (the classic recipes);"
                                         " simultaneous: both take gradients from one D pass (faster; as in the "
                                         "TensorFlow DCGAN tutorial).",
        choices=UPDATES)
    gp_weight: float = setting(0.0, "Gradient-penalty weight λ (wgan-gp only; 0 means 10).",
        valid=lambda v: 0 <= v <= 1000, allowed="0 to 1000", applies=lambda v: v["architecture"] == "wgan-gp")
    ema: float = setting(0.999, "Sample from a moving average of the generator's weights with this decay (0 = off; "
                                "0.999 typical).",
        valid=lambda v: v == 0 or 0.5 <= v < 1, allowed="0 (off) or a decay in [0.5, 1)")
    augment: float = setting(0.0, "Share of the images D sees, real and fake alike, that are first turned by up to "
                                  "20° and shifted by up to 1/14 of their side (differentiable augmentation, Zhao et "
                                  "al. 2020; ADA with a fixed p). G's gradients pass through it. 0 = off. Too much "
                                  "hides a lack of variety from D: at 1 the fast-unsupervised preset drew one fixed "
                                  "image per code.",
        valid=lambda v: 0 <= v <= 1, allowed="a share in [0, 1]")
    # schedule
    seed: int = setting(0, "Random seed: weights, noise, data order and the fixed sample grid.",
        valid=lambda v: 0 <= v < 2**31, allowed="an integer from 0 to 2147483647")
    log_every: int = setting(10, "Write a metrics row every this many steps.",
        valid=lambda v: 1 <= v <= 100_000, allowed="an integer from 1 to 100000")
    sample_every: int = setting(100, "Save the fixed-noise sample grid every this many steps.",
        valid=lambda v: 1 <= v <= 10_000_000, allowed="an integer from 1 to 10000000")
    checkpoint_every: int = setting(200, "Save a resumable checkpoint every this many steps.",
        valid=lambda v: 1 <= v <= 10_000_000, allowed="an integer from 1 to 10000000")
    eval_every: int = setting(0, "Compute quality metrics every this many steps (0 = off).",
        valid=lambda v: 0 <= v <= 10_000_000, allowed="0 (off) to 10000000")
    eval_seconds: float = setting(0.0, "Also compute quality metrics every this many seconds of training (0 = off); "
                                       "the time spent evaluating is not counted as training time.",
        valid=lambda v: 0 <= v <= 30 * 86400, allowed="0 (off) to 2592000")
    eval_samples: int = setting(2000, "Samples scored per in-training evaluation; the last one scores at least 2000 "
                                      "(what leaderboards read). 500 take about a quarter of the time of 2000.",
        valid=lambda v: 100 <= v <= 100_000, allowed="an integer from 100 to 100000",
        applies=lambda v: bool(v["eval_every"] or v["eval_seconds"]))
    probe_every: int = setting(250, "Judge the images every this many steps for the health alerts (0 = off): the "
                                    "evaluator scores 300 samples, off the training clock. Only while eval_every "
                                    "and eval_seconds are off, whose evaluations serve instead.",
        valid=lambda v: 0 <= v <= 10_000_000, allowed="0 (off) to 10000000",
        applies=lambda v: not (v["eval_every"] or v["eval_seconds"]))
    steps_per_execution: int = setting(10, "Training steps run per compiled call (higher = less Python overhead).",
        valid=lambda v: 1 <= v <= 1000, allowed="an integer from 1 to 1000")
    jit_compile: bool = setting(False, "Compile the training step with XLA.")
    # scale
    distribute: str = setting("none", "none (one device), mirrored (all local GPUs), multiworker (the hosts in "
                                      "TF_CONFIG).",
        choices=DISTRIBUTE)
    mixed_precision: bool = setting(False, "Compute in float16 with loss scaling (for GPUs with tensor cores).")
    bfloat16: bool = setting(False, "Compute in bfloat16 (CPUs with AVX512-BF16 or AMX, recent GPUs): faster "
                                    "convolutions where the hardware has them, no loss scaling needed. Not with "
                                    "mixed_precision. On a CPU without them it is emulated and several times slower "
                                    "(the device line says so).")

    @property
    def is_conditional(self) -> bool:
        return self.architecture in CONDITIONAL_ONLY or (
            self.architecture == "wgan-gp" and self.conditional
        )

    @property
    def takes_label(self) -> bool:
        """The generator has a second input: the digit (conditional) or the latent code (InfoGAN)."""
        return self.is_conditional or self.latent_code

    @property
    def num_classes(self) -> int:
        return NUM_CLASSES

    @property
    def channels(self) -> int:
        return 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


FIELD_TYPES: dict[str, type] = {
    f.name: type(f.default) for f in fields(RunConfig)
}

HELP: dict[str, str] = {f.name: f.metadata["help"] for f in fields(RunConfig)}
CHOICES: dict[str, tuple] = {f.name: f.metadata["choices"] for f in fields(RunConfig) if f.metadata["choices"]}


def applies(name: str, values: Mapping[str, Any]) -> bool:
    """Whether a setting means anything given the others (``values``: every field by name)."""
    rule = FIELD_METADATA[name]["applies"]
    return rule is None or bool(rule(values))


FIELD_METADATA = {f.name: f.metadata for f in fields(RunConfig)}


def settings_help() -> str:
    """Every setting with its default, what it accepts and what it does (``train --help``)."""
    import textwrap

    lines = ["settings (--set KEY=VALUE; the preset's values replace these defaults):"]
    for f in fields(RunConfig):
        kind = FIELD_TYPES[f.name]
        accepts = f.metadata["allowed"] or ("true / false" if kind is bool else kind.__name__)
        lines.append(f"  {f.name} (default {f.default!r}; {accepts})")
        lines.extend(textwrap.wrap(f.metadata["help"], 96, initial_indent=" " * 6, subsequent_indent=" " * 6))
    return "\n".join(lines)


def _check(cond: bool, field: str, allowed: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"{field}: {value!r} is not allowed; expected {allowed}", field)


def _finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def validate(cfg: RunConfig) -> RunConfig:
    """Check every field; return the config with architecture defaults filled in."""
    for f in fields(RunConfig):  # each field on its own: type, then its choices or range
        value = getattr(cfg, f.name)
        want = FIELD_TYPES[f.name]
        ok = isinstance(value, want) and not (want is not bool and isinstance(value, bool))
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        _check(ok, f.name, want.__name__, value)
        if want is float:
            _check(_finite(value), f.name, "a finite number", value)
        meta = f.metadata
        if meta["choices"]:
            _check(value in meta["choices"], f.name, meta["allowed"], value)
        if meta["valid"] is not None:
            _check(meta["valid"](value), f.name, meta["allowed"], value)
    # rules across fields
    if cfg.dataset == "custom":
        _check(bool(cfg.data_path), "data_path", "a path to an .npz file or an image folder", cfg.data_path)
    _check(cfg.lr_end == 1 or cfg.steps > 0, "lr_end", "1 when training by epochs (steps 0)", cfg.lr_end)
    _check(cfg.real_label - cfg.label_noise > cfg.label_noise, "label_noise",
           "less than half of real_label (real and fake target ranges must not overlap)", cfg.label_noise)
    _check(not (cfg.bfloat16 and cfg.mixed_precision), "bfloat16",
           "off with mixed_precision on (one reduced precision at a time): turn one of them off", cfg.bfloat16)
    _check(not (cfg.augment and cfg.jit_compile), "augment",
           "0 with jit_compile on (XLA has no kernel for the image warp); turn one of them off", cfg.augment)
    if cfg.architecture != "wgan-gp":
        _check(cfg.gp_weight == 0, "gp_weight",
               "0: a gradient penalty needs the Wasserstein loss (architecture wgan-gp)", cfg.gp_weight)
        _check(not cfg.conditional or cfg.architecture in CONDITIONAL_ONLY, "conditional",
               "false for mlp/dcgan (use cgan or acgan for a conditional model)", cfg.conditional)
    if cfg.architecture == "wgan-gp" and cfg.gp_weight == 0:
        cfg = dataclasses.replace(cfg, gp_weight=10.0)
    if cfg.latent_code and cfg.is_conditional:  # they are given the digit; the code is for unconditional ones
        cfg = dataclasses.replace(cfg, latent_code=False)
    if cfg.steps_per_execution > cfg.log_every:
        cfg = dataclasses.replace(cfg, steps_per_execution=cfg.log_every)
    return cfg


DEFAULT_PRESET = "fast"  # the one-click start, the Train page's first choice, `python -m gandash train`
UNSUPERVISED_PRESET = "fast-unsupervised"  # what the default falls back to on data without labels

PRESETS: dict[str, dict[str, Any]] = {
    # The default: a small conditional DCGAN (projection discriminator) that draws the digit it is
    # asked for: no dropout, one-sided label smoothing 0.9, samples from the weight average, 60% of
    # D's inputs turned and shifted a little. Its rates start at twice fast-unsupervised's (D at
    # twice G's), which makes its digits recognisable in fewer steps (about 500 rather than 700-800,
    # well within 30 s on 2 CPU cores), and fall linearly to a quarter of that by the last step.
    # BENCHMARKS.md has its figures on three seeds, after 30 s and 5 minutes.
    "fast": dict(architecture="cgan", augment=0.6, batch_size=32, g_lr=8e-4, d_lr=1.6e-3, lr_end=0.25,
                 steps=9000),
    # The same DCGAN without labels: an InfoGAN code, small batches at twice the usual rates, and
    # 60% of D's inputs turned and shifted a little (without it two codes tend to settle on 1s,
    # slanted and upright, and a digit goes missing). It finds the digits without being told them.
    UNSUPERVISED_PRESET: dict(latent_code=True, augment=0.6, batch_size=32, g_lr=4e-4, d_lr=8e-4, steps=10500),
    # keras-io "GAN overriding train_step" style MLP GAN.
    "mlp-classic": dict(
        architecture="mlp", ema=0.0, latent_dim=64, g_optimizer="rmsprop", d_optimizer="rmsprop",
        g_lr=8e-4, d_lr=8e-4, g_clipvalue=1.0, d_clipvalue=1.0, dropout=0.2, real_label=0.9,
        width=1.0, batch_norm=False, steps=5000, batch_size=64,
    ),
    # Keras-GAN DCGAN: z 100, Adam 2e-4 β1 0.5, UpSampling2D generator.
    "dcgan-keras": dict(
        architecture="dcgan", ema=0.0, latent_dim=100, upsampling="upsample", g_lr=2e-4, d_lr=2e-4,
        g_beta1=0.5, d_beta1=0.5, dropout=0.25, real_label=1.0, width=1.0, batch_size=32, steps=4000,
    ),
    # AC-GAN with noisy labels (real 0.8-1.0, fake 0-0.2).
    "acgan": dict(
        architecture="acgan", ema=0.0, latent_dim=100, g_lr=2e-4, d_lr=2e-4, g_beta1=0.5, d_beta1=0.5,
        real_label=1.0, label_noise=0.2, dropout=0.25, width=0.5, batch_size=64, steps=3000,
    ),
    # DCGAN with the usual tricks: label noise, 5% flips, spectral norm, separate rates (TTUR).
    "dcgan-tricks": dict(
        architecture="dcgan", ema=0.0, latent_dim=100, label_noise=0.1, label_flip=0.05, spectral_norm=True,
        dropout=0.3, real_label=1.0, g_lr=1e-4, d_lr=4e-4, g_beta1=0.5, d_beta1=0.5, width=0.5, steps=3000,
    ),
    # WGAN-GP (Gulrajani et al.): Adam 1e-4, β=(0.5, 0.9), 5 critic steps, λ=10.
    "wgan-gp": dict(
        architecture="wgan-gp", ema=0.0, latent_dim=128, g_lr=1e-4, d_lr=1e-4, g_beta1=0.5, g_beta2=0.9,
        d_beta1=0.5, d_beta2=0.9, d_steps=5, gp_weight=10.0, batch_norm=True, dropout=0.0,
        width=0.5, steps=2000,
    ),
}


def parse_value(key: str, text: str) -> Any:
    """Turn the text of ``--set key=value`` into the field's type."""
    if key not in FIELD_TYPES:
        raise ConfigError(f"unknown setting {key!r}; known settings: {', '.join(sorted(FIELD_TYPES))}")
    want = FIELD_TYPES[key]
    text = text.strip()
    if want is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}: {text!r} is not allowed; expected true or false", key)
    if want is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{key}: {text!r} is not allowed; expected an integer", key) from None
    if want is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{key}: {text!r} is not allowed; expected a number", key) from None
    return text


def make_config(preset: str = DEFAULT_PRESET, overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """Build a validated config from a preset name and field overrides."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values: dict[str, Any] = dict(PRESETS[preset])
    for key, value in (overrides or {}).items():
        if key not in FIELD_TYPES:
            raise ConfigError(f"unknown setting {key!r}; known settings: {', '.join(sorted(FIELD_TYPES))}")
        values[key] = parse_value(key, value) if isinstance(value, str) and FIELD_TYPES[key] is not str else value
    return validate(RunConfig(**values))


UNLABELLED_NOTE = (f"this dataset has no labels, so the {DEFAULT_PRESET} preset (which draws the digit it "
                   f"is asked for) gives way to {UNSUPERVISED_PRESET}, which finds the kinds of image "
                   "without being told them")


def fit_to_labels(preset: str, overrides: Mapping[str, Any] | None, has_labels: bool) -> tuple[RunConfig, str]:
    """The config to train on data with or without labels, and a note when it is not the one asked for.

    Only the default preset falls back (to its unsupervised twin, with the same overrides): a
    preset or architecture the user named is kept, and a conditional one on unlabelled data
    is refused later with the data's own error.
    """
    cfg = make_config(preset, overrides)
    overrides = overrides or {}
    if has_labels or preset != DEFAULT_PRESET or not cfg.is_conditional or "architecture" in overrides:
        return cfg, ""
    return make_config(UNSUPERVISED_PRESET, overrides), UNLABELLED_NOTE


# Settings added after runs were already being written, with the value that reproduces how
# those older runs were built (their config.json has no such key).
ABSENT_MEANS = {"projection": False}


def config_from_dict(data: Mapping[str, Any]) -> RunConfig:
    """Rebuild a config read from ``config.json`` (unknown keys refused)."""
    if not isinstance(data, Mapping):
        raise ConfigError("config must be a JSON object")
    unknown = set(data) - set(FIELD_TYPES)
    if unknown:
        raise ConfigError(f"unknown setting {sorted(unknown)[0]!r} in config")
    return validate(RunConfig(**{**ABSENT_MEANS, **data}))
