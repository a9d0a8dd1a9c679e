"""Latent vectors, interpolation paths, and generating images from a saved generator."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gandash.engine.data import to_uint8
from gandash.errors import GandashError

MAX_SAMPLES = 100_000


class SamplingError(GandashError):
    """A sampling request cannot be served; the message says why."""


def latents(n: int, dim: int, dist: str = "normal", seed: int = 0) -> np.ndarray:
    """``n`` latent vectors drawn as the trainer draws them (float32, shape (n, dim))."""
    rng = np.random.default_rng(seed)
    if dist == "uniform":
        return rng.uniform(-1.0, 1.0, (n, dim)).astype(np.float32)
    z = rng.standard_normal((n, dim)).astype(np.float32)
    if dist == "sphere":
        z /= np.linalg.norm(z, axis=1, keepdims=True) + 1e-8
    return z


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    t = np.asarray(t, np.float32)[:, None]
    return ((1 - t) * a[None] + t * b[None]).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation (White 2016); falls back to lerp for parallel vectors."""
    t = np.asarray(t, np.float32)[:, None]
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = np.clip(np.dot(a, b) / max(na * nb, 1e-12), -1.0, 1.0)
    omega = np.arccos(cos)
    if np.sin(omega) < 1e-6:
        return lerp(a, b, t[:, 0])
    out = (np.sin((1 - t) * omega) * a[None] + np.sin(t * omega) * b[None]) / np.sin(omega)
    return out.astype(np.float32)


def interpolate(a: np.ndarray, b: np.ndarray, steps: int, method: str = "slerp") -> np.ndarray:
    """``steps`` points from a to b inclusive."""
    if steps < 2:
        raise SamplingError("an interpolation needs at least 2 steps")
    t = np.linspace(0.0, 1.0, steps)
    return slerp(a, b, t) if method == "slerp" else lerp(a, b, t)


def load_generator(path: Path):
    """Load a generator saved in Keras format, with safe mode on (no Lambda code)."""
    import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:
        raise SamplingError(f"cannot load {Path(path).name}: {str(e).splitlines()[0][:200]}") from None


def generate(generator, cfg, z: np.ndarray, labels: np.ndarray | None = None,
             batch: int = 500) -> np.ndarray:
    """uint8 images (N, H, W) from latents (and the digits, or InfoGAN codes, the model takes)."""
    out = []
    for i in range(0, len(z), batch):
        zb = z[i:i + batch]
        if cfg.takes_label:
            if labels is None:
                what = "conditional: digits" if cfg.is_conditional else "given a latent code: codes"
                raise SamplingError(f"this model is {what} are required")
            x = generator([zb, np.asarray(labels[i:i + batch], np.int32).reshape(-1, 1)], training=False)
        else:
            x = generator(zb, training=False)
        out.append(to_uint8(np.asarray(x)[..., 0], cfg.output_activation))
    if not out:
        return np.zeros((0, cfg.image_size, cfg.image_size), np.uint8)
    return np.concatenate(out)


def sample(generator, cfg, n: int, digit: int | None = None, seed: int = 0,
           size: int | None = None, edit=None) -> tuple[np.ndarray, np.ndarray | None]:
    """``n`` images (and the digits or codes they were made from), optionally of one digit/code, resized;
    ``edit`` maps the latents before they are drawn (a move along latent directions)."""
    if not 1 <= n <= MAX_SAMPLES:
        raise SamplingError(f"n must be from 1 to {MAX_SAMPLES}, got {n}")
    if digit is not None:
        if not cfg.takes_label:
            raise SamplingError(f"--digit needs a conditional model (or a latent code); "
                                f"{cfg.architecture} is unconditional")
        if not 0 <= digit < cfg.num_classes:
            raise SamplingError(f"digit must be from 0 to {cfg.num_classes - 1}, got {digit}")
    if size is not None and not 8 <= size <= 256:
        raise SamplingError(f"size must be from 8 to 256, got {size}")
    z = latents(n, cfg.latent_dim, cfg.latent_dist, seed)
    if edit is not None:
        z = edit(z)
    labels = None
    if cfg.takes_label:
        labels = (np.full(n, digit) if digit is not None else np.arange(n) % cfg.num_classes).astype(np.int32)
    images = generate(generator, cfg, z, labels)
    if size is not None and size != images.shape[1]:
        from PIL import Image

        images = np.stack([np.asarray(Image.fromarray(a).resize((size, size), Image.BILINEAR))
                           for a in images])
    return images, labels


def fixed_grid_inputs(cfg) -> tuple[np.ndarray, np.ndarray | None]:
    """The fixed noise (and labels) of the sample grid: the same at every step of a run.

    Conditional: 10 rows × 10 digits (column k is digit k); with an InfoGAN code,
    column k is code k. Otherwise 8 × 8.
    """
    n = 100 if cfg.takes_label else 64
    z = latents(n, cfg.latent_dim, cfg.latent_dist, seed=cfg.seed + 1_000_003)
    labels = (np.arange(n) % cfg.num_classes).astype(np.int32) if cfg.takes_label else None
    return z, labels


def grid_columns(cfg) -> int:
    return 10 if cfg.takes_label else 8
