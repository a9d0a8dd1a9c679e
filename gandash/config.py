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
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

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


class ConfigError(ValueError):
    """A config value is out of range; the message names the field."""


@dataclass(frozen=True)
class RunConfig:
    """All settings of one training run. The defaults are the base of every preset (``fast``
    changes a few of them, see :data:`PRESETS`)."""

    name: str = ""
    study: str = ""  # the id of the study this run belongs to (study.py); "" for a run of its own
    # data
    dataset: str = "mnist"
    data_path: str = ""  # file or folder, only for dataset="custom"
    image_size: int = 28
    output_activation: str = "tanh"
    # model
    architecture: str = "dcgan"
    conditional: bool = False  # only meaningful for wgan-gp; cgan/acgan always are
    label_encoding: str = "embedding"
    projection: bool = True  # conditional D: project the label onto D's features (not an input channel)
    latent_code: bool = False  # InfoGAN: a 10-way categorical code that D learns to recover from G's image
    code_weight: float = 1.0  # InfoGAN's λ: weight of the code loss in both networks' objectives
    latent_dim: int = 64
    latent_dist: str = "normal"
    width: float = 0.5
    dropout: float = 0.0
    leaky_slope: float = 0.2
    batch_norm: bool = True
    spectral_norm: bool = False
    upsampling: str = "transpose"
    # optimisation
    batch_size: int = 64
    epochs: int = 1
    steps: int = 1500  # > 0 overrides epochs
    max_seconds: float = 0.0  # 0 = no time limit
    g_optimizer: str = "adam"
    d_optimizer: str = "adam"
    g_lr: float = 2e-4
    d_lr: float = 4e-4
    g_beta1: float = 0.5
    g_beta2: float = 0.999
    d_beta1: float = 0.5
    d_beta2: float = 0.999
    g_clipvalue: float = 0.0  # 0 = no clipping (RMSprop recipes use 1.0)
    d_clipvalue: float = 0.0
    lr_end: float = 1.0  # both learning rates fall linearly to this share of themselves by the last step
    # stabilisation tricks
    real_label: float = 0.9  # one-sided label smoothing (1.0 = off)
    label_noise: float = 0.0  # real targets U(real_label-noise, real_label), fake U(0, noise)
    label_flip: float = 0.0  # probability of swapping real/fake targets for D
    d_steps: int = 1
    update: str = "alternating"  # G sees D after its update, or both from one pass
    gp_weight: float = 0.0  # only wgan-gp; 0 there means the usual 10
    ema: float = 0.999  # samples come from an exponential moving average of G's weights; 0 = off
    augment: float = 0.0  # share of D's inputs, real and fake alike, turned and shifted a little first
    # schedule
    seed: int = 0
    log_every: int = 10
    sample_every: int = 100
    checkpoint_every: int = 200
    eval_every: int = 0  # 0 = no metrics during training
    eval_seconds: float = 0.0  # also (or instead) every this many seconds of training; 0 = off
    steps_per_execution: int = 10
    jit_compile: bool = False
    # scale
    distribute: str = "none"  # none / mirrored (all local GPUs) / multiworker (hosts in TF_CONFIG)
    mixed_precision: bool = False

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

