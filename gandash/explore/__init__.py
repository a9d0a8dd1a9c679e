"""Looking into a checkpoint: sampling, morphing, inversion, the discriminator's view, images and figures."""
