"""The training map, GAN Lab's picture for digits: a fixed plane of the evaluator's features with the real digits,
the generator's fixed-noise samples at any saved step, where D believes "real" is, and where each sample moves.

The plane is a PCA of the evaluator's features of 2,000 real test digits, fitted once per evaluator file and
kept beside it (``_evaluators/<dataset>.map.npz``): it is never refitted, so movement on screen is movement of
the samples. The trainer records, with each sample grid, D's scores of those samples and of the first
:data:`SCORED_REAL` training images (``samples/step_N.d.json``); the field is those scores smoothed over the
plane. A reader needs only the run directory and the evaluator.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from gandash.store.runs import atomic_write_bytes

SCORED_REAL = 256  # real training images D scores with every grid: the first ones of the run's dataset
CLOUD = 2000  # real test digits that make the plane and its cloud
FIELD_CELLS = 48  # the field's resolution per axis
MAX_SCORES_BYTES = 200_000  # a scores file larger than this is not ours: not read


# -- the trainer's record ---------------------------------------------------------------------
def scores_path(run, step: int) -> Path:
    return run.samples_dir / f"step_{step:07d}.d.json"


def real_subset(ds, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The real images (uint8; at ``size``, else the dataset's) and labels D scores with every grid."""
    n = min(SCORED_REAL, len(ds))
    labels = ds.labels[:n] if ds.labels is not None else np.zeros(n, np.int32)
    return resized(np.asarray(ds.images[:n]), size or ds.images.shape[1]), np.asarray(labels, np.int32)


def resized(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 images (N, H, W) at size × size (bilinear), or as they are."""
    if images.shape[1] == size:
        return images
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)) for im in images])


def record(run, step: int, model, cfg, fakes: np.ndarray, fake_labels, real: tuple[np.ndarray, np.ndarray]) -> None:
    """Write D's scores of this grid's samples and of the real subset (at the model's size) beside the grid."""
    from gandash.explore.discriminator import scores

    data = {"step": step, "critic": cfg.architecture == "wgan-gp",
            "fake": [round(float(v), 4) for v in scores(model.discriminator, cfg, fakes, fake_labels)[0]],
            "real": [round(float(v), 4) for v in scores(model.discriminator, cfg, *real)[0]]}
    atomic_write_bytes(scores_path(run, step), json.dumps(data).encode())


def read_scores(run, step: int) -> dict | None:
    """The scores recorded with a grid, or None (none recorded, damaged, or not ours)."""
    path = scores_path(run, step)
    try:
        if path.stat().st_size > MAX_SCORES_BYTES:
            return None
        data = json.loads(path.read_text())
        fake, real = np.asarray(data["fake"], np.float64), np.asarray(data["real"], np.float64)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if fake.ndim != 1 or real.ndim != 1 or not (np.isfinite(fake).all() and np.isfinite(real).all()):
        return None
    return {"fake": fake, "real": real, "critic": bool(data.get("critic"))}


# -- the plane --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plane:
    """A fixed 2-D map of the evaluator's features."""

    mean: np.ndarray  # (128,)
    axes: np.ndarray  # (128, 2)
    cloud: np.ndarray  # (CLOUD, 2): the real test digits
    cloud_labels: np.ndarray  # (CLOUD,)
    share: tuple[float, float]  # of the features' variance along each axis

    def project(self, feats: np.ndarray) -> np.ndarray:
        return (np.asarray(feats, np.float64) - self.mean) @ self.axes


def plane(dataset: str, runs_root: Path | str) -> Plane:
    """The dataset's plane: read from beside its evaluator, or fitted once and kept there."""
    from gandash.quality.evaluator import paths, read_info

    sha = str(read_info(dataset, runs_root).get("sha256") or "")
    path = paths(dataset, runs_root)["keras"].with_suffix(".map.npz")
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["sha256"]) == sha and sha:
                return Plane(f["mean"], f["axes"], f["cloud"], f["cloud_labels"], tuple(f["share"]))
    except (OSError, KeyError, ValueError):
        pass
    found = _fit(dataset, runs_root)
    buf = io.BytesIO()
    np.savez(buf, mean=found.mean, axes=found.axes, cloud=found.cloud, cloud_labels=found.cloud_labels,
             share=np.asarray(found.share), sha256=np.asarray(sha))
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError:
        pass  # a runs folder we cannot write: fitted again next time, the same plane
    return found


def _fit(dataset: str, runs_root: Path | str) -> Plane:
    from gandash.engine.data import load_builtin
    from gandash.quality.evaluate import features

    test = load_builtin(dataset, "test")
    idx = np.linspace(0, len(test.images) - 1, CLOUD).astype(int)  # spread over the split, the same every time
    feats = features(test.images[idx], dataset, runs_root).astype(np.float64)
    mean = feats.mean(0)
    _, s, vt = np.linalg.svd(feats - mean, full_matrices=False)
    axes = vt[:2].T.copy()
    axes *= np.sign(axes[np.abs(axes).argmax(0), [0, 1]])  # a fixed orientation: each axis's largest loading > 0
    share = tuple(float(v) for v in (s[:2] ** 2 / (s ** 2).sum()))
    return Plane(mean, axes, (feats - mean) @ axes, np.asarray(test.labels[idx]), share)


# -- one frame --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Frame:
    """The samples of one saved grid on the plane, with D's scores when the trainer recorded them."""

    step: int
    images: np.ndarray  # (n, H, W) uint8, the grid's tiles
    xy: np.ndarray  # (n, 2)
    fake_scores: np.ndarray | None
    real_scores: np.ndarray | None
    critic: bool


def tiles(grid: np.ndarray, n: int, cols: int, size: int, pad: int = 2) -> np.ndarray:
    """The ``n`` images of a grid written by ``images.to_grid_array``."""
    out = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = pad + r * (size + pad), pad + c * (size + pad)
        out[i] = grid[y:y + size, x:x + size]
    return out


def frame(run, cfg, step: int, the_plane: Plane, runs_root: Path | str) -> Frame | None:
    """The grid saved at ``step`` on the plane, or None when it cannot be read."""
    from gandash.explore.images import read_png
    from gandash.explore.sampling import fixed_grid_inputs, grid_columns
    from gandash.quality.evaluate import features

    img = read_png(run.sample_path(step))
    z, _ = fixed_grid_inputs(cfg)
    cols, size = grid_columns(cfg), cfg.image_size
    rows = -(-len(z) // cols)
    if img is None or img.size != (cols * (size + 2) + 2, rows * (size + 2) + 2):
        return None
    images = tiles(np.asarray(img), len(z), cols, size)
    xy = the_plane.project(features(images, cfg.dataset, runs_root))
    scores = read_scores(run, step)
    ok = scores is not None and len(scores["fake"]) == len(images)
    return Frame(step, images, xy, scores["fake"] if ok else None, scores["real"] if ok else None,
                 bool(scores and scores["critic"]))


def real_xy(cfg, n: int, runs_root: Path | str) -> np.ndarray:
    """Where the real images D scores with every grid lie on the plane."""
    from gandash.engine.data import load_for_config
    from gandash.quality.evaluate import features

    images, _ = real_subset(load_for_config(cfg), 28)  # at the evaluator's size
    return plane(cfg.dataset, runs_root).project(features(images[:n], cfg.dataset, runs_root))


def believes_real(logits: np.ndarray) -> np.ndarray:
    """D's probability that an image is real, from its logit."""
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))


