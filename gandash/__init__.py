"""gandash: train and explore GANs on MNIST-like images."""

__version__ = "0.1.0"
