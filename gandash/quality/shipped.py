"""The evaluator weights that ship with gandash, so a runs folder's evaluator is ready in seconds.

``gandash/quality/weights/<dataset>.npz`` holds the classifier's weights as float16 (about 330 KB
each) and the test accuracy they scored. They were made by this module's ``main``, with the same
recipe a runs folder would train (classifier.py), and loaded only through ``np.load`` with pickles
off. ``python -m gandash.quality.shipped [DATASET ...]`` makes them again.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
CHECK_IMAGES = 2000  # installing re-scores this many test images: a Keras that builds the net differently fails
CHECK_MARGIN = 0.02  # …if it scores more than this below the stored accuracy


def path(dataset: str) -> Path:
    return WEIGHTS_DIR / f"{dataset}.npz"


def enabled() -> bool:
    """Shipped weights are used unless the user asked for a trained evaluator (any of the env settings)."""
    if os.environ.get("GANDASH_EVALUATOR_SHIPPED", "1").strip() in ("0", "false", "no"):
        return False
    return not any(os.environ.get(k, "").strip() for k in ("GANDASH_EVALUATOR_EPOCHS",
                                                              "GANDASH_EVALUATOR_MAX_EXAMPLES"))


def info(dataset: str) -> dict[str, Any] | None:
    """What the shipped file says of itself (accuracy, epochs), or None when there is none to use."""
    return _stored(dataset) if enabled() else None


@functools.lru_cache(maxsize=4)
def _stored(dataset: str) -> dict[str, Any] | None:
    """Read once per process: pages ask for the evaluator's state on every rerun."""
    try:
        with np.load(path(dataset), allow_pickle=False) as d:
            return {"accuracy": float(d["accuracy"]), "epochs": float(d["epochs"]), "layers": int(d["layers"])}
    except (OSError, KeyError, ValueError):
        return None


def build(dataset: str):
    """(the classifier with the shipped weights, its stored test accuracy); ValueError if they do not fit
    or score below the stored accuracy on the first test images."""
    from gandash.engine.data import load_builtin
    from gandash.quality.classifier import build_classifier

    with np.load(path(dataset), allow_pickle=False) as d:
        weights = [d[f"w{i}"].astype(np.float32) for i in range(int(d["layers"]))]
        accuracy = float(d["accuracy"])
    model = build_classifier()
    model.set_weights(weights)  # ValueError on a shape that does not fit
    test = load_builtin(dataset, "test")
    x, y = test.images[:CHECK_IMAGES, ..., None].astype(np.float32), test.labels[:CHECK_IMAGES]
    got = float((model.predict(x, batch_size=500, verbose=0).argmax(1) == y).mean())
    if got < accuracy - CHECK_MARGIN:
        raise ValueError(f"the shipped {dataset} weights score {got:.3f} here, not {accuracy:.3f}")
    return model, accuracy


def save(dataset: str, model, epochs: float) -> float:
    """Store ``model``'s weights as float16; return the test accuracy of the stored (rounded) weights."""
    from gandash.engine.data import load_builtin
    from gandash.quality.classifier import build_classifier

    half = [w.astype(np.float16) for w in model.get_weights()]
    check = build_classifier()
    check.set_weights([w.astype(np.float32) for w in half])
    test = load_builtin(dataset, "test")
    accuracy = float((check.predict(test.images[..., None].astype(np.float32), batch_size=500, verbose=0)
                      .argmax(1) == test.labels).mean())
    WEIGHTS_DIR.mkdir(exist_ok=True)
    _stored.cache_clear()
    np.savez_compressed(path(dataset), layers=np.int32(len(half)), accuracy=np.float64(accuracy),
                        epochs=np.float64(epochs), **{f"w{i}": w for i, w in enumerate(half)})
    return accuracy


def main(argv: list[str]) -> int:
    from gandash.quality.classifier import DEFAULT_EPOCHS, train_classifier

    for dataset in argv or ["mnist", "fashion_mnist"]:
        model, trained, seconds = train_classifier(dataset, DEFAULT_EPOCHS[dataset], None, seed=0)
        stored = save(dataset, model, DEFAULT_EPOCHS[dataset])
        print(f"{dataset}: trained {seconds:.0f} s, test accuracy {trained:.4f}, as float16 {stored:.4f}, "
              f"{path(dataset).stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