def relative(scores: np.ndarray) -> np.ndarray:
    """Scores put on [0, 1] between their 2nd and 98th percentiles: what D finds more fake (0) or more real (1)
    at this step. Label smoothing keeps a discriminator's probabilities below 0.9, and a critic's values have
    no scale, so the map shows where D prefers, not its absolute belief (the hover gives that)."""
    lo, hi = np.percentile(scores, [2, 98])
    return np.clip((scores - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.full(len(scores), 0.5)


def field(points: np.ndarray, belief: np.ndarray, extent: tuple[float, float, float, float],
          cells: int = FIELD_CELLS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """D's belief smoothed over the plane (Nadaraya–Watson, a Gaussian kernel a twelfth of the map wide):
    (xs, ys, values (cells, cells)). Far from every scored point a cell takes its nearest points' belief."""
    x0, x1, y0, y1 = extent
    xs, ys = np.linspace(x0, x1, cells), np.linspace(y0, y1, cells)
    bw = max(x1 - x0, y1 - y0) / 12.0
    gx, gy = np.meshgrid(xs, ys)
    d2 = (gx[..., None] - points[:, 0]) ** 2 + (gy[..., None] - points[:, 1]) ** 2
    w = np.exp(-(d2 - d2.min(-1, keepdims=True)) / (2 * bw * bw))  # shifted: never all zero
    return xs, ys, (w * belief).sum(-1) / w.sum(-1)


def extent(the_plane: Plane, *more: np.ndarray, margin: float = 0.08) -> tuple[float, float, float, float]:
    pts = np.concatenate([the_plane.cloud, *[m for m in more if m is not None and len(m)]])
    lo, hi = np.percentile(pts, 0.5, axis=0), np.percentile(pts, 99.5, axis=0)
    pad = (hi - lo) * margin
    return float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])
