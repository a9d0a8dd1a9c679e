"""gandash: train and explore GANs on MNIST-like images."""
import os

# TensorFlow turns its oneDNN CPU kernels on by default only on CPUs with AVX-512-class
# features; on an AVX2 CPU they make the convolutional training steps about 1.5x faster
# (BENCHMARKS.md). It reads the variable when it is first imported, so this must run
# before TensorFlow is; TF_ENABLE_ONEDNN_OPTS=0 in the environment turns them off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
