"""Quality metrics of a generator, measured with the dataset's evaluator classifier.

``evaluate_run`` samples a run's saved generator (fixed seed), scores the images
and appends one row to the run's ``eval.csv``; ``evaluate_in_training`` does the
same from inside the trainer. Every result carries the same metrics measured on
real data (``reference``), because a number like "Fréchet distance 4.2" only
means something next to what real images score.

The reference takes the label metrics (histogram, entropy, confidence, classifier
score, per-digit accuracy with the true labels) from the real test split, and
the distance metrics (Fréchet distance, precision, recall) from 10,000 real
training images against the test split: the test split against itself would
trivially give 0, 1 and 1.

Run ``python -m gandash.quality.evaluate DATASET RUNS_ROOT`` to train and cache an
evaluator (this is what :func:`start_evaluator_training` starts in the background).
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gandash.quality.evaluator import (
    DATASETS,
    EVALUATOR_DIRNAME,
    FEATURES_LAYER,
    EvalError,
    Progress,
    check_dataset,
    ensure_evaluator,
    evaluator_status,
    load_cached,
    read_info,
    start_evaluator_training,
    write_info,
)
from gandash.quality.metrics import (
    PR_K,
    fd_standard_error,
    feature_stats,
    frechet_distance,
    kid,
    label_metrics,
    precision_recall,
    share_error,
)
from gandash.store.runs import RowWriter, Run

__all__ = ["EVALUATOR_DIRNAME", "EVAL_COLUMNS", "EvalError", "evaluator_status", "ensure_evaluator",
           "start_evaluator_training", "classify", "features", "compute_metrics", "reference_metrics",
           "evaluate_generator", "evaluate_run", "evaluate_in_training", "format_result"]

MAX_N = 100_000
TRAINING_N = 2000  # samples per evaluation during training: a few seconds on a CPU
PROBE_N = 300  # samples per health probe (config probe_every): 0.1-0.4 s on 2 cores, about 1 % of training
PR_SUBSET = 5000  # precision/recall compare at most this many samples per side (k-NN cost is quadratic)
REFERENCE_TRAIN_N = 10_000
SCALAR_KEYS = ("fd", "classifier_score", "digit_entropy", "rarest_share", "confidence", "precision", "recall")
UNCERTAIN_MIN_N = 1000  # evaluations of this many samples or more add KID, FD per digit and the sampling errors
PER_DIGIT_MIN = 20  # samples of a digit needed for its FD
CAS_EPOCHS = 2
EVAL_COLUMNS = ["step", "n", *SCALAR_KEYS, *(f"hist_{k}" for k in range(10)),
                "cond_acc", *(f"cond_acc_{k}" for k in range(10)), "seconds", "time", "fd_se", "kid", "kid_std",
                "fd_digit", *(f"fd_digit_{k}" for k in range(10)), "cas", "confidence_se", "cond_acc_se",
                "precision_se", "recall_se"]

_heads: dict[int, tuple[Any, Any]] = {}  # id(evaluator) -> (evaluator, its probs+features model)
_real: dict[tuple[str, str], _RealSet] = {}  # (dataset, evaluator sha256) -> test-split features
_started: set[tuple[str, str]] = set()  # background trainings started by this trainer process


@dataclass(frozen=True)
class _RealSet:
    mu: np.ndarray
    sigma: np.ndarray
    pr_feats: np.ndarray  # a fixed random subset of PR_SUBSET test features
    test_labels: dict[str, float]  # label metrics of the whole test split, with its true labels
    per_class: tuple  # (mu, sigma) of each class's test features, for FD within each digit


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_N:
        raise EvalError(f"n must be an integer from 1 to {MAX_N}, got {n!r}")
    return int(n)


def _as_images(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.dtype != np.uint8 or len(x) == 0:
        raise EvalError(f"images must be a non-empty uint8 array (N, H, W); got {x.dtype} {x.shape}")
    return x


def _subset(n: int, m: int, seed: int = 0) -> np.ndarray:
    """A fixed random choice of ``m`` of ``n`` indices (the same on every call)."""
    return np.random.default_rng(seed).permutation(n)[:m]


def _predict(model, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probs (N, 10), features (N, D)) of uint8 images of any size (resized to 28×28)."""
    import keras

    from gandash.engine.data import batches

    x = _as_images(images)[..., None].astype(np.float32)
    if x.shape[1:3] != (28, 28):
        import tensorflow as tf

        x = tf.image.resize(x, (28, 28), method="bilinear", antialias=True).numpy()
    held = _heads.get(id(model))
    if held is None or held[0] is not model:
        if len(_heads) > 4:
            _heads.clear()
        heads = keras.Model(model.inputs, [model.output, model.get_layer(FEATURES_LAYER).output])
        held = _heads[id(model)] = (model, heads)
    probs, feats = held[1].predict(batches(x, 500), verbose=0)
    return np.asarray(probs, np.float64), np.asarray(feats, np.float32)


