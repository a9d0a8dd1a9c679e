"""Training algorithms: one keras.Model subclass per algorithm, each with its own losses.

``GAN`` (mlp, dcgan) → ``ConditionalGAN`` (cgan), ``ACGAN`` and ``InfoGAN`` (a latent code);
``WGANGP`` for the Wasserstein loss with gradient penalty (``InfoWGANGP`` with a code). The
base class's ``train_step`` is a discriminator step and a generator step; subclasses change
only what each network minimises. Shapes, class counts and tricks live on ``self``; noise
comes from one ``keras.random.SeedGenerator``, so it is part of the resumable state.
"""
from __future__ import annotations

import contextlib
import math

import keras
import tensorflow as tf

from gandash.engine.augment import Augment
from gandash.engine.data import scale
from gandash.engine.distribute import gradient_loss, gradient_norm, replica_draw, step_results
from gandash.engine.models import build_networks
from gandash.engine.optimizers import make_optimizer

CODE_METRICS = ("code_loss", "code_acc")


def _bce(targets, logits):
    """Mean binary cross-entropy on logits (a plain mean: replica scaling is done in gradient_loss)."""
    return tf.reduce_mean(keras.losses.binary_crossentropy(targets, logits, from_logits=True))


def _cce(labels, logits):
    return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))


def _accuracy(labels, logits):
    pred = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return tf.reduce_mean(tf.cast(pred == tf.reshape(labels, [-1]), tf.float32))


