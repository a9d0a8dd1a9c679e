"""AC-GAN: conditional generator; discriminator with a real/fake head and a 10-way class head."""
from __future__ import annotations

import keras

from gandash.engine.models import cgan
from gandash.engine.models._blocks import conv_disc_trunk, image_input, logit


def build_generator(cfg) -> keras.Model:
    return cgan.build_generator(cfg)


def build_discriminator(cfg) -> keras.Model:
    x = image_input(cfg)
    h = conv_disc_trunk(x, cfg)
    heads = [logit(h, cfg, 1, name="source"), logit(h, cfg, cfg.num_classes, name="class")]
    return keras.Model(x, heads, name="discriminator")
