"""Training algorithms: one keras.Model subclass per algorithm, each with its own train_step.

``GAN`` (mlp, dcgan) → ``ConditionalGAN`` (cgan) and ``ACGAN``; ``WGANGP`` for the
Wasserstein loss with gradient penalty. Shapes, class counts and tricks live on
``self``; noise comes from a ``keras.random.SeedGenerator`` so it is part of the
resumable state.
"""
from __future__ import annotations

import contextlib
import math

import keras
import tensorflow as tf

from gandash.data import scale
from gandash.models import build_networks
from gandash.optimizers import make_optimizer

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


def _bce(targets, logits):
    """Mean binary cross-entropy on logits (a plain mean: replica scaling is done in train_step)."""
    return tf.reduce_mean(keras.losses.binary_crossentropy(targets, logits, from_logits=True))


def _cce(labels, logits):
    return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))


def _accuracy(labels, logits):
    pred = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return tf.reduce_mean(tf.cast(pred == tf.reshape(labels, [-1]), tf.float32))


def _grad_norm(grads, optimizer):
    """Global L2 norm of the true gradients: the mixed-precision loss scale and the replica split,
    which ``gradient_loss`` put into them, taken out again (health diagnoses read it)."""
    replicas, _ = _replicas()
    scale = optimizer.scale_loss(tf.constant(1.0)) / replicas
    return tf.linalg.global_norm([g for g in grads if g is not None]) / tf.cast(scale, tf.float32)


def _replicas() -> tuple[int, object]:
    ctx = tf.distribute.get_replica_context()
    return (1, 0) if ctx is None else (ctx.num_replicas_in_sync, ctx.replica_id_in_sync_group)


