"""Losses and samples of a few training steps per algorithm and trick, for the refactoring guard.

    python tests/helpers/step_reference.py CASE [CASE ...] [--configs FILE]   # prints {case: values}

Each case trains a tiny model for 4 steps on real MNIST with ``train()`` (so the callbacks,
the weight average and the tape re-entry all take part) and records every logged loss and
the sampler's images for fixed noise. ``tests/data/step_reference.json`` holds the values
recorded before the training code was restructured; ``tests/test_step_reference.py``
compares today's code to them. Run in its own process: mirrored training needs two
logical CPUs set before TensorFlow starts.
"""
import base64
import json
import os
import sys
import tempfile

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
BASE = dict(dataset="mnist", image_size=28, latent_dim=16, width=0.25, batch_size=16, steps=4, log_every=1,
            sample_every=100, checkpoint_every=4, steps_per_execution=1, ema=0.0, augment=0.0,
            latent_code=False, seed=3, eval_every=0, max_seconds=0.0)
CASES = {
    "mlp": dict(architecture="mlp"),
    "dcgan": dict(architecture="dcgan"),
    "cgan": dict(architecture="cgan"),
    "acgan": dict(architecture="acgan"),
    "wgan-gp": dict(architecture="wgan-gp", d_steps=2),
    "latent_code": dict(architecture="dcgan", latent_code=True),
    "augment": dict(architecture="dcgan", augment=0.5),
    "ema": dict(architecture="dcgan", ema=0.9),
    "simultaneous": dict(architecture="dcgan", update="simultaneous", latent_code=True),
    "mirrored": dict(architecture="dcgan", distribute="mirrored", latent_code=True, augment=0.5),
}
# the gradient norms and the grid's spread were logged only after the reference was stored
LOSS_KEYS_SKIPPED = ("step", "epoch", "wall_time", "time", "images_per_sec", "g_grad_norm", "d_grad_norm",
                     "sample_spread")


def record(case: str, cfg_dict: dict | None = None) -> dict:
    """The case's losses and samples; ``cfg_dict``: the stored config (so later preset changes do not matter)."""
    from gandash.config import config_from_dict, make_config
    from gandash.engine.train import train
    from gandash.explore.sampling import load_generator, sample
    from gandash.store.runs import RunStore

    cfg = config_from_dict(cfg_dict) if cfg_dict else make_config("dcgan-keras", {**BASE, **CASES[case]})
    cfg_dict = json.loads(cfg.to_json())
    with tempfile.TemporaryDirectory() as root:
        run = RunStore(root).create(cfg)
        state = train(run, install_signal_handlers=False)
        assert state == "finished", (state, run.status(), run.log_tail())
        rows = [{k: v for k, v in r.items() if k not in LOSS_KEYS_SKIPPED} for r in run.metrics()]
        images, _ = sample(load_generator(run.generator_path), cfg, 4, 0 if cfg.takes_label else None, seed=5)
    return {"config": cfg_dict, "losses": rows, "images": base64.b64encode(images.astype(np.uint8).tobytes()).decode()}


def main(argv: list[str]) -> None:
    configs = {}
    if "--configs" in argv:
        i = argv.index("--configs")
        with open(argv[i + 1]) as f:
            configs = {case: v["config"] for case, v in json.load(f).items()}
        argv = argv[:i] + argv[i + 2:]
    if any(CASES[c].get("distribute") == "mirrored" for c in argv):
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    print(json.dumps({case: record(case, configs.get(case)) for case in argv}))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    main(sys.argv[1:])
