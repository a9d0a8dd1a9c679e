"""Teach mode's overview: noise z → G → image → D → score, for one generated and one real digit, with the training's
current numbers on it, and G's layers for that z when opened."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

NUMBERS = ("d_real", "d_fake", "d_loss", "g_loss", "d_grad_norm", "g_grad_norm")


@dataclass(frozen=True)
class Overview:
    """What the diagram shows at one saved grid."""

    step: int
    z: np.ndarray  # (latent_dim,): the first fixed-noise vector
    label: int | None  # the digit (or code) G was given with it
    fake: np.ndarray | None  # (H, W) uint8: G(z), the grid's first sample
    real: np.ndarray | None  # (H, W) uint8: the first real digit D scores with every grid
    real_label: int | None
    fake_score: float | None  # D's logit (critic: its score) for each, at this grid
    real_score: float | None
    critic: bool
    numbers: dict[str, float] = field(default_factory=dict)  # the latest metrics row's, NaN where missing


def first_real(cfg) -> tuple[np.ndarray, int | None] | None:
    """The first real digit D scores with every grid (uint8, at the model's size) and its label; None when the data
    cannot be read here."""
    from gandash.engine.data import load_for_config
    from gandash.explore import training_map as tm

    try:
        images, labels = tm.real_subset(load_for_config(cfg), cfg.image_size)
    except (OSError, ValueError):
        return None
    return images[0], (int(labels[0]) if cfg.is_conditional else None)


def build(run, cfg, rows, real: tuple[np.ndarray, int | None] | None) -> Overview | None:
    """The overview at the newest saved grid, with the newest metrics row and ``real`` (see :func:`first_real`);
    None before the first grid."""
    from gandash.explore import training_map as tm
    from gandash.explore.images import read_png
    from gandash.explore.sampling import fixed_grid_inputs, grid_columns

    steps = run.sample_steps()
    if not steps:
        return None
    step = steps[-1]
    z, labels = fixed_grid_inputs(cfg)
    img = read_png(run.sample_path(step))
    cols, size = grid_columns(cfg), cfg.image_size
    fake = None
    if img is not None and img.size == (cols * (size + 2) + 2, -(-len(z) // cols) * (size + 2) + 2):
        fake = tm.tiles(np.asarray(img), 1, cols, size)[0]
    scores = tm.read_scores(run, step) or {}
    last = rows[-1] if rows else {}
    return Overview(step, z[0], None if labels is None else int(labels[0]), fake,
                    None if real is None else real[0], None if real is None else real[1],
                    _first(scores.get("fake")) if fake is not None else None,
                    _first(scores.get("real")) if real is not None else None,
                    cfg.architecture == "wgan-gp", {k: _number(last.get(k)) for k in NUMBERS})


def _first(values) -> float | None:
    try:
        v = float(values[0])
    except (TypeError, ValueError, IndexError):
        return None
    return v if math.isfinite(v) else None


def _number(v) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return v


def said(score: float | None, critic: bool) -> str:
    """D's verdict on one image in words."""
    if score is None:
        return "not scored"
    if critic:
        return f"critic score {score:+.2f}"
    p = 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, score))))
    return f"D: {p:.0%} real"


def z_image(z: np.ndarray) -> np.ndarray:
    """The noise vector as a small square of grey cells (uint8), mid-grey at 0: what goes into G."""
    n = len(z)
    side = int(math.ceil(math.sqrt(n)))
    cells = np.full(side * side, 0.5, np.float32)
    scale = max(2.5, float(np.abs(z).max()) or 1.0)
    cells[:n] = 0.5 + 0.5 * np.clip(np.asarray(z, np.float32) / scale, -1, 1)
    return (cells.reshape(side, side) * 255).astype(np.uint8)


def layer_maps(generator, cfg, z: np.ndarray, label: int | None,
               per_layer: int = 16) -> list[tuple[str, str, np.ndarray]]:
    """G's inside for one z: (layer, what it is, its first ``per_layer`` channels as uint8 maps (k, h, w)) for each
    layer that feeds a learned layer, in order; a dense layer's units are shown as one square map."""
    import keras

    from gandash.explore.dissect import describe, dissectable

    options = dissectable(generator)
    if not options:
        return []
    by_name = {layer.name: layer for layer in generator.layers}
    probe = keras.Model(generator.inputs, [by_name[n].output for n, _ in options])
    x = np.asarray(z, np.float32).reshape(1, -1)
    outs = probe([x, np.array([[label or 0]], np.int32)] if cfg.takes_label else x, training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    result = []
    for (name, shape), out in zip(options, outs):
        a = np.asarray(out, np.float32)[0]
        if a.ndim == 1:  # dense units: one square map of them
            side = int(math.ceil(math.sqrt(len(a))))
            maps = np.pad(a, (0, side * side - len(a))).reshape(1, side, side)
        else:
            maps = np.moveaxis(a[..., :per_layer], -1, 0)
        lo = maps.min(axis=(1, 2), keepdims=True)
        hi = maps.max(axis=(1, 2), keepdims=True)
        scaled = (maps - lo) / np.where(hi > lo, hi - lo, 1.0)
        result.append((name, describe(name, shape), (scaled * 255).astype(np.uint8)))
    return result
