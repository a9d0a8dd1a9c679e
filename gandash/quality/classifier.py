"""The evaluator network: a small CNN trained on a dataset's real training split.

Caching, locking and background training of it live in :mod:`gandash.quality.evaluator`.
"""
from __future__ import annotations

import time
from collections.abc import Callable

FEATURES_LAYER = "features"  # the penultimate layer: features for Fréchet distance and precision/recall
DEFAULT_EPOCHS = {"mnist": 4.0, "fashion_mnist": 6.0}  # Fashion-MNIST needs longer for 90%
BATCH_SIZE = 128


def build_classifier():
    """Three conv/pool stages (24-48-96), a 128-unit feature layer, softmax over 10 classes.

    Sized for a 2-core CPU: about 4M multiply-adds per image; the 16-32-64
    variant was twice as fast but stayed under 90% on Fashion-MNIST. Input is
    raw pixel values (0..255) as float: the rescaling is part of the model so
    every caller feeds the same thing.
    """
    import keras
    from keras import layers

    inputs = keras.Input((28, 28, 1))
    x = layers.Rescaling(1 / 255.0)(inputs)
    for filters in (24, 48, 96):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Dense(128, activation="relu", name=FEATURES_LAYER)(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(10, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="evaluator")


def train_classifier(dataset: str, epochs: float | None = None, max_examples: int | None = None,
                     on_progress: Callable[[float, str], None] | None = None, seed: int = 0):
    """Train on the real training split; return (model, test accuracy, seconds)."""
    import keras
    import numpy as np

    from gandash.engine.data import batches, load_builtin

    t0 = time.perf_counter()
    epochs = DEFAULT_EPOCHS[dataset] if epochs is None else epochs
    train, test = load_builtin(dataset, "train"), load_builtin(dataset, "test")
    x, y = train.images, train.labels
    if max_examples:
        x, y = x[:max_examples], y[:max_examples]
    keras.utils.set_random_seed(seed)
    model = build_classifier()
    steps_per_epoch = max(1, len(x) // BATCH_SIZE)
    total = max(1, round(epochs * steps_per_epoch))
    lr = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=total, alpha=0.02)
    model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(seed)
    done = 0
    report = on_progress or (lambda frac, msg: None)
    while done < total:  # own loop over epochs: fractional epochs and a progress bar per chunk
        order = rng.permutation(len(x))
        chunk = min(total - done, steps_per_epoch)
        idx = order[:chunk * BATCH_SIZE]
        model.fit(batches((x[idx, ..., None].astype("float32"), y[idx]), BATCH_SIZE), epochs=1,
                  shuffle=False, verbose=0,
                  callbacks=[_batch_progress(lambda b, done=done: report(
                      (done + b) / total, f"epoch {(done + b) / steps_per_epoch:.1f} of {epochs:g}"))])
        done += chunk
    report(1.0, "measuring test accuracy")
    _, acc = model.evaluate(batches((test.images[..., None].astype("float32"), test.labels), 1000), verbose=0)
    return model, float(acc), time.perf_counter() - t0


def _batch_progress(callback: Callable[[int], None]):
    import keras

    class BatchProgress(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch % 20 == 19:
                callback(batch + 1)

    return BatchProgress()
