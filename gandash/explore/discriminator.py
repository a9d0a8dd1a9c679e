"""The discriminator's view of a checkpoint: its scores on real and generated images, where it looks,
and the real-or-generated game (a player against D on the same images)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gandash.config import RunConfig
from gandash.engine.data import load_for_config, scale
from gandash.errors import GandashError
from gandash.store.runs import Run

GAME_TILES = 16  # a round: 4 × 4 images, half real and half generated
BATCH = 256


class DiscriminatorError(GandashError):
    """The run has no discriminator to show yet, or it does not fit the config."""


def load_discriminator(run: Run):
    """The run's discriminator with the weights of its latest checkpoint (checkpoint.npz)."""
    import keras

    from gandash.engine.models import build_networks

    if not run.checkpoint_path.exists():
        raise DiscriminatorError(f"run {run.id} has no checkpoint yet: it saves one every "
                                 f"checkpoint_every steps")
    cfg = run.config()
    keras.mixed_precision.set_global_policy("float32")  # inference only; the weights are float32 either way
    _, disc = build_networks(cfg)
    with np.load(run.checkpoint_path, allow_pickle=False) as ck:
        for i, var in enumerate(disc.weights):
            value = ck.get(f"d/{i}")
            if value is None or tuple(value.shape) != tuple(var.shape):
                raise DiscriminatorError(f"run {run.id}: the checkpoint's discriminator does not match its config")
            var.assign(value)
    return disc


def _inputs(cfg: RunConfig, images: np.ndarray, labels: np.ndarray | None):
    x = scale(np.asarray(images, np.float32), cfg.output_activation)[..., None]
    if cfg.is_conditional and cfg.architecture != "acgan":  # AC-GAN's D predicts the label instead
        return [x, np.asarray(labels, np.int32).reshape(-1, 1)]
    return x


def _split(cfg: RunConfig, out):
    """(source logits (N,), class or code logits (N, 10) or None) of a discriminator output."""
    if cfg.architecture == "acgan" or cfg.latent_code:
        src, extra = out
        return np.asarray(src).reshape(-1), np.asarray(extra)
    return np.asarray(out).reshape(-1), None


def scores(disc, cfg: RunConfig, images: np.ndarray, labels: np.ndarray | None = None):
    """D's source score per image (a logit; a critic's score for WGAN-GP: higher = more real), and
    its class (AC-GAN) or code (InfoGAN) probabilities, or None."""
    src, extra = [], []
    for i in range(0, len(images), BATCH):
        lab = None if labels is None else labels[i:i + BATCH]
        s, e = _split(cfg, disc(_inputs(cfg, images[i:i + BATCH], lab), training=False))
        src.append(s)
        extra.append(e)
    probs = None
    if extra and extra[0] is not None:
        logits = np.concatenate(extra)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
    return np.concatenate(src), probs


def overlap(a: np.ndarray, b: np.ndarray, bins: int = 40) -> float:
    """Overlap of two score distributions on common bins: 1 = D cannot tell them apart, 0 = it
    separates them completely."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    if hi <= lo:
        return 1.0
    edges = np.linspace(lo, hi, bins + 1)
    pa = np.histogram(a, edges)[0] / len(a)
    pb = np.histogram(b, edges)[0] / len(b)
    return float(np.minimum(pa, pb).sum())


def _score_gradients(disc, cfg: RunConfig, images: np.ndarray, labels) -> np.ndarray:
    """∂ D's source score / ∂ input pixel, per image (N, H, W), in the model's pixel range."""
    import tensorflow as tf

    inputs = _inputs(cfg, images, labels)
    x = tf.convert_to_tensor(inputs[0] if isinstance(inputs, list) else inputs)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = disc([x, tf.convert_to_tensor(inputs[1])] if isinstance(inputs, list) else x, training=False)
        src = out[0] if isinstance(out, (list, tuple)) else out
    return tape.gradient(src, x).numpy()[..., 0]


def gradient_norms(disc, cfg: RunConfig, real: np.ndarray, fake: np.ndarray, labels, seed: int = 0) -> np.ndarray:
    """‖∇D(x̂)‖ at random interpolates x̂ = αx + (1-α)G(z): what WGAN-GP's penalty holds near 1."""
    alpha = np.random.default_rng(seed).uniform(size=(len(real), 1, 1)).astype(np.float32)
    mixed = alpha * real.astype(np.float32) + (1 - alpha) * fake.astype(np.float32)
    norms = []
    for i in range(0, len(mixed), BATCH):
        g = _score_gradients(disc, cfg, mixed[i:i + BATCH], None if labels is None else labels[i:i + BATCH])
        norms.append(np.sqrt((g.reshape(len(g), -1) ** 2).sum(axis=1)))
    return np.concatenate(norms)


