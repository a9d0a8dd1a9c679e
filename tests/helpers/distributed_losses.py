"""Train 3 steps on one fixed global batch, on one device and mirrored over 2 logical CPUs.

Prints JSON {"single": {...}, "mirrored": {...}} of per-step losses. Run in its own
process: logical devices must be set before TensorFlow starts.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

from gandash.config import make_config  # noqa: E402
from gandash.engine.algorithms import build_gan  # noqa: E402

arch = sys.argv[1]
cfg = make_config("fast-unsupervised", dict(
    architecture=arch, width=0.25, batch_size=16, dropout=0.0, steps=3, steps_per_execution=1, distribute="mirrored",
    d_steps=2 if arch == "wgan-gp" else 1))
rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, (16, 28, 28, 1)).astype("float32")
y = rng.integers(0, 10, (16,)).astype("int32")
data = tf.data.Dataset.from_tensors((x, y)).repeat()
init = None


def losses(strategy):
    global init
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build_gan(cfg)
        if init is None:
            init = [w.numpy() for w in model.generator.weights + model.discriminator.weights]
        for var, value in zip(model.generator.weights + model.discriminator.weights, init):
            var.assign(value)
        model.compile(model.g_optimizer, model.d_optimizer, steps_per_execution=1)
    hist = model.fit(data, steps_per_epoch=1, epochs=3, verbose=0, shuffle=False)
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}


single = losses(tf.distribute.OneDeviceStrategy("/cpu:0"))
mirrored = losses(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
print(json.dumps({"single": single, "mirrored": mirrored}))