HELP: dict[str, str] = {
    "name": "Free-text label shown in the dashboard.",
    "study": "The study this run belongs to (set by a study; empty for a run of its own).",
    "eval_seconds": "Also compute quality metrics every this many seconds of training (0 = off); "
                    "the time spent evaluating is not counted as training time.",
    "dataset": "mnist, fashion_mnist, or custom (an .npz or a folder of images in data_path).",
    "data_path": "For dataset=custom: an .npz with 'images' (+ optional 'labels') or a folder of PNG/JPEG files.",
    "image_size": "Side of generated images: 28, or upscaled 32/64.",
    "output_activation": "tanh (data in [-1, 1]) or sigmoid (data in [0, 1]).",
    "architecture": "mlp, dcgan, cgan (conditional), acgan (auxiliary classifier), wgan-gp.",
    "conditional": "wgan-gp only: feed the class label to generator and critic.",
    "label_encoding": "Conditional models: learned embedding or one-hot label.",
    "projection": "cgan / conditional wgan-gp: the discriminator scores the label by projecting a label "
                  "embedding onto its features (Miyato & Koyama 2018); off, the label joins the image as a channel.",
    "latent_code": "InfoGAN (Chen et al. 2016), unconditional models: G also gets a random 10-way code and D "
                   "learns to tell which code made an image, so each code becomes one distinct kind of image. "
                   "Uses no labels; conditional models, which are given the digit, ignore it.",
    "code_weight": "With latent_code: weight λ of the code loss for both networks (InfoGAN uses 1).",
    "latent_dim": "Size of the noise vector z.",
    "latent_dist": "normal N(0, 1), uniform U(-1, 1), or sphere (normal projected to the unit sphere).",
    "width": "Multiplier on every layer's width (0.5 = half the channels).",
    "dropout": "Dropout rate in the discriminator.",
    "leaky_slope": "Negative slope of LeakyReLU.",
    "batch_norm": "Batch normalisation in the generator.",
    "spectral_norm": "Spectral normalisation on the discriminator's layers.",
    "upsampling": "dcgan-style generators: strided Conv2DTranspose or UpSampling2D+Conv2D.",
    "batch_size": "Images per training step.",
    "epochs": "Passes over the data (used when steps is 0).",
    "steps": "Generator steps to train; overrides epochs when > 0.",
    "max_seconds": "Stop cleanly after this much training time (0 = no limit).",
    "g_optimizer": "Generator optimizer: adam, rmsprop or sgd.",
    "d_optimizer": "Discriminator optimizer: adam, rmsprop or sgd.",
    "g_lr": "Generator learning rate.",
    "d_lr": "Discriminator learning rate.",
    "g_beta1": "Adam β1 (generator); SGD momentum when the optimizer is sgd.",
    "g_beta2": "Adam β2 (generator).",
    "d_beta1": "Adam β1 (discriminator); SGD momentum when the optimizer is sgd.",
    "d_beta2": "Adam β2 (discriminator).",
    "g_clipvalue": "Clip each gradient value of the generator (0 = off).",
    "d_clipvalue": "Clip each gradient value of the discriminator (0 = off).",
    "lr_end": "Both learning rates fall linearly from g_lr / d_lr at the first step to this share of them at "
              "the last (1 = constant). Needs a number of steps (steps > 0).",
    "real_label": "Target for real images; 0.9 is one-sided label smoothing.",
    "label_noise": "Noisy labels: real targets drawn in [real_label-noise, real_label], fake in [0, noise].",
    "label_flip": "Probability of swapping real and fake targets for the discriminator.",
    "d_steps": "Discriminator (critic) steps per generator step.",
    "update": "alternating: G is trained against the just-updated D (the classic recipes); simultaneous: "
              "both take gradients from one D pass (faster; as in the TensorFlow DCGAN tutorial).",
    "gp_weight": "Gradient-penalty weight λ (wgan-gp only; 0 means 10).",
    "ema": "Sample from a moving average of the generator's weights with this decay (0 = off; 0.999 typical).",
    "augment": "Share of the images D sees, real and fake alike, that are first turned by up to 20° and "
               "shifted by up to 1/14 of their side (differentiable augmentation, Zhao et al. 2020; ADA with a "
               "fixed p). G's gradients pass through it. 0 = off. Too much hides a lack of variety from D: at "
               "1 the fast-unsupervised preset drew one fixed image per code.",
    "seed": "Random seed: weights, noise, data order and the fixed sample grid.",
    "log_every": "Write a metrics row every this many steps.",
    "sample_every": "Save the fixed-noise sample grid every this many steps.",
    "checkpoint_every": "Save a resumable checkpoint every this many steps.",
    "eval_every": "Compute quality metrics every this many steps (0 = off).",
    "steps_per_execution": "Training steps run per compiled call (higher = less Python overhead).",
    "jit_compile": "Compile the training step with XLA.",
    "distribute": "none (one device), mirrored (all local GPUs), multiworker (the hosts in TF_CONFIG).",
    "mixed_precision": "Compute in float16 with loss scaling (for GPUs with tensor cores).",
}


def _check(cond: bool, field: str, allowed: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"{field}: {value!r} is not allowed; expected {allowed}")


