"""What directions in the latent space mean: attributes measured on images, directions fitted to them
(InterFaceGAN), and directions found with no labels in G's weights (SeFa) or activations (GANSpace)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from gandash.explore.sampling import SamplingError, generate, latents

Reader = Callable[[np.ndarray], np.ndarray]  # uint8 images (N, H, W) → class probabilities (N, 10)

INK = 0.2  # a pixel at least this bright is ink (size, brightness)
ASSESS_AMOUNT = 2.0  # how far each direction is moved, both ways, to say how well it works
RIDGE = 1.0  # the attribute fits' ridge penalty: steadies a fit on 2,000 samples of a 100-d latent

# What "+" means for each attribute measured from an image's moments.
ATTRIBUTES = {
    "thickness": "more ink",
    "slant": "top leaning right",
    "width": "wider (slant removed)",
    "height": "taller",
    "brightness": "brighter ink",
    "size": "more of the image covered",
}
BY_DATASET = {"mnist": ("thickness", "slant", "width", "height"),
              "fashion_mnist": ("brightness", "size", "width", "height")}
DISCOVERED = ("sefa", "pca")


def attribute_names(dataset: str) -> tuple[str, ...]:
    """The attributes that mean something on this dataset (all of them on a custom one)."""
    return BY_DATASET.get(dataset, tuple(ATTRIBUTES))


def names(cfg, discovered: int = 5) -> list[str]:
    """Every direction ``fit`` makes for this config, in its order."""
    return [*attribute_names(cfg.dataset), *(f"{kind}-{i + 1}" for kind in DISCOVERED for i in range(discovered))]


def measure(images: np.ndarray) -> dict[str, np.ndarray]:
    """Each attribute of uint8 images (N, H, W), as float64 arrays (N,).

    thickness: mean ink (0–1). slant: horizontal shift per row going up (the shear −μ11/μ02).
    width and height: √12 × the ink's spread, in pixels (the side of a box with that spread); width
    after the slant is taken out. brightness: mean value of the ink pixels. size: share of pixels that
    are ink.
    """
    p = np.asarray(images, np.float64) / 255.0
    if p.ndim != 3:
        raise SamplingError(f"measure takes images (N, H, W), got shape {p.shape}")
    h, w = p.shape[1:]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    mass = p.sum((1, 2)) + 1e-9
    cx, cy = (p * xs).sum((1, 2)) / mass, (p * ys).sum((1, 2)) / mass
    dx, dy = xs[None] - cx[:, None, None], ys[None] - cy[:, None, None]
    vxx, vyy = (p * dx * dx).sum((1, 2)) / mass, (p * dy * dy).sum((1, 2)) / mass
    vxy = (p * dx * dy).sum((1, 2)) / mass
    ink = p >= INK
    return {
        "thickness": p.mean((1, 2)),
        "slant": -vxy / (vyy + 1e-9),
        "width": np.sqrt(12 * np.maximum(vxx - vxy**2 / (vyy + 1e-9), 0.0)),
        "height": np.sqrt(12 * vyy),
        "brightness": (p * ink).sum((1, 2)) / np.maximum(ink.sum((1, 2)), 1),
        "size": ink.mean((1, 2)),
    }


@dataclass
class Direction:
    """A unit vector in latent space, how long one step of it is, and what moving along it does."""

    name: str  # "thickness", "sefa-1", "pca-2"
    kind: str  # "attribute", "sefa" or "pca"
    vector: np.ndarray  # unit length, float32 (latent_dim,)
    scale: float  # one unit of AMOUNT: the spread (sd) of the latents' position along the vector
    effect: dict[str, float] = field(default_factory=dict)  # each attribute's change per unit, in its sd
    agrees: dict[str, float] = field(default_factory=dict)  # pairs where +2 has more of it than −2
    holds: float | None = None  # pairs the evaluator reads as the same digit at −2 and +2

    @property
    def main(self) -> str:
        """The attribute this direction is for (fitted ones), or the one it changes most (discovered)."""
        if self.kind == "attribute" or not self.effect:
            return self.name if self.kind == "attribute" else ""
        return max(self.effect, key=lambda a: abs(self.effect[a]))

    def summary(self) -> str:
        if not self.effect:
            return self.name
        a = self.main
        text = (f"{self.name}: {a} {self.effect[a]:+.2f} sd per unit, "
                f"{self.agrees[a]:.0%} of pairs move that way")
        return text + ("" if self.holds is None else f", same digit {self.holds:.0%}")


@dataclass
class Space:
    """The directions of one generator, with the attributes' spread over its samples."""

    attributes: tuple[str, ...]
    sd: dict[str, float]
    directions: dict[str, Direction]

    def get(self, name: str) -> Direction:
        if name not in self.directions:
            raise SamplingError(f"no direction {name!r}; this run has: {', '.join(self.directions)}")
        return self.directions[name]

    def of_kind(self, *kinds: str) -> list[Direction]:
        return [d for d in self.directions.values() if d.kind in kinds]


