"""DCGAN: dense → 7×7 → strided Conv2DTranspose (or UpSampling2D+Conv2D) generator,
strided Conv2D + LeakyReLU + dropout discriminator."""
from __future__ import annotations

import keras

from gandash.engine.models._blocks import conv_disc_trunk, conv_generator_trunk, generator_input, image_input, logit


def build_generator(cfg) -> keras.Model:
    inputs, h = generator_input(cfg)
    return keras.Model(inputs, conv_generator_trunk(h, cfg), name="generator")


def build_discriminator(cfg) -> keras.Model:
    x = image_input(cfg)
    return keras.Model(x, logit(conv_disc_trunk(x, cfg), cfg), name="discriminator")
