"""Devices and tf.distribute: which strategy trains a run, and which process writes it."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from gandash.runs import Run


def setup_devices() -> str:
    """Use a GPU when TensorFlow sees one (memory growth on); return a description."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass
    return f"{len(gpus)} GPU(s)" if gpus else ("CPU (oneDNN)" if onednn_enabled() else "CPU")


def onednn_enabled() -> bool:
    """Whether TensorFlow runs its oneDNN CPU kernels (``gandash`` turns them on before TF loads)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):  # the private probe moved: trust the variable TF reads
        return os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "1"


def make_strategy(cfg):
    """The tf.distribute strategy the config names (created before any other TF work)."""
    import tensorflow as tf

    if cfg.distribute == "mirrored":
        return tf.distribute.MirroredStrategy()
    if cfg.distribute == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief_process() -> bool:
    """True unless TF_CONFIG names this process as a non-chief worker of a cluster."""
    try:
        tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    except ValueError:
        return True
    task, cluster = tf_config.get("task") or {}, tf_config.get("cluster") or {}
    if not task:
        return True
    kind, index = task.get("type"), int(task.get("index", 0))
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)


def scratch_copy(run: Run) -> Run:
    """A private run directory for a non-chief worker: it reads the run's config and
    checkpoint but writes nothing where the dashboard looks."""
    scratch = Run(Path(tempfile.mkdtemp(prefix=f"gandash-{run.id}-")) / run.id)
    scratch.dir.mkdir()
    for path in (run.config_path, run.checkpoint_path):
        if path.exists():
            shutil.copy(path, scratch.dir / path.name)
    return scratch


def any_worker(strategy, flag: bool) -> bool:
    """True when ``flag`` is true on any worker, so all take the same stop decision."""
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return flag

    @tf.function
    def total(x):
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.identity(x)), axis=None)

    return float(total(tf.constant(1.0 if flag else 0.0))) > 0
