"""Latent-space tours of a trained generator: class morphing and walks along a direction."""
from __future__ import annotations

import numpy as np

from gandash.engine.data import to_uint8
from gandash.explore.sampling import SamplingError, generate


def split_at_label_join(generator):
    """Split a conditional generator after the first layer that sees z and the label together.

    Returns ``(head, rest)``: ``head([z, label])`` is that layer's output and ``rest``
    maps it to images. The layer is affine in the label vector (embedding or
    one-hot), so blending two heads is the same as moving the label vector from
    one class to the other with z fixed.
    """
    import keras

    names = [layer.__class__.__name__ for layer in generator.layers]
    if "Concatenate" not in names:
        raise SamplingError("class morphing needs a conditional generator (z joined with a label)")
    join = names.index("Concatenate")
    follower = generator.layers[join + 1] if join + 1 < len(generator.layers) else None
    if follower is None or follower.__class__.__name__ != "Dense":
        raise SamplingError("class morphing: unexpected generator layout (no Dense after the label join)")
    head = keras.Model(generator.inputs, follower.output)
    rest = keras.Model(follower.output, generator.output)
    return head, rest


def class_morph(parts, cfg, z: np.ndarray, a: int, b: int, steps: int) -> np.ndarray:
    """uint8 images (steps, H, W): the same z while the label (or InfoGAN code) moves from a to b."""
    if not cfg.takes_label:
        raise SamplingError(f"class morphing needs a conditional model (or a latent code); "
                            f"{cfg.architecture} is unconditional")
    for d in (a, b):
        if not 0 <= d < cfg.num_classes:
            raise SamplingError(f"digits must be from 0 to {cfg.num_classes - 1}, got {d}")
    if not 2 <= steps <= 64:
        raise SamplingError(f"steps must be from 2 to 64, got {steps}")
    head, rest = parts
    z = np.asarray(z, np.float32).reshape(1, -1)
    ends = np.asarray(head([np.repeat(z, 2, axis=0), np.array([[a], [b]], np.int32)], training=False))
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32).reshape(-1, *([1] * (ends.ndim - 1)))
    h = (1 - t) * ends[0:1] + t * ends[1:2]
    x = np.asarray(rest(h, training=False))
    return to_uint8(x[..., 0], cfg.output_activation)


def random_direction(dim: int, seed: int = 0) -> np.ndarray:
    """A unit vector in latent space (float32)."""
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / (np.linalg.norm(v) + 1e-8)


def walk(generator, cfg, z0: np.ndarray, direction: np.ndarray, alphas, label: int | None = None) -> np.ndarray:
    """uint8 images along ``z0 + alpha * direction`` for each alpha (the label or code, when G takes one)."""
    alphas = np.asarray(alphas, np.float32).reshape(-1, 1)
    z = np.asarray(z0, np.float32)[None] + alphas * np.asarray(direction, np.float32)[None]
    labels = np.full(len(z), label if label is not None else 0, np.int32) if cfg.takes_label else None
    return generate(generator, cfg, z, labels)
