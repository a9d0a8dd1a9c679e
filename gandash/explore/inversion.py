"""Your own digit in latent space: prepare it as MNIST digits were, find the latent vector that
draws it (generator inversion), map the plane of latents around it, and find a sample's nearest
training images.

Inversion starts from the best of many random latents (for each digit or code the model takes,
unless one is given), then refines the best few together with Adam on pixels plus the
evaluator's features, in a compiled loop; the closest result wins.
"""
from __future__ import annotations

import io
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gandash.engine.data import scale
from gandash.errors import GandashError
from gandash.explore.sampling import SamplingError, generate, latents

MNIST_BOX = 20  # MNIST digits were scaled to fit a 20×20 box, then centred by mass in 28×28
MAX_SIDE = 4096  # an upload larger than this on either side is refused before it is decoded
MAP_MAX = 21
MAX_STEPS = 5000

Progress = Callable[[float, str], None]


class InversionError(GandashError):
    """A digit cannot be prepared or found; the message says why."""


# -- the digit as the network sees it --------------------------------------------------------------
def read_image(data: bytes) -> np.ndarray:
    """An uploaded file's pixels as float grey levels (H, W) in [0, 255], white ink on black."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings(), Image.open(io.BytesIO(data)) as im:  # the size is checked below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if max(im.size) > MAX_SIDE:
                raise InversionError(f"the image is {im.size[0]} × {im.size[1]} pixels; the largest accepted is "
                                     f"{MAX_SIDE} × {MAX_SIDE} (crop or shrink it first)")
            im.load()
            return to_gray(np.asarray(im.convert("LA")))  # grey (ITU-R 601 weights) and alpha: 2 bytes a pixel
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as e:
        raise InversionError(f"this file is not an image that can be read ({type(e).__name__})") from None


def to_gray(pixels: np.ndarray) -> np.ndarray:
    """Grey levels (H, W) of grey, RGB or RGBA pixels; transparent parts count as background, and
    dark ink on a light background is turned into white ink on black, as MNIST stores digits."""
    x = np.asarray(pixels, np.float32)
    if x.ndim == 2:
        return x
    if x.ndim != 3 or x.shape[2] not in (2, 3, 4):
        raise InversionError(f"expected a grey, grey and alpha, RGB or RGBA image, got an array of shape {x.shape}")
    gray = x[..., 0] if x.shape[2] == 2 else x[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    if x.shape[2] in (2, 4):
        alpha = x[..., -1] / 255.0
        if alpha.min() < 0.99:  # a drawing on a transparent canvas: ink is whatever is opaque
            light_ink = np.average(gray, weights=alpha + 1e-6) > 127 if alpha.max() > 0 else True
            return (gray if light_ink else 255.0 - gray) * alpha
    return 255.0 - gray if np.median(gray) > 127 else gray


def prepare_digit(gray: np.ndarray, size: int = 28) -> np.ndarray:
    """uint8 (size, size): the ink cropped, scaled to fit a 20×20 box (for 28) and centred by its
    centre of mass, as the MNIST digits were made. InversionError for an image without ink."""
    from PIL import Image

    g = np.asarray(gray, np.float32)
    if g.ndim != 2 or min(g.shape) < 1:
        raise InversionError("expected a two-dimensional image")
    g = g - np.median(g) if np.median(g) > 0 else g  # a grey background is background too
    if g.max() < 25:  # nothing brighter than a tenth of white
        raise InversionError("the image is blank: there is no digit in it (draw one, or pick an image with "
                             "a dark digit on a light background or a light one on a dark background)")
    g = np.clip(g / g.max(), 0.0, 1.0)
    ys, xs = np.nonzero(g > 0.1)
    crop = g[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    box = round(size * MNIST_BOX / 28)
    h, w = crop.shape
    f = box / max(h, w)
    nh, nw = max(1, round(h * f)), max(1, round(w * f))
    small = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize((nw, nh), Image.LANCZOS), np.float32)
    out = np.zeros((size, size), np.float32)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top:top + nh, left:left + nw] = small
    mass = out.sum()
    cy, cx = (np.arange(size) @ out.sum(axis=1)) / mass, (np.arange(size) @ out.sum(axis=0)) / mass
    dy, dx = round((size - 1) / 2 - cy), round((size - 1) / 2 - cx)
    dy, dx = int(np.clip(dy, -top, size - top - nh)), int(np.clip(dx, -left, size - left - nw))
    out = np.roll(out, (dy, dx), axis=(0, 1))
    return np.clip(out, 0, 255).round().astype(np.uint8)


# -- inversion ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Inversion:
    """What inversion found: the latent, the digit or code (None when G takes neither), the image
    it draws, and its mean absolute pixel error against the target (0 = identical, 1 = opposite)."""

    z: np.ndarray
    label: int | None
    image: np.ndarray
    distance: float
    seconds: float


def invert(generator, cfg, target: np.ndarray, label: int | None = None, features=None, *, steps: int = 200,
           starts: int = 256, keep: int = 4, lr: float = 0.05, feature_weight: float = 0.1, seed: int = 0,
           progress: Progress | None = None) -> Inversion:
    """The latent (and digit or code, searched unless ``label`` is given) whose image is closest to
    ``target`` (uint8 (H, W), white on black). ``features`` is the evaluator model, or None for
    pixels only."""
    import tensorflow as tf

    if not 1 <= steps <= MAX_STEPS:
        raise InversionError(f"steps must be from 1 to {MAX_STEPS}, got {steps}")
    say = progress or (lambda frac, msg: None)
    began = time.perf_counter()
    labels = _candidate_labels(cfg, label)
    if np.ndim(target) != 2:
        raise InversionError(f"the target must be one grey image (H, W), got shape {np.shape(target)}")
    pixels = resized(target, cfg.image_size).astype(np.float32)
    goal = np.asarray(scale(pixels, cfg.output_activation), np.float32)
    say(0.0, f"Trying {starts * len(labels):,} random starting points…")
    z0, l0 = _best_starts(generator, cfg, pixels, labels, starts, keep, seed)
    descent = _Descent(generator, cfg, goal, l0, features, feature_weight, lr)
    z = tf.Variable(z0)
    chunk = max(1, steps // 10)
    done = 0
    while done < steps:
        n = min(chunk, steps - done)
        descent.run(z, tf.constant(n))
        done += n
        say(done / steps, f"Refining {len(z0)} candidates: step {done} of {steps}")
    zs = z.numpy()
    images = generate(generator, cfg, zs, l0)
    errors = np.abs(images.astype(np.float32) - pixels[None]).mean(axis=(1, 2)) / 255.0
    best = int(np.argmin(errors))
    return Inversion(zs[best], None if l0 is None else int(l0[best]), images[best], float(errors[best]),
                     time.perf_counter() - began)


def _candidate_labels(cfg, label: int | None) -> list[int | None]:
    if not cfg.takes_label:
        if label is not None:
            raise InversionError(f"{cfg.architecture} is unconditional and has no latent code: it takes no digit")
        return [None]
    if label is None:
        return list(range(cfg.num_classes))
    if not 0 <= label < cfg.num_classes:
        raise InversionError(f"the digit must be from 0 to {cfg.num_classes - 1}, got {label}")
    return [label]


def resized(image: np.ndarray, size: int) -> np.ndarray:
    """A uint8 grey image (H, W) at size × size (unchanged when it already is)."""
    image = np.asarray(image)
    if image.shape == (size, size):
        return image.astype(np.uint8)
    from PIL import Image

    return np.asarray(Image.fromarray(image.astype(np.uint8)).resize((size, size), Image.LANCZOS))


def _best_starts(generator, cfg, target: np.ndarray, labels: list[int | None], starts: int, keep: int,
                 seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The ``keep`` closest of ``starts`` random latents for each candidate label (pixels only)."""
    zs, ls = [], []
    for i, lab in enumerate(labels):
        z = latents(starts, cfg.latent_dim, cfg.latent_dist, seed=seed * 1009 + i)
        lab_arr = None if lab is None else np.full(starts, lab, np.int32)
        images = generate(generator, cfg, z, lab_arr).astype(np.float32)
        err = ((images - target[None]) ** 2).mean(axis=(1, 2))
        top = np.argsort(err)[:keep]
        zs.append(z[top])
        ls.append(None if lab is None else lab_arr[top])
    return np.concatenate(zs), None if labels[0] is None else np.concatenate(ls)