def parse_moves(texts: list[str] | None) -> list[tuple[str, float]]:
    """``["thickness=+2", "sefa-1=-1.5"]`` → [(name, amount)]; a clear SamplingError otherwise."""
    moves = []
    for text in texts or []:
        name, sep, amount = str(text).partition("=")
        try:
            value = float(amount)
        except ValueError:
            value = float("nan")
        if not sep or not name.strip() or not np.isfinite(value) or abs(value) > 10:
            raise SamplingError(f"--move takes NAME=AMOUNT with AMOUNT from -10 to 10 (e.g. thickness=+2), "
                                f"got {text!r}")
        moves.append((name.strip(), value))
    return moves


def move(z: np.ndarray, cfg, steps: list[tuple[Direction, float]]) -> np.ndarray:
    """Latents moved ``amount`` units along each direction, kept where G was trained (sphere, cube)."""
    z = np.array(z, np.float32, copy=True)
    norm = np.linalg.norm(z, axis=-1, keepdims=True)
    for d, amount in steps:
        z = z + np.float32(amount * d.scale) * d.vector
    if cfg.latent_dist == "sphere":
        z = z / (np.linalg.norm(z, axis=-1, keepdims=True) + 1e-8) * norm
    elif cfg.latent_dist == "uniform":
        z = np.clip(z, -1.0, 1.0)
    return z.astype(np.float32)


def _labels(cfg, n: int) -> np.ndarray | None:
    return (np.arange(n) % cfg.num_classes).astype(np.int32) if cfg.takes_label else None


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / (np.linalg.norm(v) + 1e-12)).astype(np.float32)