class GAN(keras.Model):
    """Non-saturating GAN with label smoothing, noisy labels and label flips."""

    conditional = False
    metric_names = ("d_loss", "g_loss", "d_real", "d_fake", "d_acc_real", "d_acc_fake", "g_grad_norm", "d_grad_norm")

    def __init__(self, generator: keras.Model, discriminator: keras.Model, cfg, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = cfg.latent_dim
        self.latent_dist = cfg.latent_dist
        self.num_classes = cfg.num_classes
        self.real_label = float(cfg.real_label)
        self.label_noise = float(cfg.label_noise)
        self.label_flip = float(cfg.label_flip)
        self.d_steps = int(cfg.d_steps)
        self.code = bool(cfg.latent_code)
        self.code_weight = float(cfg.code_weight)
        if self.code:
            self.metric_names = self.metric_names + ("code_loss", "code_acc")
        self.simultaneous = cfg.update == "simultaneous"
        self.augment_p = float(cfg.augment)
        self.background = float(scale(0.0, cfg.output_activation))  # a black pixel, what the warp fills in
        self.seed_generator = keras.random.SeedGenerator(cfg.seed)
        self.trackers = {n: keras.metrics.Mean(name=n) for n in self.metric_names}
        self.ema_decay = float(cfg.ema)
        self.ema_generator = None
        if cfg.ema:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())
            self.ema_generator.trainable = False
        self.built = True  # both networks are built functional models; there is no call()

    @property
    def sampler(self) -> keras.Model:
        """The generator that draws samples: the weight average when there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def update_ema(self, step: int, steps_since: int) -> None:
        """Move the averaged generator towards the current one (called every few steps).

        The decay ramps up as (1+t)/(10+t) so early samples are not stuck near the
        random initial weights, and is raised to ``steps_since`` to cover skipped steps.
        """
        if self.ema_generator is None or steps_since <= 0:
            return
        d = min(self.ema_decay, (1.0 + step) / (10.0 + step)) ** steps_since
        for avg, cur in zip(self.ema_generator.weights, self.generator.weights):
            avg.assign(d * avg + (1.0 - d) * cur)

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Networks, optimizers and trackers are all built by build_gan. Keras's own
        # symbolic build would only average a sample batch across replicas, which
        # fails under MultiWorkerMirroredStrategy (Keras 3.15), so it is skipped.
        return

    # -- noise ---------------------------------------------------------------
    def _draw(self, fn, n, *shape, parts: int = 1):
        """Random numbers for this replica's slice of the global batch.

        Every replica holds the same seed state, so each draws the whole global
        batch and keeps its own rows: distinct noise per replica, and exactly the
        noise a single device would draw for the same global batch. A batch of
        ``parts`` equal parts joined end to end (D's real and fake images) takes
        this replica's rows of each part.
        """
        replicas, rid = _replicas()
        if replicas == 1:
            return fn((n, *shape))
        full = fn((n * replicas, *shape))
        k = n // parts  # this replica's rows of each part
        return tf.concat([full[(p * replicas + rid) * k:(p * replicas + rid + 1) * k] for p in range(parts)], 0)

    def sample_z(self, n):
        if self.latent_dist == "uniform":
            return self._draw(lambda s: keras.random.uniform(s, -1.0, 1.0, seed=self.seed_generator),
                              n, self.latent_dim)
        z = self._draw(lambda s: keras.random.normal(s, seed=self.seed_generator), n, self.latent_dim)
        if self.latent_dist == "sphere":
            z = z / (tf.norm(z, axis=1, keepdims=True) + 1e-8)
        return z

    def sample_labels(self, n):
        return self._draw(lambda s: keras.random.randint(s, 0, self.num_classes, seed=self.seed_generator), n, 1)

    def uniform(self, n, *shape, parts: int = 1):
        return self._draw(lambda s: keras.random.uniform(s, seed=self.seed_generator), n, *shape, parts=parts)

    # -- network calls (conditional subclasses pass labels) -------------------
    def generate(self, z, labels, training=False):
        """G(z), given the digit (conditional) or the code (InfoGAN) in ``labels`` when it takes one."""
        return self.generator([z, labels] if self.conditional or self.code else z, training=training)

    def augment(self, x, parts: int = 1):
        """Differentiable augmentation (Zhao et al. 2020): each image, with probability ``augment``,
        turned by up to ±20° and shifted by up to ±1/14 of its side; fresh draws on every call.
        ``parts``: ``x`` is that many batches joined (see :meth:`_draw`)."""
        m, size = tf.shape(x)[0], x.shape[1]
        draw = lambda *shape: self.uniform(m, *shape, parts=parts)  # noqa: E731
        keep = draw(1, 1, 1) >= self.augment_p
        angles = (2.0 * draw(1)[:, 0] - 1.0) * math.radians(AUGMENT_DEGREES)
        dx = (2.0 * draw(1)[:, 0] - 1.0) * (size * AUGMENT_SHIFT)
        dy = (2.0 * draw(1)[:, 0] - 1.0) * (size * AUGMENT_SHIFT)
        return tf.where(keep, x, warp(x, angles, tf.stack([dx, dy], axis=1), self.background))

    def d_input(self, x, training, parts: int = 1):
        """What D sees of an image: augmented while training when ``augment`` is on, real and fake alike."""
        return self.augment(x, parts) if training and self.augment_p > 0 else x

    def discriminate(self, x, labels, training=False, parts: int = 1):
        x = self.d_input(x, training, parts)
        return self.discriminator([x, labels] if self.conditional else x, training=training)

    def d_targets(self, n):
        """Targets for D on real and fake: smoothed, noisy, and sometimes swapped."""
        real = self.real_label - self.label_noise * self.uniform(n, 1)
        fake = self.label_noise * self.uniform(n, 1)
        if self.label_flip > 0:
            flip = self.uniform(n, 1) < self.label_flip
            real, fake = tf.where(flip, fake, real), tf.where(flip, real, fake)
        return real, fake

    # -- losses ---------------------------------------------------------------
    def d_loss(self, real, fake, labels, fake_labels, real_out, fake_out):
        t_real, t_fake = self.d_targets(tf.shape(real)[0])
        loss = _bce(t_real, real_out) + _bce(t_fake, fake_out)
        return loss, self._source_stats(real_out, fake_out)

    def g_loss(self, fake_out, fake_labels):
        return _bce(tf.ones_like(fake_out), fake_out), {}

    @staticmethod
    def _source_stats(real_logits, fake_logits):
        p_real, p_fake = tf.sigmoid(real_logits), tf.sigmoid(fake_logits)
        return {
            "d_real": tf.reduce_mean(p_real),
            "d_fake": tf.reduce_mean(p_fake),
            "d_acc_real": tf.reduce_mean(tf.cast(p_real > 0.5, tf.float32)),
            "d_acc_fake": tf.reduce_mean(tf.cast(p_fake < 0.5, tf.float32)),
        }

    def discriminate_both(self, real, fake, labels, fake_labels):
        """D on real and fake in one call (one larger batch is faster; D has no batch norm)."""
        n = tf.shape(real)[0]
        out = self.discriminate(tf.concat([real, fake], 0), tf.concat([labels, fake_labels], 0),
                                training=True, parts=2)
        return tf.nest.map_structure(lambda t: t[:n], out), tf.nest.map_structure(lambda t: t[n:], out)

    @staticmethod
    def gradient_loss(loss, optimizer):
        """The loss to differentiate (computed inside the tape): divided by the replica
        count (gradients are summed across replicas) and scaled for mixed precision
        (``apply_gradients`` unscales)."""
        replicas, _ = _replicas()
        return optimizer.scale_loss(loss / replicas if replicas > 1 else loss)

    # -- one compiled step ----------------------------------------------------
    def train_step(self, data):
        """``d_steps`` discriminator updates, then one generator update.

        As in the PyTorch DCGAN example, the generator step reuses the fake batch of
        the last discriminator step: its forward pass is recorded on ``g_tape`` and
        the tape is re-entered for D(G(z)), which saves one generator pass per step.
        With ``update="simultaneous"`` (as in the TensorFlow DCGAN tutorial) the last
        discriminator pass is also recorded on ``g_tape``: both networks take their
        gradients from that one pass, so G sees D before D's update and one
        discriminator pass is saved as well.
        """
        real, labels = data
        labels = tf.reshape(tf.cast(labels, "int32"), (-1, 1))
        n = tf.shape(real)[0]
        d_vars = self.discriminator.trainable_weights
        g_vars = self.generator.trainable_weights
        for i in range(self.d_steps):
            together = self.simultaneous and i == self.d_steps - 1
            fake_labels = self.sample_labels(n)
            z = self.sample_z(n)
            g_tape = tf.GradientTape()
            with g_tape:
                fake = self.generate(z, fake_labels, training=True)
            with tf.GradientTape() as tape:
                with g_tape if together else contextlib.nullcontext():
                    real_out, fake_out = self.discriminate_both(real, fake, labels, fake_labels)
                real_out, (fake_out, fake_code) = self._without_code(real_out), self._code_split(fake_out)
                d_loss, logs = self.d_loss(real, fake, labels, fake_labels, real_out, fake_out)
                d_objective = d_loss
                if self.code:  # InfoGAN: D's code head learns to recover the code of G's image
                    code_loss = _cce(fake_labels, fake_code)
                    d_objective += self.code_weight * code_loss
                    logs.update(code_loss=code_loss, code_acc=_accuracy(fake_labels, fake_code))
                d_objective = self.gradient_loss(d_objective, self.d_optimizer)
            d_grads = tape.gradient(d_objective, d_vars)
            logs["d_grad_norm"] = _grad_norm(d_grads, self.d_optimizer)
            if together:
                g_grads, g_loss, g_logs = self._g_gradients(g_tape, fake_out, fake_code, fake_labels, g_vars)
            self.d_optimizer.apply_gradients(zip(d_grads, d_vars))

        if not self.simultaneous:
            with g_tape:
                fake_out, fake_code = self._code_split(self.discriminate(fake, fake_labels, training=True))
            g_grads, g_loss, g_logs = self._g_gradients(g_tape, fake_out, fake_code, fake_labels, g_vars)
        self.g_optimizer.apply_gradients(zip(g_grads, g_vars))

        logs = {"d_loss": d_loss, "g_loss": g_loss, **logs, **g_logs,
                "g_grad_norm": _grad_norm(g_grads, self.g_optimizer)}
        for name, value in logs.items():
            self.trackers[name].update_state(value)
        results = {name: t.result() for name, t in self.trackers.items()}
        if _replicas()[0] > 1:  # Keras averages step results over axis 0 across workers
            results = {name: tf.reshape(v, [1]) for name, v in results.items()}
        return results

    def _code_split(self, out):
        """(score, code logits) of a discriminator output; code logits are None without a code."""
        return (out[0], out[1]) if self.code else (out, None)

    def _without_code(self, out):
        return out[0] if self.code else out

    def _g_gradients(self, g_tape, fake_out, fake_code, fake_labels, g_vars):
        """G's loss on D's output for the recorded fake batch, and its gradients.

        With an InfoGAN code G also minimises D's code loss: it makes the code it was
        given easy to read from its image.
        """
        with g_tape:
            g_loss, g_logs = self.g_loss(fake_out, fake_labels)
            g_objective = g_loss + self.code_weight * _cce(fake_labels, fake_code) if self.code else g_loss
            g_objective = self.gradient_loss(g_objective, self.g_optimizer)
        return g_tape.gradient(g_objective, g_vars), g_loss, g_logs


class ConditionalGAN(GAN):
    """cGAN: both networks see the class label."""

    conditional = True


class ACGAN(GAN):
    """AC-GAN: D has a source head and a class head; class loss on real and fake."""

    conditional = True
    metric_names = GAN.metric_names + ("d_class_loss", "g_class_loss", "d_class_acc")

    def discriminate(self, x, labels, training=False, parts: int = 1):
        return self.discriminator(self.d_input(x, training, parts), training=training)  # the label is predicted

    def d_loss(self, real, fake, labels, fake_labels, real_out, fake_out):
        (src_real, cls_real), (src_fake, cls_fake) = real_out, fake_out
        source_loss, logs = GAN.d_loss(self, real, fake, labels, fake_labels, src_real, src_fake)
        class_loss = _cce(labels, cls_real) + _cce(fake_labels, cls_fake)
        logs["d_class_loss"] = class_loss
        logs["d_class_acc"] = _accuracy(labels, cls_real)
        return source_loss + class_loss, logs

    def g_loss(self, fake_out, fake_labels):
        src, cls = fake_out
        class_loss = _cce(fake_labels, cls)
        return _bce(tf.ones_like(src), src) + class_loss, {"g_class_loss": class_loss}


class WGANGP(GAN):
    """WGAN-GP: linear critic, gradient penalty at random interpolates, n critic steps."""

    metric_names = ("d_loss", "g_loss", "d_real", "d_fake", "wasserstein", "gp", "g_grad_norm", "d_grad_norm")

    def __init__(self, generator, discriminator, cfg, **kwargs):
        super().__init__(generator, discriminator, cfg, **kwargs)
        self.conditional = cfg.is_conditional
        self.gp_weight = float(cfg.gp_weight)

    def gradient_penalty(self, real, fake, labels):
        """Mean of (‖∇D(x̂)‖ - 1)² with x̂ = αx + (1-α)G(z), one α ~ U(0, 1) per sample."""
        alpha = self.uniform(tf.shape(real)[0], 1, 1, 1)
        mixed = alpha * real + (1.0 - alpha) * fake
        with tf.GradientTape() as tape:
            tape.watch(mixed)
            score = self._without_code(self.discriminate(mixed, labels, training=True))
        grads = tape.gradient(score, mixed)
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)
        return tf.reduce_mean(tf.square(norm - 1.0))

    def d_loss(self, real, fake, labels, fake_labels, real_out, fake_out):
        # The penalty uses the real labels for the interpolates of a conditional critic.
        gp = self.gradient_penalty(real, fake, labels)
        w = tf.reduce_mean(real_out) - tf.reduce_mean(fake_out)
        logs = {"d_real": tf.reduce_mean(real_out), "d_fake": tf.reduce_mean(fake_out),
                "wasserstein": w, "gp": gp}
        return -w + self.gp_weight * gp, logs

    def g_loss(self, fake_out, fake_labels):
        return -tf.reduce_mean(fake_out), {}


ALGORITHMS = {"mlp": GAN, "dcgan": GAN, "cgan": ConditionalGAN, "acgan": ACGAN, "wgan-gp": WGANGP}


def build_gan(cfg) -> GAN:
    """Networks + algorithm + optimizers, compiled and built (ready to train or restore).

    Call it inside ``strategy.scope()`` for distributed training.
    """
    keras.mixed_precision.set_global_policy("mixed_float16" if cfg.mixed_precision else "float32")
    generator, discriminator = build_networks(cfg)
    model = ALGORITHMS[cfg.architecture](generator, discriminator, cfg)
    g_opt, d_opt = make_optimizer(cfg, "g"), make_optimizer(cfg, "d")
    # compiled once, here: each compiled call runs a whole number of steps per logged interval
    model.compile(g_opt, d_opt, steps_per_execution=math.gcd(cfg.steps_per_execution, cfg.log_every),
                  jit_compile=cfg.jit_compile)
    g_opt.build(generator.trainable_weights)
    d_opt.build(discriminator.trainable_weights)
    return model