def reader(dataset: str, runs_root: Path | str):
    """A function from uint8 images (N, H, W) to class probabilities by the dataset's ready (or
    shipped) evaluator; None when there is none (a custom dataset, or one still training)."""
    model = load_cached(dataset, runs_root) if dataset != "custom" else None
    return None if model is None else (lambda images: _predict(model, images)[0])


def classify(images: np.ndarray, dataset: str, runs_root: Path | str) -> np.ndarray:
    """Class probabilities (N, 10) of uint8 images (N, H, W) by the dataset's evaluator."""
    return _predict(ensure_evaluator(dataset, runs_root), images)[0]


def features(images: np.ndarray, dataset: str, runs_root: Path | str) -> np.ndarray:
    """The evaluator's penultimate-layer features (N, 128) of uint8 images (N, H, W)."""
    return _predict(ensure_evaluator(dataset, runs_root), images)[1]


def _real_set(dataset: str, runs_root: Path | str, model) -> _RealSet:
    key = (dataset, str(read_info(dataset, runs_root).get("sha256")))
    if key not in _real:
        from gandash.engine.data import load_builtin

        test = load_builtin(dataset, "test")
        probs, feats = _predict(model, test.images)
        mu, sigma = feature_stats(feats)
        per_class = tuple(feature_stats(feats[test.labels == k]) for k in range(10))
        _real[key] = _RealSet(mu, sigma, feats[_subset(len(feats), PR_SUBSET)], label_metrics(probs, test.labels),
                              per_class)
    return _real[key]


def _per_digit_fd(feats: np.ndarray, groups: np.ndarray, real: _RealSet) -> dict[str, float]:
    """FD within each digit: the samples of digit k (asked for, or else read by the evaluator) against the
    real test digits k; ``fd_digit`` is their mean over the digits with at least PER_DIGIT_MIN samples."""
    out = {}
    for k in range(10):
        mine = feats[groups == k]
        out[f"fd_digit_{k}"] = (frechet_distance(*feature_stats(mine), *real.per_class[k])
                                if len(mine) >= PER_DIGIT_MIN else math.nan)
    have = [v for v in out.values() if math.isfinite(v)]
    out["fd_digit"] = float(np.mean(have)) if have else math.nan
    return out


def _distance_metrics(feats: np.ndarray, real: _RealSet) -> dict[str, float]:
    fd = frechet_distance(*feature_stats(feats), real.mu, real.sigma) if len(feats) >= 2 else math.nan
    m = min(len(feats), len(real.pr_feats))  # equal sizes: recall depends on the ratio
    precision, recall = precision_recall(real.pr_feats[:m], feats[_subset(len(feats), m, seed=1)], PR_K)
    out = {"fd": fd, "precision": precision, "recall": recall}
    if len(feats) >= UNCERTAIN_MIN_N:  # the leaderboard's evaluations, not the curves' or the probe's
        out["fd_se"] = fd_standard_error(feats, real.mu, real.sigma)
        out["kid"], out["kid_std"] = kid(real.pr_feats, feats)
        out["precision_se"], out["recall_se"] = share_error(precision, m), share_error(recall, m)
    return out


def _ordered(distance: dict[str, float], labels: dict[str, float]) -> dict[str, float]:
    both = {**distance, **labels}
    head = {k: both[k] for k in SCALAR_KEYS}
    return {**head, **{k: v for k, v in both.items() if k not in head}}