class _Descent:
    """Adam on a batch of latents toward one target, ``n`` steps per call of one compiled loop."""

    def __init__(self, generator, cfg, goal: np.ndarray, labels, features, feature_weight: float, lr: float):
        import tensorflow as tf

        from gandash.quality.evaluator import FEATURES_LAYER

        self.generator, self.cfg, self.lr = generator, cfg, lr
        self.goal = tf.constant(goal[None, ..., None])
        self.labels = None if labels is None else tf.constant(labels.reshape(-1, 1), tf.int32)
        self.featurize = None
        if features is not None and feature_weight > 0:
            import keras

            self.featurize = keras.Model(features.inputs, features.get_layer(FEATURES_LAYER).output)
            self.goal_feats = self.featurize(self._pixels255(self.goal), training=False)
            self.feature_weight = feature_weight / (float(tf.reduce_mean(self.goal_feats ** 2)) + 1e-6)
        self.run = tf.function(self._run, reduce_retracing=True)

    def _pixels255(self, x):
        import tensorflow as tf

        x = x if self.cfg.output_activation == "sigmoid" else (x + 1.0) / 2.0
        x = x * 255.0
        return x if x.shape[1] == 28 else tf.image.resize(x, (28, 28), antialias=True)

    def _loss(self, z):
        import tensorflow as tf

        x = self.generator(z if self.labels is None else [z, self.labels], training=False)
        per = tf.reduce_mean(tf.square(x - self.goal), axis=[1, 2, 3])
        if self.featurize is not None:
            f = self.featurize(self._pixels255(x), training=False)
            per += self.feature_weight * tf.reduce_mean(tf.square(f - self.goal_feats), axis=1)
        if self.cfg.latent_dist == "normal":  # stay where the generator was trained: |z|² near dim
            per += 1e-3 * tf.square(tf.reduce_mean(tf.square(z), axis=1) - 1.0)
        return tf.reduce_sum(per)

    def _run(self, z, n):
        import tensorflow as tf

        m, v = tf.zeros_like(z), tf.zeros_like(z)
        b1, b2 = 0.9, 0.999
        for t in tf.range(1, n + 1):
            with tf.GradientTape() as tape:
                loss = self._loss(z)
            g = tape.gradient(loss, z)
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * tf.square(g)
            tf_t = tf.cast(t, tf.float32)
            step = self.lr * (m / (1 - b1 ** tf_t)) / (tf.sqrt(v / (1 - b2 ** tf_t)) + 1e-8)
            z.assign(self._constrain(z - step))
        return loss

    def _constrain(self, z):
        import tensorflow as tf

        if self.cfg.latent_dist == "uniform":
            return tf.clip_by_value(z, -1.0, 1.0)
        if self.cfg.latent_dist == "sphere":
            return tf.math.l2_normalize(z, axis=1)
        return z


