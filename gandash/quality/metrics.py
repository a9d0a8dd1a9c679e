"""Quality metrics of a set of images, computed from an evaluator's outputs (pure NumPy).

Inputs are the evaluator's class probabilities ``probs`` (N, 10) and its
penultimate-layer features ``feats`` (N, D); nothing here loads a model.
"""
from __future__ import annotations

import math

import numpy as np

CONFIDENT = 0.9  # a sample counts as recognisable above this top-class probability
PR_K = 3  # neighbourhood size of the k-NN manifolds (Kynkäänniemi et al. 2019)
_EPS = 1e-12


def feature_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a feature set, in float64 (the Gaussian of the Fréchet distance)."""
    x = np.asarray(feats, np.float64)
    if len(x) < 2:
        raise ValueError("feature statistics need at least 2 samples")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||² + Tr(S1 + S2 - 2 (S1 S2)^½) between two Gaussians.

    Tr((S1 S2)^½) is taken as the sum of square roots of the eigenvalues of the
    symmetric S1^½ S2 S1^½ (same spectrum), which stays real and stable when a
    covariance is singular (fewer samples than feature dimensions).
    """
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    root1 = _sqrt_psd(np.asarray(sigma1, np.float64))
    middle = root1 @ np.asarray(sigma2, np.float64) @ root1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    d = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_sqrt
    return float(max(d, 0.0))  # rounding can leave -1e-12 for identical sets


def fd_standard_error(feats: np.ndarray, mu: np.ndarray, sigma: np.ndarray, resamples: int = 10,
                      seed: int = 0) -> float:
    """Bootstrap standard error of the Fréchet distance of ``feats`` to (mu, sigma): the spread of FD over
    resamples of the samples scored (the sampling noise of one evaluation, not seed-to-seed)."""
    x = np.asarray(feats, np.float64)
    if len(x) < 10:
        return float("nan")
    rng = np.random.default_rng(seed)
    values = [frechet_distance(*feature_stats(x[rng.integers(0, len(x), len(x))]), mu, sigma)
              for _ in range(resamples)]
    return float(np.std(values, ddof=1))


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 10, size: int = 500, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018) in the evaluator's features: the unbiased MMD²
    with the cubic polynomial kernel (x·y/d + 1)³, averaged over ``subsets`` random subsets of ``size``
    samples per side (fewer when fewer are given), with its standard deviation over them. Unlike FD it is
    unbiased: its expected value does not depend on the sample count."""
    real, fake = np.asarray(real, np.float32), np.asarray(fake, np.float32)  # kernels in float32, sums in float64
    m = min(size, len(real), len(fake))
    if m < 2:
        return float("nan"), float("nan")
    d = real.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), m, replace=False)]
        y = fake[rng.choice(len(fake), m, replace=False)]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        off = m * (m - 1)
        tr_x, tr_y = np.trace(kxx, dtype=np.float64), np.trace(kyy, dtype=np.float64)
        values.append((kxx.sum(dtype=np.float64) - tr_x) / off + (kyy.sum(dtype=np.float64) - tr_y) / off
                      - 2 * kxy.mean(dtype=np.float64))
    return float(np.mean(values)), float(np.std(values, ddof=1) if subsets > 1 else 0.0)


def classifier_score(probs: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))): high when each sample is clear and the classes are varied."""
    p = np.clip(np.asarray(probs, np.float64), _EPS, 1.0)
    p_y = p.mean(axis=0, keepdims=True)
    kl = (p * (np.log(p) - np.log(p_y))).sum(axis=1)
    return float(np.exp(kl.mean()))


