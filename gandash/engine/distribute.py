"""Devices and tf.distribute: which strategy trains a run, and which process writes it."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from gandash.store.queue import cpu_cores
from gandash.store.runs import Run


def setup_devices(threads: int | None = None, precision: str = "") -> tuple[str, list[str]]:
    """Prepare TensorFlow's devices before any other TF work; return (description, GPU names).

    A GPU TensorFlow sees is used, with memory growth on (so several trainers can share it).
    ``threads`` caps TensorFlow's intra- and inter-op thread pools: a trainer's share of the
    cores when several slots train at once. The description is what status.json, Runs and
    Monitor show, e.g. ``GPU 0: NVIDIA H100, float16`` or ``CPU: 2 cores, oneDNN, bfloat16`` (``precision``: the
    reduced precision computed in, if any).
    """
    import tensorflow as tf

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TF already ran something in this process: its pools are fixed
            pass
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass
    names = [gpu_name(gpu) for gpu in gpus]
    if precision == "bfloat16" and not names and cpu_has_bf16() is False:
        precision = EMULATED_BF16
    return describe_devices(names, threads or cpu_count(), onednn_enabled(), precision), names


EMULATED_BF16 = "bfloat16 emulated (this CPU has no BF16 instructions: several times slower than float32)"


def cpu_has_bf16(cpuinfo: str | None = None) -> bool | None:
    """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX); None when it cannot be told (not Linux).
    Without them TensorFlow emulates it: a DCGAN step took 8.1 times as long on an AVX2 EPYC."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return None
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), None)
    return None if flags is None else bool({"avx512_bf16", "amx_bf16"} & set(flags))


def gpu_name(gpu) -> str:
    import tensorflow as tf

    try:
        return str(tf.config.experimental.get_device_details(gpu).get("device_name") or gpu.name)
    except (RuntimeError, ValueError):
        return gpu.name


def cpu_count() -> int:
    return cpu_cores()


def describe_devices(gpu_names: list[str], cores: int, onednn: bool, precision: str = "") -> str:
    """``GPU 0: NVIDIA H100, float16`` / ``2 GPUs: …`` / ``CPU: 2 cores, oneDNN, bfloat16``."""
    extra = f", {precision}" if precision else ""
    if gpu_names:
        return (f"GPU 0: {gpu_names[0]}" if len(gpu_names) == 1
                else f"{len(gpu_names)} GPUs: {', '.join(sorted(set(gpu_names)))}") + extra
    return f"CPU: {cores} core{'s' if cores != 1 else ''}" + (", oneDNN" if onednn else "") + extra


GPU_SETUP_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -r requirements-gpu.txt"


def nvidia_gpus() -> list[str]:
    """GPUs the NVIDIA driver lists (``nvidia-smi -L``), whether or not TensorFlow can use them."""
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.split(":", 1)[1].split("(UUID")[0].strip() for line in out.splitlines()
            if line.startswith("GPU ") and ":" in line]


def gpu_advice(tf_gpus: list[str], driver_gpus: list[str]) -> str:
    """Why a GPU the driver sees is unused, with the one command that fixes it ('' when none)."""
    if tf_gpus or not driver_gpus:
        return ""
    return (f"The NVIDIA driver sees {', '.join(driver_gpus)}, but TensorFlow cannot use it: this "
            f"TensorFlow was installed without its CUDA libraries. Set up with `{GPU_SETUP_COMMAND}`.")


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


# -- inside a replica's training step -------------------------------------------------------------
def replicas() -> tuple[int, object]:
    """(replicas in sync, this replica's id) inside a train step; (1, 0) outside any strategy."""
    import tensorflow as tf

    ctx = tf.distribute.get_replica_context()
    return (1, 0) if ctx is None else (ctx.num_replicas_in_sync, ctx.replica_id_in_sync_group)


def replica_draw(fn, n, *shape, parts: int = 1):
    """Random numbers ``fn((rows, *shape))`` for this replica's slice of the global batch.

    Every replica holds the same seed state, so each draws the whole global batch and keeps
    its own rows: distinct noise per replica, and exactly the noise a single device would draw
    for the same global batch. A batch of ``parts`` equal parts joined end to end (D's real and
    fake images) takes this replica's rows of each part.
    """
    import tensorflow as tf

    count, rid = replicas()
    if count == 1:
        return fn((n, *shape))
    full = fn((n * count, *shape))
    k = n // parts  # this replica's rows of each part
    return tf.concat([full[(p * count + rid) * k:(p * count + rid + 1) * k] for p in range(parts)], 0)


def gradient_loss(loss, optimizer):
    """The loss to differentiate (inside the tape): divided by the replica count (gradients are
    summed across replicas) and scaled for mixed precision (``apply_gradients`` unscales)."""
    count, _ = replicas()
    return optimizer.scale_loss(loss / count if count > 1 else loss)


def gradient_norm(grads, optimizer):
    """Global L2 norm of the true gradients: the loss scale and the replica split that
    :func:`gradient_loss` put into them taken out again."""
    import tensorflow as tf

    count, _ = replicas()
    scale = optimizer.scale_loss(tf.constant(1.0)) / count
    return tf.linalg.global_norm([g for g in grads if g is not None]) / tf.cast(scale, tf.float32)


def step_results(results: dict) -> dict:
    """A train step's results as Keras wants them: with several replicas it averages each over
    axis 0 across workers, so every scalar becomes a vector of one."""
    import tensorflow as tf

    if replicas()[0] > 1:
        return {name: tf.reshape(v, [1]) for name, v in results.items()}
    return results