def compute_metrics(images: np.ndarray, dataset: str, runs_root: Path | str,
                    labels: np.ndarray | None = None) -> dict[str, float]:
    """Every metric of a set of uint8 images; ``labels`` (the digits asked for) add cond_acc."""
    model = ensure_evaluator(dataset, runs_root)
    probs, feats = _predict(model, images)
    if labels is not None and len(np.asarray(labels).reshape(-1)) != len(probs):
        raise EvalError(f"labels: expected {len(probs)} labels, got {len(np.asarray(labels).reshape(-1))}")
    real = _real_set(dataset, runs_root, model)
    distance = _distance_metrics(feats, real)
    shares = label_metrics(probs, labels)
    if len(feats) >= UNCERTAIN_MIN_N:
        groups = np.asarray(labels).reshape(-1) if labels is not None else probs.argmax(1)
        distance.update(_per_digit_fd(feats, groups, real))
        distance.update({f"{k}_se": share_error(shares[k], len(probs)) for k in ("confidence", "cond_acc")
                         if k in shares})
    return _ordered(distance, shares)


def reference_metrics(dataset: str, runs_root: Path | str) -> dict[str, float]:
    """The metrics of real data (see the module docstring), cached in the evaluator's json."""
    model = ensure_evaluator(dataset, runs_root)
    info = read_info(dataset, runs_root)
    ref = info.get("reference")
    if isinstance(ref, dict) and info.get("reference_sha256") == info.get("sha256") and "kid" in ref:
        return {k: float(v) for k, v in ref.items()}
    from gandash.engine.data import load_builtin

    train = load_builtin(dataset, "train")
    idx = _subset(len(train), REFERENCE_TRAIN_N, seed=2)
    train_feats = _predict(model, train.images[idx])[1]
    real = _real_set(dataset, runs_root, model)
    ref = {**_distance_metrics(train_feats, real), **_per_digit_fd(train_feats, train.labels[idx], real)}
    ref = _ordered(ref, real.test_labels)
    write_info(dataset, runs_root, reference=ref, reference_sha256=info.get("sha256"))
    return ref


def evaluate_generator(generator, cfg, runs_root: Path | str, n: int = 10_000, seed: int = 0,
                       progress: Progress | None = None, with_cas: bool = False) -> dict[str, Any]:
    """Metrics of ``n`` samples (fixed ``seed``) of an in-memory generator, with the reference; ``with_cas``
    adds CAS for a conditional model (a classifier trained on the samples: seconds more), and the CAS
    of as many real training digits beside it."""
    from gandash.explore.sampling import sample

    n = _check_n(n)
    check_dataset(cfg.dataset)
    say = progress or (lambda msg: None)
    ensure_evaluator(cfg.dataset, runs_root, say)
    t0 = time.perf_counter()
    say(f"generating {n} samples")
    images, labels = sample(generator, cfg, n, seed=seed)
    say("scoring them with the evaluator")
    asked = labels if cfg.is_conditional else None  # an InfoGAN code is not a digit
    result: dict[str, Any] = {"n": n, **compute_metrics(images, cfg.dataset, runs_root, asked)}
    reference = dict(reference_metrics(cfg.dataset, runs_root))
    if with_cas:
        if not cfg.is_conditional:
            raise EvalError("CAS needs a conditional model: the digit each sample was asked to be is its label")
        say("training a classifier on the samples (CAS)")
        result["cas"] = cas(images, labels, cfg.dataset)
        from gandash.engine.data import load_builtin

        train = load_builtin(cfg.dataset, "train")
        idx = _subset(len(train), n, seed=3)
        reference["cas"] = cas(train.images[idx], train.labels[idx], cfg.dataset)
    result.update(seconds=time.perf_counter() - t0, time=time.time(), dataset=cfg.dataset,
                  evaluator_accuracy=read_info(cfg.dataset, runs_root).get("accuracy"), reference=reference)
    return result