def class_histogram(probs: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """Share of samples per predicted class (sums to 1)."""
    pred = np.asarray(probs).argmax(axis=1)
    return np.bincount(pred, minlength=num_classes)[:num_classes] / max(len(pred), 1)


def normalised_entropy(hist: np.ndarray) -> float:
    """Entropy of a class histogram divided by log(classes): 1 = uniform, 0 = one class."""
    h = np.asarray(hist, np.float64)
    nz = h[h > 0]
    return float(-(nz * np.log(nz)).sum() / np.log(len(h)))


def share_error(share: float, n: int) -> float:
    """Standard error of a share of ``n`` independent samples (binomial): the sampling noise of one evaluation
    of a share metric (confidence, per-digit accuracy, precision, recall)."""
    if not (n >= 2 and math.isfinite(share)):
        return float("nan")
    return math.sqrt(max(share * (1.0 - share), 0.0) / n)


def confidence(probs: np.ndarray, threshold: float = CONFIDENT) -> float:
    """Share of samples whose top class probability exceeds ``threshold``."""
    return float((np.asarray(probs).max(axis=1) > threshold).mean())


def conditional_accuracy(probs: np.ndarray, labels: np.ndarray, num_classes: int = 10) -> dict[str, float]:
    """``cond_acc`` (asked for k, classified as k) overall and ``cond_acc_k`` per class (NaN if unasked)."""
    pred = np.asarray(probs).argmax(axis=1)
    labels = np.asarray(labels).reshape(-1)
    hit = pred == labels
    out = {"cond_acc": float(hit.mean())}
    for k in range(num_classes):
        mask = labels == k
        out[f"cond_acc_{k}"] = float(hit[mask].mean()) if mask.any() else float("nan")
    return out


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0)


def _kth_radii(x: np.ndarray, k: int, chunk: int = 1024) -> np.ndarray:
    """Squared distance of each point to its k-th nearest neighbour in the same set (self excluded)."""
    out = np.empty(len(x), np.float32)
    for i in range(0, len(x), chunk):
        d = _sq_dists(x[i:i + chunk], x)
        out[i:i + chunk] = np.partition(d, k, axis=1)[:, k]  # column 0 is the point itself
    return out


def _in_manifold(queries: np.ndarray, support: np.ndarray, radii: np.ndarray, chunk: int = 1024) -> np.ndarray:
    out = np.empty(len(queries), bool)
    for i in range(0, len(queries), chunk):
        out[i:i + chunk] = (_sq_dists(queries[i:i + chunk], support) <= radii[None, :]).any(axis=1)
    return out


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = PR_K) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN manifolds.

    Precision: share of generated samples inside the real manifold (realism).
    Recall: share of real samples inside the generated manifold (coverage).
    Either is NaN when its manifold needs more than ``k`` points and has fewer.
    """
    real = np.asarray(real, np.float32)
    fake = np.asarray(fake, np.float32)
    precision = recall = float("nan")
    if len(real) > k and len(fake):
        precision = float(_in_manifold(fake, real, _kth_radii(real, k)).mean())
    if len(fake) > k and len(real):
        recall = float(_in_manifold(real, fake, _kth_radii(fake, k)).mean())
    return precision, recall


def spread(images: np.ndarray, groups: np.ndarray | None = None) -> float:
    """How much a set of images differs from one another: the standard deviation of each pixel
    across the images (0-255 scaled to 0-1), averaged over pixels and over ``groups`` (the digit
    or code each image was drawn for). Near 0 when a generator draws one image per group."""
    x = np.asarray(images, np.float32).reshape(len(images), -1) / 255.0
    keys = np.zeros(len(x), int) if groups is None else np.asarray(groups).reshape(-1)
    per_group = [x[keys == k].std(axis=0).mean() for k in np.unique(keys) if (keys == k).sum() > 1]
    return float(np.mean(per_group)) if per_group else float("nan")


def label_metrics(probs: np.ndarray, labels: np.ndarray | None = None) -> dict[str, float]:
    """The metrics that need only class probabilities: score, histogram, entropy, rarest, confidence."""
    hist = class_histogram(probs)
    out = {"classifier_score": classifier_score(probs), "digit_entropy": normalised_entropy(hist),
           "rarest_share": float(hist.min()), "confidence": confidence(probs)}
    out.update({f"hist_{k}": float(v) for k, v in enumerate(hist)})
    if labels is not None:
        out.update(conditional_accuracy(probs, labels))
    return out