def _finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def validate(cfg: RunConfig) -> RunConfig:
    """Check every field; return the config with architecture defaults filled in."""
    for f in fields(RunConfig):
        value = getattr(cfg, f.name)
        want = FIELD_TYPES[f.name]
        ok = isinstance(value, want) and not (want is not bool and isinstance(value, bool))
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        _check(ok, f.name, want.__name__, value)
        if want is float:
            _check(_finite(value), f.name, "a finite number", value)
    _check(len(cfg.name) <= 100, "name", "at most 100 characters", cfg.name)
    _check(len(cfg.study) <= 64, "study", "a study id of at most 64 characters", cfg.study)
    _check(0 <= cfg.eval_seconds <= 30 * 86400, "eval_seconds", "0 (off) to 2592000", cfg.eval_seconds)
    _check(cfg.dataset in DATASETS, "dataset", " / ".join(DATASETS), cfg.dataset)
    if cfg.dataset == "custom":
        _check(bool(cfg.data_path), "data_path", "a path to an .npz file or an image folder", cfg.data_path)
    _check(cfg.image_size in IMAGE_SIZES, "image_size", "28, 32 or 64", cfg.image_size)
    _check(cfg.output_activation in OUTPUT_ACTIVATIONS, "output_activation", "tanh or sigmoid", cfg.output_activation)
    _check(cfg.architecture in ARCHITECTURES, "architecture", " / ".join(ARCHITECTURES), cfg.architecture)
    _check(cfg.label_encoding in LABEL_ENCODINGS, "label_encoding", "embedding or onehot", cfg.label_encoding)
    _check(1 <= cfg.latent_dim <= 1024, "latent_dim", "an integer from 1 to 1024", cfg.latent_dim)
    _check(cfg.latent_dist in LATENT_DISTS, "latent_dist", " / ".join(LATENT_DISTS), cfg.latent_dist)
    _check(0.0625 <= cfg.width <= 4, "width", "a number from 0.0625 to 4", cfg.width)
    _check(0 <= cfg.dropout < 1, "dropout", "a number in [0, 1)", cfg.dropout)
    _check(0 <= cfg.leaky_slope < 1, "leaky_slope", "a number in [0, 1)", cfg.leaky_slope)
    _check(cfg.upsampling in DCGAN_UPSAMPLING, "upsampling", "transpose or upsample", cfg.upsampling)
    _check(1 <= cfg.batch_size <= 4096, "batch_size", "an integer from 1 to 4096", cfg.batch_size)
    _check(1 <= cfg.epochs <= 10000, "epochs", "an integer from 1 to 10000", cfg.epochs)
    _check(0 <= cfg.steps <= 10_000_000, "steps", "an integer from 0 (use epochs) to 10000000", cfg.steps)
    _check(0 <= cfg.max_seconds <= 30 * 86400, "max_seconds", "0 (no limit) to 2592000", cfg.max_seconds)
    for side in ("g", "d"):
        opt = getattr(cfg, f"{side}_optimizer")
        _check(opt in OPTIMIZERS, f"{side}_optimizer", "adam / rmsprop / sgd", opt)
        lr = getattr(cfg, f"{side}_lr")
        _check(0 < lr <= 10, f"{side}_lr", "a number in (0, 10]", lr)
        for b in ("beta1", "beta2"):
            v = getattr(cfg, f"{side}_{b}")
            _check(0 <= v < 1, f"{side}_{b}", "a number in [0, 1)", v)
        clip = getattr(cfg, f"{side}_clipvalue")
        _check(0 <= clip <= 1000, f"{side}_clipvalue", "0 (off) to 1000", clip)
    _check(0 < cfg.lr_end <= 1, "lr_end", "a share in (0, 1]", cfg.lr_end)
    _check(cfg.lr_end == 1 or cfg.steps > 0, "lr_end", "1 when training by epochs (steps 0)", cfg.lr_end)
    _check(0.5 < cfg.real_label <= 1, "real_label", "a number in (0.5, 1]", cfg.real_label)
    _check(0 <= cfg.label_noise <= 0.5, "label_noise", "a number in [0, 0.5]", cfg.label_noise)
    _check(cfg.real_label - cfg.label_noise > cfg.label_noise, "label_noise",
           "less than half of real_label (real and fake target ranges must not overlap)", cfg.label_noise)
    _check(0 <= cfg.label_flip < 0.5, "label_flip", "a probability in [0, 0.5)", cfg.label_flip)
    _check(cfg.update in UPDATES, "update", "alternating or simultaneous", cfg.update)
    _check(1 <= cfg.d_steps <= 20, "d_steps", "an integer from 1 to 20", cfg.d_steps)
    _check(cfg.ema == 0 or 0.5 <= cfg.ema < 1, "ema", "0 (off) or a decay in [0.5, 1)", cfg.ema)
    _check(0 <= cfg.gp_weight <= 1000, "gp_weight", "0 to 1000", cfg.gp_weight)
    _check(0 <= cfg.augment <= 1, "augment", "a share in [0, 1]", cfg.augment)
    _check(not (cfg.augment and cfg.jit_compile), "augment",
           "0 with jit_compile on (XLA has no kernel for the image warp); turn one of them off", cfg.augment)
    if cfg.architecture != "wgan-gp":
        _check(cfg.gp_weight == 0, "gp_weight",
               "0: a gradient penalty needs the Wasserstein loss (architecture wgan-gp)", cfg.gp_weight)
        _check(not cfg.conditional or cfg.architecture in CONDITIONAL_ONLY, "conditional",
               "false for mlp/dcgan (use cgan or acgan for a conditional model)", cfg.conditional)
    _check(0 < cfg.code_weight <= 100, "code_weight", "a number in (0, 100]", cfg.code_weight)
    _check(0 <= cfg.seed < 2**31, "seed", "an integer from 0 to 2147483647", cfg.seed)
    _check(1 <= cfg.steps_per_execution <= 1000, "steps_per_execution", "an integer from 1 to 1000",
           cfg.steps_per_execution)
    _check(1 <= cfg.log_every <= 100_000, "log_every", "an integer from 1 to 100000", cfg.log_every)
    for key in ("sample_every", "checkpoint_every"):
        v = getattr(cfg, key)
        _check(1 <= v <= 10_000_000, key, "an integer from 1 to 10000000", v)
    _check(cfg.distribute in DISTRIBUTE, "distribute", " / ".join(DISTRIBUTE), cfg.distribute)
    _check(0 <= cfg.eval_every <= 10_000_000, "eval_every", "0 (off) to 10000000", cfg.eval_every)
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
        raise ConfigError(f"{key}: {text!r} is not allowed; expected true or false")
    if want is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{key}: {text!r} is not allowed; expected an integer") from None
    if want is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{key}: {text!r} is not allowed; expected a number") from None
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