class GAN(keras.Model):
    """Non-saturating GAN with label smoothing, noisy labels and label flips.

    Samples come from ``ema_generator``, a moving average of G's weights, when the config
    asks for one; the trainer's WeightAverage callback moves it. (Keras's own optimizer EMA does
    not fit: it keeps the averages inside the optimizer and writes them into the model itself,
    while training here goes on with the live weights and samples from the averaged copy.)
    """

    conditional = False  # G and D see the digit
    code = False  # InfoGAN: G sees a latent code, D's code head reads it
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
        self.code_weight = float(cfg.code_weight)
        self.simultaneous = cfg.update == "simultaneous"
        self.seed_generator = keras.random.SeedGenerator(cfg.seed)
        # a black pixel fills in where a turned image had none
        self.augmenter = Augment(cfg.augment, scale(0.0, cfg.output_activation), self.uniform)
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

    @property
    def takes_label(self) -> bool:
        return self.conditional or self.code

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

    # -- noise: this replica's rows of the global batch (distribute.replica_draw) ----------------
    def sample_z(self, n):
        if self.latent_dist == "uniform":
            return replica_draw(lambda s: keras.random.uniform(s, -1.0, 1.0, seed=self.seed_generator),
                                n, self.latent_dim)
        z = replica_draw(lambda s: keras.random.normal(s, seed=self.seed_generator), n, self.latent_dim)
        if self.latent_dist == "sphere":
            z = z / (tf.norm(z, axis=1, keepdims=True) + 1e-8)
        return z

    def sample_labels(self, n):
        return replica_draw(lambda s: keras.random.randint(s, 0, self.num_classes, seed=self.seed_generator), n, 1)

    def uniform(self, n, *shape, parts: int = 1):
        return replica_draw(lambda s: keras.random.uniform(s, seed=self.seed_generator), n, *shape, parts=parts)

    # -- network calls (conditional subclasses pass labels) -------------------
    def generate(self, z, labels, training=False):
        """G(z), given the digit (conditional) or the code (InfoGAN) in ``labels`` when it takes one."""
        return self.generator([z, labels] if self.takes_label else z, training=training)

    def discriminate(self, x, labels, training=False, parts: int = 1):
        """D's output on images (augmented while training); ``parts``: see Augment."""
        x = self.augmenter(x, training=training, parts=parts)
        return self.discriminator([x, labels] if self.conditional else x, training=training)

    def discriminate_both(self, real, fake, labels, fake_labels):
        """D on real and fake in one call (one larger batch is faster; D has no batch norm)."""
        n = tf.shape(real)[0]
        out = self.discriminate(tf.concat([real, fake], 0), tf.concat([labels, fake_labels], 0),
                                training=True, parts=2)
        return tf.nest.map_structure(lambda t: t[:n], out), tf.nest.map_structure(lambda t: t[n:], out)

    def score(self, out):
        """The real-or-fake score in a D output (subclasses whose D has more heads pick it out)."""
        return out

    # -- what each network minimises ------------------------------------------
    def d_targets(self, n):
        """Targets for D on real and fake: smoothed, noisy, and sometimes swapped."""
        real = self.real_label - self.label_noise * self.uniform(n, 1)
        fake = self.label_noise * self.uniform(n, 1)
        if self.label_flip > 0:
            flip = self.uniform(n, 1) < self.label_flip
            real, fake = tf.where(flip, fake, real), tf.where(flip, real, fake)
        return real, fake

    def d_loss(self, real, fake, labels, fake_labels, real_out, fake_out):
        t_real, t_fake = self.d_targets(tf.shape(real)[0])
        loss = _bce(t_real, real_out) + _bce(t_fake, fake_out)
        return loss, self._source_stats(real_out, fake_out)

    def g_loss(self, fake_out, fake_labels):
        return _bce(tf.ones_like(fake_out), fake_out), {}

    def d_objective(self, real, fake, labels, fake_labels, real_out, fake_out):
        """What D minimises, from its outputs, and what to log (``d_loss``: the GAN loss alone)."""
        loss, logs = self.d_loss(real, fake, labels, fake_labels, self.score(real_out), self.score(fake_out))
        return loss, {"d_loss": loss, **logs}

    def g_objective(self, fake_out, fake_labels):
        """What G minimises, from D's output on its batch, and what to log."""
        loss, logs = self.g_loss(self.score(fake_out), fake_labels)
        return loss, {"g_loss": loss, **logs}

    @staticmethod
    def _source_stats(real_logits, fake_logits):
        p_real, p_fake = tf.sigmoid(real_logits), tf.sigmoid(fake_logits)
        return {
            "d_real": tf.reduce_mean(p_real),
            "d_fake": tf.reduce_mean(p_fake),
            "d_acc_real": tf.reduce_mean(tf.cast(p_real > 0.5, tf.float32)),
            "d_acc_fake": tf.reduce_mean(tf.cast(p_fake < 0.5, tf.float32)),
        }

    # -- one compiled step ----------------------------------------------------
    def train_step(self, data):
        """``d_steps`` discriminator steps, then one generator step.

        As in the PyTorch DCGAN example, the generator step reuses the fake batch of the last
        discriminator step: its forward pass is recorded on ``g_tape`` and the tape is re-entered
        for D(G(z)), which saves one generator pass. With ``update="simultaneous"`` (as in the
        TensorFlow DCGAN tutorial) the last discriminator pass is recorded on ``g_tape`` as well,
        and G takes its gradients from it before D's update: one discriminator pass saved too.
        """
        real, labels = data
        labels = tf.reshape(tf.cast(labels, "int32"), (-1, 1))
        n = tf.shape(real)[0]
        for _ in range(self.d_steps - 1):  # the extra critic steps of WGAN-GP (d_steps > 1)
            _, fake, fake_labels = self.generate_fakes(n)
            self.discriminator_step(real, labels, fake, fake_labels)
        # Train the discriminator on the batch the generator then learns from
        g_tape, fake, fake_labels = self.generate_fakes(n)
        logs, g_step = self.discriminator_step(real, labels, fake, fake_labels,
                                               g_tape if self.simultaneous else None)
        # Train the generator
        g_grads, g_logs = g_step or self.generator_step(g_tape, fake, fake_labels)
        self.g_optimizer.apply_gradients(zip(g_grads, self.generator.trainable_weights))
        logs.update(g_logs, g_grad_norm=gradient_norm(g_grads, self.g_optimizer))
        for name, value in logs.items():
            self.trackers[name].update_state(value)
        return step_results({name: t.result() for name, t in self.trackers.items()})

    def one_network_step(self, data, only: str):
        """Teach mode: one update of D alone (``only="d"``) or of G alone (``"g"``); the other is unchanged.

        D alone takes one discriminator step (one critic step for WGAN-GP); G alone takes the
        generator step of ``train_step`` against D as it is. Returns the trackers' results.
        """
        real, labels = data
        labels = tf.reshape(tf.cast(labels, "int32"), (-1, 1))
        g_tape, fake, fake_labels = self.generate_fakes(tf.shape(real)[0])
        if only == "d":
            logs, _ = self.discriminator_step(real, labels, fake, fake_labels)
        else:
            g_grads, logs = self.generator_step(g_tape, fake, fake_labels)
            self.g_optimizer.apply_gradients(zip(g_grads, self.generator.trainable_weights))
            logs["g_grad_norm"] = gradient_norm(g_grads, self.g_optimizer)
        for name, value in logs.items():
            self.trackers[name].update_state(value)
        return {name: t.result() for name, t in self.trackers.items()}

    def generate_fakes(self, n):
        """(tape, images, digits or codes): a batch of G's images, its forward pass on the tape."""
        fake_labels = self.sample_labels(n)
        z = self.sample_z(n)
        g_tape = tf.GradientTape()
        with g_tape:
            fake = self.generate(z, fake_labels, training=True)
        return g_tape, fake, fake_labels

    def discriminator_step(self, real, labels, fake, fake_labels, g_tape=None):
        """One update of D; with ``g_tape`` (simultaneous) also G's gradients from the same D pass,
        taken before D moves. Returns (logs, G's (gradients, logs) or None)."""
        d_vars = self.discriminator.trainable_weights
        with tf.GradientTape() as tape:
            with g_tape or contextlib.nullcontext():
                real_out, fake_out = self.discriminate_both(real, fake, labels, fake_labels)
            d_objective, logs = self.d_objective(real, fake, labels, fake_labels, real_out, fake_out)
            d_objective = gradient_loss(d_objective, self.d_optimizer)
        d_grads = tape.gradient(d_objective, d_vars)
        logs["d_grad_norm"] = gradient_norm(d_grads, self.d_optimizer)
        g_step = self.generator_gradients(g_tape, fake_out, fake_labels) if g_tape is not None else None
        self.d_optimizer.apply_gradients(zip(d_grads, d_vars))
        return logs, g_step

    def generator_step(self, g_tape, fake, fake_labels):
        """G's gradients from the just-updated D's verdict on the recorded fake batch."""
        with g_tape:
            fake_out = self.discriminate(fake, fake_labels, training=True)
        return self.generator_gradients(g_tape, fake_out, fake_labels)

    def generator_gradients(self, g_tape, fake_out, fake_labels):
        """(G's gradients, logs) of its objective on D's output for the batch on ``g_tape``."""
        with g_tape:
            g_objective, g_logs = self.g_objective(fake_out, fake_labels)
            g_objective = gradient_loss(g_objective, self.g_optimizer)
        return g_tape.gradient(g_objective, self.generator.trainable_weights), g_logs