def _ridge(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Coefficients (dim, k) of centred targets y (n, k) on centred latents z (n, dim)."""
    zc = z - z.mean(0)
    return np.linalg.solve(zc.T @ zc + RIDGE * np.eye(z.shape[1]), zc.T @ (y - y.mean(0)))


def _within_label(values: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    """Values less their label's mean: for conditional models, the attribute's variation within a digit."""
    if labels is None:
        return values
    out = np.array(values, np.float64, copy=True)
    for k in np.unique(labels):
        out[labels == k] -= out[labels == k].mean(0)
    return out


def first_dense(generator):
    """The first Dense layer of G: the one that sees z (first in its input when a label is joined)."""
    for layer in generator.layers:
        if layer.__class__.__name__ == "Dense":
            return layer
    raise SamplingError("this generator has no Dense layer on its latent input")


def sefa(generator, cfg, k: int) -> list[np.ndarray]:
    """SeFa (Shen & Zhou 2021): the top-k singular vectors of the first layer's weights on z."""
    w = np.asarray(first_dense(generator).kernel, np.float64)[:cfg.latent_dim]  # (dim, units)
    u = np.linalg.svd(w, full_matrices=False)[0]
    return [_unit(u[:, i]) for i in range(min(k, u.shape[1]))]


def early_activations(generator, cfg, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    """G's activations after its first Dense block (flattened, (N, units)): where GANSpace looks."""
    import keras

    names = [layer.__class__.__name__ for layer in generator.layers]
    start = generator.layers.index(first_dense(generator))
    acts = [i for i in range(start, len(names)) if names[i] in ("ReLU", "LeakyReLU")]
    if not acts:
        raise SamplingError("this generator has no activation after its first Dense layer")
    head = keras.Model(generator.inputs, generator.layers[acts[0]].output)
    x = [z, labels.reshape(-1, 1)] if labels is not None else z
    return np.asarray(head.predict(x, batch_size=500, verbose=0), np.float64).reshape(len(z), -1)


def ganspace(generator, cfg, z: np.ndarray, labels: np.ndarray | None, k: int) -> list[np.ndarray]:
    """GANSpace (Härkönen et al. 2020): the top-k principal components of the early activations,
    carried back to z by linear regression, as BigGAN's are in the paper."""
    acts = early_activations(generator, cfg, z, labels)
    acts -= acts.mean(0)
    gram_vals, gram_vecs = np.linalg.eigh(acts @ acts.T)  # n × n: cheaper than the SVD of n × units
    order = np.argsort(gram_vals)[::-1][:k]
    coords = gram_vecs[:, order] * np.sqrt(np.maximum(gram_vals[order], 0))
    w = _ridge(z.astype(np.float64), coords)
    return [_unit(w[:, i]) for i in range(w.shape[1])]


def _assess(generator, cfg, d: Direction, z: np.ndarray, labels, names, sd, reader: Reader | None) -> None:
    """Fill in what moving ``z`` to −2 and +2 along ``d`` does (in place); orient discovered ones
    so that + increases the attribute they change most."""
    lo = generate(generator, cfg, move(z, cfg, [(d, -ASSESS_AMOUNT)]), labels)
    hi = generate(generator, cfg, move(z, cfg, [(d, ASSESS_AMOUNT)]), labels)
    a, b = measure(lo), measure(hi)
    d.effect = {k: float(np.mean(b[k] - a[k]) / (2 * ASSESS_AMOUNT) / sd[k]) for k in names}
    d.agrees = {k: float(np.mean(b[k] > a[k])) for k in names}
    if reader is not None:
        d.holds = float(np.mean(reader(lo).argmax(1) == reader(hi).argmax(1)))
    if d.kind != "attribute" and d.effect[d.main] < 0:
        d.vector = -d.vector
        d.effect = {k: -v for k, v in d.effect.items()}
        d.agrees = {k: float(np.mean(a[k] > b[k])) for k in names}


def fit(generator, cfg, reader: Reader | None = None, *, n: int = 2000, n_assess: int = 200,
        discovered: int = 5, seed: int = 0, keep_digit: bool = True) -> Space:
    """Every direction of a generator, and how well each works.

    An attribute's direction is the ridge fit of the attribute on z over ``n`` samples (for
    conditional models, within each digit: one direction shared by all digits). With a ``reader``
    and an unconditional model, ``keep_digit`` takes out of it the directions along which the
    evaluator's reading changes (InterFaceGAN's conditional edit), so the digit tends to stay.
    Each direction is then tried on ``n_assess`` other samples moved to −2 and +2.
    """
    names = attribute_names(cfg.dataset)
    z = latents(n, cfg.latent_dim, cfg.latent_dist, seed=seed + 4242)
    labels = _labels(cfg, n)
    images = generate(generator, cfg, z, labels)
    values = measure(images)
    sd = {k: float(np.std(values[k])) or 1.0 for k in names}
    y = _within_label(np.stack([values[k] for k in names], 1), labels)
    w = _ridge(z.astype(np.float64), y / np.array([sd[k] for k in names]))
    if keep_digit and reader is not None and not cfg.is_conditional:
        q = np.linalg.qr(_ridge(z.astype(np.float64), np.log(reader(images) + 1e-6)))[0]
        w = w - q @ (q.T @ w)
    vectors = [("attribute", k, _unit(w[:, i])) for i, k in enumerate(names)]
    vectors += [("sefa", f"sefa-{i + 1}", v) for i, v in enumerate(sefa(generator, cfg, discovered))]
    vectors += [("pca", f"pca-{i + 1}", v) for i, v in enumerate(ganspace(generator, cfg, z, labels, discovered))]
    zt = latents(n_assess, cfg.latent_dim, cfg.latent_dist, seed=seed + 4243)
    lt = _labels(cfg, n_assess)
    out = {}
    for kind, name, v in vectors:
        d = Direction(name, kind, v, float(np.std(z @ v)) or 1.0)
        _assess(generator, cfg, d, zt, lt, names, sd, reader)
        out[name] = d
    return Space(names, sd, out)


def strip(generator, cfg, z: np.ndarray, d: Direction, amounts, label: int | None = None) -> np.ndarray:
    """uint8 images (len(z) × len(amounts), H, W): each z moved to each amount, row by row. Models that
    take a digit (or code) draw ``label``, or without one a different digit per row (2, 7, 2, …)."""
    z = np.asarray(z, np.float32).reshape(-1, cfg.latent_dim)
    zz = np.concatenate([move(z, cfg, [(d, float(a))]) for a in amounts])
    order = np.arange(len(zz)).reshape(len(amounts), len(z)).T.ravel()  # row = one z
    labels = None
    if cfg.takes_label:
        rows = np.full(len(z), label) if label is not None else np.resize([2, 7], len(z)) % cfg.num_classes
        labels = np.repeat(rows, len(amounts)).astype(np.int32)
    return generate(generator, cfg, zz[order], labels)
