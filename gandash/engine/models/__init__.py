"""One module per architecture, each with build_generator(cfg) and build_discriminator(cfg)."""
from __future__ import annotations

from types import ModuleType

import keras

from gandash.engine.models import acgan, cgan, dcgan, mlp, wgan_gp
from gandash.engine.models._blocks import with_code_head

MODULES: dict[str, ModuleType] = {
    "mlp": mlp, "dcgan": dcgan, "cgan": cgan, "acgan": acgan, "wgan-gp": wgan_gp,
}


def build_networks(cfg) -> tuple[keras.Model, keras.Model]:
    """(generator, discriminator) for the config's architecture."""
    module = MODULES[cfg.architecture]
    generator, discriminator = module.build_generator(cfg), module.build_discriminator(cfg)
    if cfg.latent_code:
        discriminator = with_code_head(discriminator, cfg)
    return generator, discriminator
