"""WGAN-GP: DCGAN-style generator, critic without batch norm or sigmoid; optional conditioning."""
from __future__ import annotations

import keras
from keras import layers

from gandash.models import cgan, dcgan
from gandash.models._blocks import conv_disc_trunk, image_input, label_input, label_map, logit


def build_generator(cfg) -> keras.Model:
    return cgan.build_generator(cfg) if cfg.conditional else dcgan.build_generator(cfg)


def build_discriminator(cfg) -> keras.Model:
    """The critic: a linear score per image (batch norm would break the per-sample penalty)."""
    x = image_input(cfg)
    if cfg.conditional:
        y = label_input()
        h = layers.Concatenate()([x, label_map(y, cfg)])
        return keras.Model([x, y], logit(conv_disc_trunk(h, cfg), cfg), name="critic")
    return keras.Model(x, logit(conv_disc_trunk(x, cfg), cfg), name="critic")
