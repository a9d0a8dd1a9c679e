"""Vanilla fully-connected GAN: G 256-512-1024-784 tanh, D 1024-512-256-1 with dropout."""
from __future__ import annotations

import keras
from keras import layers

from gandash.engine.models._blocks import batch_norm, ch, generator_input, image_input, logit, sn


def build_generator(cfg) -> keras.Model:
    inputs, h = generator_input(cfg)
    for units in (256, 512, 1024):
        h = layers.Dense(ch(units, cfg))(h)
        h = layers.LeakyReLU(cfg.leaky_slope)(h)
        if cfg.batch_norm:
            h = batch_norm(cfg)(h)
    s = cfg.image_size
    h = layers.Reshape((s, s, cfg.channels))(layers.Dense(s * s * cfg.channels)(h))
    # last, in float32 even under mixed precision: images and losses stay in full precision
    return keras.Model(inputs, layers.Activation(cfg.output_activation, dtype="float32")(h), name="generator")


def build_discriminator(cfg) -> keras.Model:
    x = image_input(cfg)
    h = layers.Flatten()(x)
    for units in (1024, 512, 256):
        h = sn(layers.Dense(ch(units, cfg)), cfg)(h)
        h = layers.LeakyReLU(cfg.leaky_slope)(h)
        if cfg.dropout > 0:
            h = layers.Dropout(cfg.dropout)(h)
    return keras.Model(x, logit(h, cfg), name="discriminator")
