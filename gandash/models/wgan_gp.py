"""WGAN-GP: DCGAN-style generator, critic without batch norm or sigmoid; optional conditioning."""
from __future__ import annotations

import keras

from gandash.models import cgan, dcgan
from gandash.models._blocks import conditional_score, conv_disc_trunk, image_input, label_input, logit


def build_generator(cfg) -> keras.Model:
    return cgan.build_generator(cfg) if cfg.conditional else dcgan.build_generator(cfg)


def build_discriminator(cfg) -> keras.Model:
    """The critic: a linear score per image (batch norm would break the per-sample penalty)."""
    x = image_input(cfg)
    if cfg.conditional:
        y = label_input()
        return keras.Model([x, y], conditional_score(x, y, cfg), name="critic")
    return keras.Model(x, logit(conv_disc_trunk(x, cfg), cfg), name="critic")
