"""The optimizers of a run, with Adam and RMSprop updates done by TensorFlow's fused kernels.

Keras 3 writes each optimizer update as a chain of element-wise ops (square, multiply,
add, assign, ...), each a full pass over the weights. For a model as small as an MNIST
GAN those passes cost as much as the matrix products. ``FusedAdam`` and
``FusedRMSprop`` compute the same update with TensorFlow's one-pass kernels
(``ResourceApplyAdam`` / ``ResourceApplyRMSProp``); their variables, and so the
checkpoints, are those of the Keras optimizers. Under a distribution strategy they
fall back to the Keras update, which knows how to update mirrored variables.
"""
from __future__ import annotations

import keras
import tensorflow as tf


def _handle(variable) -> tf.Tensor:
    return (variable.value if isinstance(variable, keras.Variable) else variable).handle


def _fusable(variable) -> bool:
    return not tf.distribute.has_strategy() and variable.dtype == "float32"


class FusedAdam(keras.optimizers.Adam):
    """keras.optimizers.Adam, updated by one fused kernel per variable."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or not _fusable(variable):
            return super().update_step(gradient, variable, learning_rate)
        i = self._get_variable_index(variable)
        t = tf.cast(self.iterations + 1, "float32")
        beta_1, beta_2 = tf.cast(self.beta_1, "float32"), tf.cast(self.beta_2, "float32")
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(self._momentums[i]), v=_handle(self._velocities[i]),
            beta1_power=tf.pow(beta_1, t), beta2_power=tf.pow(beta_2, t),
            lr=tf.cast(learning_rate, "float32"), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, "float32"), grad=tf.cast(gradient, "float32"))


class FusedRMSprop(keras.optimizers.RMSprop):
    """keras.optimizers.RMSprop (no momentum, not centred), updated by one fused kernel.

    The kernel writes lr·g/√(v+ε) into a momentum buffer before subtracting it; with
    momentum 0 that buffer carries nothing from step to step, so it is scratch space
    kept out of the optimizer's variables (and out of checkpoints).
    """

    def build(self, var_list):
        super().build(var_list)
        self._scratch = [tf.Variable(tf.zeros(v.shape, "float32"), trainable=False)
                         if self.momentum == 0 and not self.centered and _fusable(v) else None
                         for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        i = self._get_variable_index(variable)
        if self._scratch[i] is None or not _fusable(variable):
            return super().update_step(gradient, variable, learning_rate)
        tf.raw_ops.ResourceApplyRMSProp(
            var=_handle(variable), ms=_handle(self._velocities[i]), mom=self._scratch[i].handle,
            lr=tf.cast(learning_rate, "float32"), rho=tf.cast(self.rho, "float32"),
            momentum=tf.constant(0.0), epsilon=tf.cast(self.epsilon, "float32"),
            grad=tf.cast(gradient, "float32"))


def learning_rate(cfg, side: str):
    """The side's learning rate: a number, or with ``lr_end`` < 1 a linear decay over the run.

    The decay counts that optimizer's own updates: D makes ``d_steps`` of them per step."""
    lr = getattr(cfg, f"{side}_lr")
    if cfg.lr_end == 1:
        return lr
    updates = cfg.steps * (cfg.d_steps if side == "d" else 1)
    return keras.optimizers.schedules.PolynomialDecay(lr, updates, lr * cfg.lr_end, power=1.0)


def make_optimizer(cfg, side: str, fused: bool = True) -> keras.optimizers.Optimizer:
    """The optimizer of one network (``side`` is 'g' or 'd') as the config says.

    ``fused=False`` gives the stock Keras optimizers (the same update, element-wise ops).
    """
    name = getattr(cfg, f"{side}_optimizer")
    lr = learning_rate(cfg, side)
    clip = getattr(cfg, f"{side}_clipvalue") or None
    beta1, beta2 = getattr(cfg, f"{side}_beta1"), getattr(cfg, f"{side}_beta2")
    adam, rmsprop = (FusedAdam, FusedRMSprop) if fused else (keras.optimizers.Adam, keras.optimizers.RMSprop)
    if name == "adam":
        opt = adam(lr, beta_1=beta1, beta_2=beta2, clipvalue=clip)
    elif name == "rmsprop":
        opt = rmsprop(lr, clipvalue=clip)
    else:
        opt = keras.optimizers.SGD(lr, momentum=beta1, clipvalue=clip)
    return keras.optimizers.LossScaleOptimizer(opt) if cfg.mixed_precision else opt
