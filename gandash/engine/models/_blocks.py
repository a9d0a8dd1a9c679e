"""Layers shared by the architectures: spectral norm, label inputs, conv trunks."""
from __future__ import annotations

import keras
from keras import layers


def sn(layer: layers.Layer, cfg) -> layers.Layer:
    """Wrap a discriminator layer in spectral normalisation when the config asks."""
    return layers.SpectralNormalization(layer) if cfg.spectral_norm else layer


def batch_norm(cfg) -> layers.Layer:
    """Generator batch norm; synchronised across replicas when training is distributed."""
    return layers.BatchNormalization(momentum=0.8, synchronized=cfg.distribute != "none")


def ch(base: int, cfg) -> int:
    """Channels/units scaled by the width multiplier."""
    return max(8, int(round(base * cfg.width)))


def image_input(cfg) -> keras.Input:
    return keras.Input((cfg.image_size, cfg.image_size, cfg.channels), name="image")


def label_input() -> keras.Input:
    return keras.Input((1,), dtype="int32", name="label")


def generator_input(cfg):
    """G's inputs and the vector they make: z, joined to the label (or InfoGAN code) when there is one."""
    z = keras.Input((cfg.latent_dim,), name="z")
    if not cfg.takes_label:
        return z, z
    y = label_input()
    return [z, y], layers.Concatenate()([z, label_vector(y, cfg)])


def label_vector(label, cfg, dim: int = 50):
    """Class label as a vector to join to z: a learned embedding or one-hot."""
    if cfg.label_encoding == "onehot":
        return layers.CategoryEncoding(cfg.num_classes, output_mode="one_hot")(label)
    return layers.Flatten()(layers.Embedding(cfg.num_classes, dim)(label))


def label_map(label, cfg):
    """Class label as image-sized channel(s) to join to the discriminator input."""
    s = cfg.image_size
    if cfg.label_encoding == "onehot":
        h = layers.CategoryEncoding(cfg.num_classes, output_mode="one_hot")(label)
        h = layers.Reshape((1, 1, cfg.num_classes))(h)
        return layers.UpSampling2D(size=(s, s))(h)
    h = layers.Embedding(cfg.num_classes, s * s)(label)
    return layers.Reshape((s, s, 1))(h)


def n_upsamples(cfg) -> int:
    return 3 if cfg.image_size == 64 else 2


def conv_generator_trunk(h, cfg):
    """dense → start×start → 2-3 upsamplings to image_size, ending in the output activation.

    ``transpose`` uses Conv2DTranspose with kernel 4 and stride 2 (kernel a
    multiple of the stride, against checkerboard artifacts); ``upsample`` is
    UpSampling2D + Conv2D as in the Keras-GAN DCGAN.
    """
    n = n_upsamples(cfg)
    start = cfg.image_size // 2**n
    widths = [ch(128 * 2 ** (n - 1 - i), cfg) for i in range(n)]  # e.g. 256,128 (+64)
    h = layers.Dense(start * start * widths[0], use_bias=not cfg.batch_norm)(h)
    if cfg.batch_norm:
        h = batch_norm(cfg)(h)
    h = layers.ReLU()(h)
    h = layers.Reshape((start, start, widths[0]))(h)
    for i in range(n):
        last = i == n - 1
        filters = cfg.channels if last else widths[i + 1]
        if cfg.upsampling == "upsample":
            h = layers.UpSampling2D()(h)
            h = layers.Conv2D(filters, 3, padding="same", use_bias=last or not cfg.batch_norm)(h)
        else:
            h = layers.Conv2DTranspose(filters, 4, strides=2, padding="same",
                                       use_bias=last or not cfg.batch_norm)(h)
        if not last:
            if cfg.batch_norm:
                h = batch_norm(cfg)(h)
            h = layers.ReLU()(h)
    # float32 output even under mixed precision: images and losses stay in full precision
    return layers.Activation(cfg.output_activation, name="image_out", dtype="float32")(h)


def conv_disc_trunk(h, cfg, *, dropout: bool = True):
    """Strided Conv2D + LeakyReLU (+ dropout) blocks, flattened."""
    n = n_upsamples(cfg)
    for i in range(n):
        h = sn(layers.Conv2D(ch(64 * 2**i, cfg), 4, strides=2, padding="same"), cfg)(h)
        h = layers.LeakyReLU(cfg.leaky_slope)(h)
        if dropout and cfg.dropout > 0:
            h = layers.Dropout(cfg.dropout)(h)
    return layers.Flatten()(h)


def logit(h, cfg, units: int = 1, name: str | None = None):
    return sn(layers.Dense(units, name=name, dtype="float32"), cfg)(h)


def with_code_head(discriminator: keras.Model, cfg) -> keras.Model:
    """InfoGAN's Q network: a 10-way code head on D's features, beside its score."""
    features = discriminator.layers[-1].input
    code = logit(features, cfg, cfg.num_classes, name="code")
    return keras.Model(discriminator.inputs, [discriminator.output, code], name=discriminator.name)


def conditional_score(x, y, cfg):
    """The discriminator's score for an (image, label) pair.

    With ``projection`` (the default; Miyato & Koyama 2018) D sees the image alone
    and adds the inner product of a learned label embedding with its features to
    the unconditional logit, which makes "right image, wrong label" much easier for
    D to tell apart. Without it the label joins the image as extra channel(s).
    """
    if not cfg.projection:
        return logit(conv_disc_trunk(layers.Concatenate()([x, label_map(y, cfg)]), cfg), cfg)
    h = conv_disc_trunk(x, cfg)
    embedded = layers.Flatten()(layers.Embedding(cfg.num_classes, h.shape[-1])(y))
    projected = layers.Dot(axes=1)([h, embedded])
    return layers.Add(dtype="float32")([logit(h, cfg), projected])
