"""Conditional GAN: the class label joined to z in G and to the image (as a channel) in D,
or projected onto D's features."""
from __future__ import annotations

import keras

from gandash.engine.models import dcgan
from gandash.engine.models._blocks import conditional_score, image_input, label_input

build_generator = dcgan.build_generator  # z joined to the label vector, then the DCGAN trunk


def build_discriminator(cfg) -> keras.Model:
    x, y = image_input(cfg), label_input()
    return keras.Model([x, y], conditional_score(x, y, cfg), name="discriminator")
