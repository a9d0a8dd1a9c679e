"""WGAN-GP: DCGAN-style generator, critic without batch norm or sigmoid; optional conditioning."""
from __future__ import annotations

import keras

from gandash.engine.models import dcgan
from gandash.engine.models._blocks import conditional_score, conv_disc_trunk, image_input, label_input, logit

build_generator = dcgan.build_generator  # with the label input when conditional


def build_discriminator(cfg) -> keras.Model:
    """The critic: a linear score per image (batch norm would break the per-sample penalty)."""
    x = image_input(cfg)
    if cfg.conditional:
        y = label_input()
        return keras.Model([x, y], conditional_score(x, y, cfg), name="critic")
    return keras.Model(x, logit(conv_disc_trunk(x, cfg), cfg), name="critic")
