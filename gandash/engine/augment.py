"""Differentiable augmentation of D's inputs (Zhao et al. 2020): a Keras layer that turns and shifts images."""
from __future__ import annotations

import math

import keras
import tensorflow as tf

AUGMENT_DEGREES = 20.0  # largest turn of an augmented image
AUGMENT_SHIFT = 1 / 14  # largest shift, as a share of the image side (2 px at 28×28)


def warp(images, angles, shifts, fill: float):
    """Each image turned by its angle (radians) about its centre and moved by its (dx, dy) shift in
    pixels; bilinear, ``fill`` where the source lies outside. Differentiable in ``images``."""
    size = images.shape[1]
    c = (size - 1) / 2.0
    cos, sin, zero = tf.cos(angles), tf.sin(angles), tf.zeros_like(angles)
    # output pixel (x, y) reads the input at (cos·(x-c) - sin·(y-c) + c + dx, sin·(x-c) + cos·(y-c) + c + dy)
    transforms = tf.stack([cos, -sin, c - cos * c + sin * c + shifts[:, 0],
                           sin, cos, c - sin * c - cos * c + shifts[:, 1], zero, zero], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.constant([size, size]),
        fill_value=tf.constant(fill, images.dtype), interpolation="BILINEAR", fill_mode="CONSTANT")


class Augment(keras.layers.Layer):
    """While training, each image with probability ``p`` turned by up to ±20° and shifted by up to
    ±1/14 of its side, ``background`` filling in; fresh draws on every call; at inference the
    identity. G's gradients pass through it.

    ``uniform(n, *shape, parts=...)`` draws its random numbers: the model's, so that one seed
    state (saved in every checkpoint) covers the noise, the label tricks and this layer alike, and
    a resumed run draws what it would have drawn. ``parts``: the batch is that many batches joined
    end to end (see :func:`gandash.engine.distribute.replica_draw`).
    """

    def __init__(self, p: float, background: float, uniform, **kwargs):
        super().__init__(dtype="float32", **kwargs)  # in float32 under mixed precision too, as D's inputs are
        self.p, self.background, self._uniform = float(p), float(background), uniform

    def call(self, x, training=None, parts: int = 1):
        if not training or self.p <= 0:
            return x
        m, size = tf.shape(x)[0], x.shape[1]
        draw = lambda *shape: self._uniform(m, *shape, parts=parts)  # noqa: E731
        keep = draw(1, 1, 1) >= self.p
        angles = (2.0 * draw(1)[:, 0] - 1.0) * math.radians(AUGMENT_DEGREES)
        dx = (2.0 * draw(1)[:, 0] - 1.0) * (size * AUGMENT_SHIFT)
        dy = (2.0 * draw(1)[:, 0] - 1.0) * (size * AUGMENT_SHIFT)
        return tf.where(keep, x, warp(x, angles, tf.stack([dx, dy], axis=1), self.background))