def cas(images: np.ndarray, labels: np.ndarray, dataset: str, epochs: int = CAS_EPOCHS, seed: int = 0) -> float:
    """Classification Accuracy Score (Ravuri & Vinyals 2019): the evaluator's network trained from scratch
    only on these generated images and the digits they were asked to be, then scored on the real test
    split. High only when every digit is drawn both recognisably and with the variety of real ones."""
    import keras

    from gandash.engine.data import batches, load_builtin
    from gandash.quality.classifier import BATCH_SIZE, build_classifier

    x = _as_images(images)
    if x.shape[1:] != (28, 28):
        import tensorflow as tf

        x = tf.image.resize(x[..., None], (28, 28), antialias=True).numpy()[..., 0]
    y = np.asarray(labels, np.int32).reshape(-1)
    if len(y) != len(x) or len(x) < 10:
        raise EvalError(f"CAS needs at least 10 images with one label each, got {len(x)} and {len(y)}")
    keras.utils.set_random_seed(seed)
    model = build_classifier()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    order = np.random.default_rng(seed).permutation(len(x))
    model.fit(batches((x[order, ..., None].astype("float32"), y[order]), BATCH_SIZE), epochs=epochs, verbose=0)
    test = load_builtin(dataset, "test")
    return float(model.evaluate(batches((test.images[..., None].astype("float32"), test.labels), 1000),
                                verbose=0)[1])


def append_row(run: Run, result: dict[str, Any]) -> None:
    """One row of ``eval.csv`` (columns :data:`EVAL_COLUMNS`, step first)."""
    writer = RowWriter(run.eval_path, EVAL_COLUMNS)
    try:
        writer.write({k: result.get(k, "") for k in EVAL_COLUMNS})
    finally:
        writer.close()


def _checkpoint_step(run: Run) -> int | None:
    try:
        with np.load(run.checkpoint_path, allow_pickle=False) as ck:
            return int(ck["step"])
    except (OSError, ValueError, KeyError):
        return None


def evaluate_run(run: Run, n: int = 10_000, seed: int = 0, progress: Progress | None = None,
                 with_cas: bool = False) -> dict[str, Any]:
    """Evaluate a run's saved generator, append the row to its eval.csv, return it with ``step``."""
    from gandash.explore.sampling import load_generator

    n = _check_n(n)
    cfg = run.config()
    check_dataset(cfg.dataset)
    if not run.generator_path.exists():
        raise EvalError(f"run {run.id} has no generator.keras yet (it saves one at its first checkpoint)")
    say = progress or (lambda msg: None)
    say(f"loading the generator of {run.id}")
    # generator.keras is replaced just before checkpoint.npz: if the step moved while we
    # loaded, load again so the step written is the generator's own
    step = _checkpoint_step(run)
    generator = load_generator(run.generator_path)
    if step is not None and _checkpoint_step(run) != step:
        step, generator = _checkpoint_step(run), load_generator(run.generator_path)
    if step is None:
        step = int(run.status().get("step") or 0)
    result = {"step": step, **evaluate_generator(generator, cfg, run.dir.parent, n, seed, say, with_cas)}
    append_row(run, result)
    return result


def evaluate_in_training(run: Run, generator, cfg, step: int, n: int = TRAINING_N,
                         quiet: bool = False) -> dict[str, Any] | None:
    """Metrics of the training generator at ``step`` into eval.csv; never raises.

    While the evaluator is not trained yet this starts its training in the
    background and skips (a warning in the log), rather than stalling training.
    ``quiet`` (the health probe, which nobody asked for) only uses an evaluator that is ready,
    or shipped, and says nothing when there is none.
    """
    try:
        if quiet and (cfg.dataset not in DATASETS or evaluator_status(cfg.dataset, run.dir.parent)["state"] != "ready"):
            return None
        if cfg.dataset not in DATASETS:
            if ("custom", "") not in _started:
                _started.add(("custom", ""))
                print(f"warning: no quality metrics for dataset {cfg.dataset!r} (only {', '.join(DATASETS)})",
                      flush=True)
            return None
        root = run.dir.parent
        status = evaluator_status(cfg.dataset, root)
        if status["state"] != "ready":
            key = (cfg.dataset, str(root.resolve()))
            if status["state"] != "training" and key not in _started:
                _started.add(key)
                start_evaluator_training(cfg.dataset, root)
                status["state"] = "training"
            print(f"warning: step {step}: no quality metrics yet, the {cfg.dataset} evaluator is "
                  f"{status['state']} {status['error']}".rstrip(), flush=True)
            return None
        result = {"step": step, **evaluate_generator(generator, cfg, root, n=n)}
        append_row(run, result)
        return result
    except Exception as e:  # noqa: BLE001 - metrics must never end a training run
        print(f"warning: step {step}: evaluation failed: {type(e).__name__}: {e}".splitlines()[0], flush=True)
        return None