class ConditionalGAN(GAN):
    """cGAN: both networks see the class label."""

    conditional = True


class ACGAN(GAN):
    """AC-GAN: D has a source head and a class head; class loss on real and fake."""

    conditional = True
    metric_names = GAN.metric_names + ("d_class_loss", "g_class_loss", "d_class_acc")

    def discriminate(self, x, labels, training=False, parts: int = 1):
        # the label is not given to D: its class head predicts it
        return self.discriminator(self.augmenter(x, training=training, parts=parts), training=training)

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


class InfoGAN(GAN):
    """InfoGAN (Chen et al. 2016): G also gets a random 10-way code, and D's code head learns which
    code made an image; both networks minimise that code loss, weighted by ``code_weight``."""

    code = True
    metric_names = GAN.metric_names + CODE_METRICS

    def score(self, out):
        return out[0]  # D's output is (score, code logits)

    def d_objective(self, real, fake, labels, fake_labels, real_out, fake_out):
        loss, logs = super().d_objective(real, fake, labels, fake_labels, real_out, fake_out)
        code_loss = _cce(fake_labels, fake_out[1])
        logs.update(code_loss=code_loss, code_acc=_accuracy(fake_labels, fake_out[1]))
        return loss + self.code_weight * code_loss, logs

    def g_objective(self, fake_out, fake_labels):
        # G makes the code it was given easy to read from its image
        loss, logs = super().g_objective(fake_out, fake_labels)
        return loss + self.code_weight * _cce(fake_labels, fake_out[1]), logs


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
            score = self.score(self.discriminate(mixed, labels, training=True))
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


class InfoWGANGP(InfoGAN, WGANGP):
    """WGAN-GP with InfoGAN's latent code."""

    metric_names = WGANGP.metric_names + CODE_METRICS


ALGORITHMS = {"mlp": GAN, "dcgan": GAN, "cgan": ConditionalGAN, "acgan": ACGAN, "wgan-gp": WGANGP}
WITH_CODE = {GAN: InfoGAN, WGANGP: InfoWGANGP}  # conditional models are given the digit: no code


def algorithm(cfg) -> type[GAN]:
    """The model class that trains this config."""
    cls = ALGORITHMS[cfg.architecture]
    return WITH_CODE[cls] if cfg.latent_code else cls


def precision_policy(cfg) -> str:
    """Keras's dtype policy for a config: float32, or a mixed policy (float32 weights, reduced-precision maths)."""
    return "mixed_float16" if cfg.mixed_precision else "mixed_bfloat16" if cfg.bfloat16 else "float32"


def build_gan(cfg) -> GAN:
    """Networks + algorithm + optimizers, compiled and built (ready to train or restore).

    Call it inside ``strategy.scope()`` for distributed training.
    """
    keras.mixed_precision.set_global_policy(precision_policy(cfg))
    generator, discriminator = build_networks(cfg)
    model = algorithm(cfg)(generator, discriminator, cfg)
    g_opt, d_opt = make_optimizer(cfg, "g"), make_optimizer(cfg, "d")
    # compiled once, here: each compiled call runs a whole number of steps per logged interval
    model.compile(g_opt, d_opt, steps_per_execution=math.gcd(cfg.steps_per_execution, cfg.log_every),
                  jit_compile=cfg.jit_compile)
    g_opt.build(generator.trainable_weights)
    d_opt.build(discriminator.trainable_weights)
    return model