# -- a map of the space ------------------------------------------------------------------------------
def plane(points: list[np.ndarray], n: int, span: float = 8.0, seed: int = 0) -> np.ndarray:
    """Latents (n*n, dim) on a grid over a plane, row by row: through three points (a at the top
    left, b at the top right, c at the bottom left), or through one point along two random
    orthogonal unit directions, from -span to +span."""
    if not 2 <= n <= MAP_MAX:
        raise InversionError(f"the map is from 2 × 2 to {MAP_MAX} × {MAP_MAX} cells, got {n}")
    pts = [np.asarray(p, np.float32).reshape(-1) for p in points]
    s, t = np.meshgrid(np.linspace(0.0, 1.0, n), np.linspace(0.0, 1.0, n))
    if len(pts) == 3:
        a, b, c = pts
        if np.linalg.matrix_rank(np.stack([b - a, c - a]), tol=1e-4) < 2:
            raise InversionError("the three points lie on one line: pick three different points")
        grid = a + s[..., None] * (b - a) + t[..., None] * (c - a)
    elif len(pts) == 1:
        rng = np.random.default_rng(seed)
        q, _ = np.linalg.qr(rng.standard_normal((pts[0].size, 2)))
        u, v = q[:, 0], q[:, 1]
        grid = pts[0] + (2 * s[..., None] - 1) * span * u + (2 * t[..., None] - 1) * span * v
    else:
        raise InversionError(f"a map goes through one point or three, got {len(pts)}")
    return grid.reshape(n * n, -1).astype(np.float32)


def latent_map(generator, cfg, points: list[np.ndarray], n: int = 11, label: int | None = None,
               span: float = 8.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images (n*n, H, W) uint8, their latents) over the plane (see :func:`plane`), all with one
    digit or code when the model takes one."""
    if cfg.takes_label and label is None:
        raise SamplingError("this model takes a digit or code: pick one for the map")
    z = plane(points, n, span, seed)
    labels = None if not cfg.takes_label else np.full(len(z), label, np.int32)
    return generate(generator, cfg, z, labels), z


# -- is it copying? -----------------------------------------------------------------------------------
class NearestIndex:
    """Rows searched by Euclidean distance, held as float32 with their squared norms computed once,
    so each search is one matrix-vector product (60,000 MNIST images: milliseconds)."""

    def __init__(self, pool: np.ndarray, scale: float = 1.0):
        self.pool = np.asarray(pool, np.float32).reshape(len(pool), -1)
        if scale != 1.0:
            self.pool = self.pool * np.float32(scale)
        self.norms = np.einsum("ij,ij->i", self.pool, self.pool)

    def nearest(self, query: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """(indices, distances) of the ``k`` closest rows, closest first."""
        q = np.asarray(query, np.float32).reshape(-1)
        d2 = self.norms - 2 * (self.pool @ q) + q @ q
        idx = np.argpartition(d2, min(k, len(d2) - 1))[:k]
        idx = idx[np.argsort(d2[idx])]
        return idx, np.sqrt(np.maximum(d2[idx], 0.0))


def nearest(query: np.ndarray, pool: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(indices, Euclidean distances) of the ``k`` rows of ``pool`` closest to ``query``, closest first."""
    return NearestIndex(pool).nearest(query, k)