def _fmt(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        return "-"
    if abs(value) >= 10:
        return f"{value:.2f}"
    return f"{value:.3f}" if abs(value) >= 0.01 or value == 0 else f"{value:.2g}"


def format_result(result: dict[str, Any]) -> str:
    """A table of the metrics with the real-data reference beside each."""
    ref = result.get("reference") or {}
    noun = "digit" if result.get("dataset", "mnist") == "mnist" else "class"
    head = [f"step {result['step']}" if "step" in result else "",
            f"{result['n']} samples" if "n" in result else "",
            f"evaluator test accuracy {100 * result['evaluator_accuracy']:.2f}%"
            if isinstance(result.get("evaluator_accuracy"), (int, float)) else "",
            f"{result['seconds']:.1f} s" if isinstance(result.get("seconds"), (int, float)) else ""]
    rows = [("Fréchet distance (lower is better)", "fd"), ("  its bootstrap standard error", "fd_se"),
            ("KID (unbiased; lower is better)", "kid"), ("  its standard deviation over subsets", "kid_std"),
            (f"FD within each {noun}, mean", "fd_digit"),
            *((f"  FD within {noun} {k}", f"fd_digit_{k}") for k in range(10)),
            ("CAS (trained on the samples, read real test)", "cas"),
            ("classifier score (max 10)", "classifier_score"),
            (f"{noun} entropy (1 = all equally often)", "digit_entropy"),
            (f"rarest {noun} share (0.1 = balanced)", "rarest_share"),
            ("confident (top probability > 0.9)", "confidence"), ("  its standard error", "confidence_se"),
            ("precision (realism)", "precision"), ("  its standard error", "precision_se"),
            ("recall (coverage)", "recall"), ("  its standard error", "recall_se")]
    rows += [(f"  share of {noun} {k}", f"hist_{k}") for k in range(10)]
    if _fmt(result.get("cond_acc")) != "-":
        rows += [("conditional accuracy", "cond_acc"), ("  its standard error", "cond_acc_se")]
        rows += [(f"  {noun} {k} asked, {k} seen", f"cond_acc_{k}") for k in range(10)]
    width = max(len(label) for label, _ in rows)
    rows = [(label, key) for label, key in rows if _fmt(result.get(key)) != "-" or _fmt(ref.get(key)) != "-"]
    lines = [" · ".join(h for h in head if h), f"{'metric':{width}}  {'generated':>9}  {'real data':>9}"]
    lines += [f"{label:{width}}  {_fmt(result.get(key)):>9}  {_fmt(ref.get(key)):>9}" for label, key in rows]
    lines.append("Features and classifier: the dataset's evaluator (a small CNN; see `eval_speed`). FD and its "
                 "error depend on the sample count; KID does not.")
    return "\n".join(line for line in lines if line)


def main(argv: list[str] | None = None) -> int:
    """``python -m gandash.quality.evaluate DATASET RUNS_ROOT``: train and cache the evaluator."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m gandash.quality.evaluate DATASET RUNS_ROOT", file=sys.stderr)
        return 2
    dataset, root = args
    try:
        ensure_evaluator(dataset, root, progress=lambda msg: print(msg, flush=True))
        reference_metrics(dataset, root)
    except Exception as e:  # noqa: BLE001 - the json already says "failed"; the log says why
        print(f"error: {type(e).__name__}: {e}", flush=True)
        return 1
    print(f"{dataset} evaluator ready", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