def _blur(a: np.ndarray) -> np.ndarray:
    """A small Gaussian blur (σ ≈ 1 px), separable, edges repeated."""
    k = np.array([0.06, 0.24, 0.4, 0.24, 0.06])
    for axis in (0, 1):
        padded = np.pad(a, [(2, 2) if ax == axis else (0, 0) for ax in (0, 1)], mode="edge")
        a = sum(w * np.take(padded, range(i, i + a.shape[axis]), axis=axis) for i, w in enumerate(k))
    return a


def saliency(disc, cfg: RunConfig, image: np.ndarray, label: int | None = None) -> np.ndarray:
    """Where D looks: |∂ score / ∂ pixel| for one image, smoothed, scaled to [0, 1] (H, W)."""
    labels = None if label is None else np.array([label], np.int32)
    heat = _blur(np.abs(_score_gradients(disc, cfg, np.asarray(image, np.float32)[None], labels)[0]))
    return heat / heat.max() if heat.max() > 0 else heat


@dataclass(frozen=True)
class View:
    """D's scores on ``n`` real and ``n`` generated images of one checkpoint."""

    real: np.ndarray  # (n, H, W) uint8
    real_labels: np.ndarray | None
    fake: np.ndarray
    fake_labels: np.ndarray | None  # the digit (or code) each fake was drawn for
    real_scores: np.ndarray  # (n,), higher = more real
    fake_scores: np.ndarray
    real_classes: np.ndarray | None  # AC-GAN: D's class probabilities (n, 10); InfoGAN: its code
    fake_classes: np.ndarray | None
    gradient_norms: np.ndarray | None  # WGAN-GP: at interpolates
    critic: bool  # WGAN-GP's scores are not logits

    @property
    def overlap(self) -> float:
        return overlap(self.real_scores, self.fake_scores)

    def extremes(self, k: int = 8) -> dict[str, np.ndarray]:
        """Indices of the fakes D finds most real and most fake, and of the reals it finds most fake."""
        f, r = np.argsort(-self.fake_scores), np.argsort(self.real_scores)
        return {"fakes D finds most real": f[:k], "fakes D finds most fake": f[::-1][:k],
                "real images D finds most fake": r[:k]}


def view(run: Run, generator, disc, n: int = 512, seed: int = 0) -> View:
    """Score ``n`` training images and ``n`` samples of the run's generator with its discriminator."""
    from gandash.explore.sampling import sample

    cfg = run.config()
    ds = load_for_config(cfg)
    pick = np.random.default_rng(seed).choice(len(ds), size=min(n, len(ds)), replace=False)
    real = ds.images[pick]
    real_labels = None if ds.labels is None else ds.labels[pick].astype(np.int32)
    fake, fake_labels = sample(generator, cfg, len(real), seed=seed)
    d_labels = real_labels if cfg.is_conditional else None
    real_scores, real_classes = scores(disc, cfg, real, d_labels)
    fake_scores, fake_classes = scores(disc, cfg, fake, fake_labels if cfg.is_conditional else None)
    norms = gradient_norms(disc, cfg, real, fake, d_labels, seed) if cfg.architecture == "wgan-gp" else None
    return View(real, real_labels, fake, fake_labels, real_scores, fake_scores, real_classes, fake_classes,
                norms, critic=cfg.architecture == "wgan-gp")


# -- the real-or-generated game -----------------------------------------------------------------------
@dataclass(frozen=True)
class Round:
    images: np.ndarray  # (16, H, W)
    generated: np.ndarray  # (16,) bool: the truth
    d_says_generated: np.ndarray  # (16,) bool: D's verdict, the 8 it scores least real


def game_round(v: View, seed: int) -> Round:
    """16 images from the view, half real and half generated, shuffled by ``seed``. D, like the
    player, knows half are generated: it calls the 8 it scores lowest generated."""
    rng = np.random.default_rng(seed)
    half = GAME_TILES // 2
    r = rng.choice(len(v.real), half, replace=False)
    f = rng.choice(len(v.fake), half, replace=False)
    images = np.concatenate([v.real[r], v.fake[f]])
    truth = np.array([False] * half + [True] * half)
    s = np.concatenate([v.real_scores[r], v.fake_scores[f]])
    order = rng.permutation(GAME_TILES)
    images, truth, s = images[order], truth[order], s[order]
    d_says = np.zeros(GAME_TILES, bool)
    d_says[np.argsort(s)[:half]] = True
    return Round(images, truth, d_says)


def accuracy(says_generated: np.ndarray, truth: np.ndarray) -> float:
    """Share of the tiles called right."""
    return float((np.asarray(says_generated, bool) == np.asarray(truth, bool)).mean())
