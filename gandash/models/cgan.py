"""Conditional GAN: the class label joined to z in G and to the image (as a channel) in D,
or projected onto D's features."""
from __future__ import annotations

import keras
from keras import layers

from gandash.models._blocks import (
    conditional_score, conv_generator_trunk, image_input, label_input, label_vector,
)


def build_generator(cfg) -> keras.Model:
    z, y = keras.Input((cfg.latent_dim,), name="z"), label_input()
    h = layers.Concatenate()([z, label_vector(y, cfg)])
    return keras.Model([z, y], conv_generator_trunk(h, cfg), name="generator")


def build_discriminator(cfg) -> keras.Model:
    x, y = image_input(cfg), label_input()
    return keras.Model([x, y], conditional_score(x, y, cfg), name="discriminator")
