"""The evaluator classifier: a small CNN per dataset, trained once and cached beside the runs.

``<runs_root>/_evaluators/`` holds, per dataset::

    <dataset>.keras   the trained classifier (Keras format, loaded in safe mode)
    <dataset>.json    state, progress, test accuracy, training time, file hash, reference metrics
    <dataset>.lock    held (flock) by the one process that is training it
    <dataset>.log     output of a background training process

It is trained only on the real training split and never sees generated images.
The lock makes a second process wait for the first instead of training twice;
because the kernel drops it when its holder dies, "lock free but json says
training" reliably means the trainer ended without finishing.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gandash.errors import GandashError
from gandash.quality import shipped
from gandash.quality.classifier import DEFAULT_EPOCHS, FEATURES_LAYER, train_classifier
from gandash.store import locks
from gandash.store.runs import atomic_write_json, read_json, replace_durably, temp_path

EVALUATOR_DIRNAME = "_evaluators"
DATASETS = ("mnist", "fashion_mnist")
PACKAGE_ROOT = Path(__file__).resolve().parents[2]

Progress = Callable[[str], None]
_models: dict[tuple[str, str], tuple[Any, Any, str]] = {}  # (dataset, file) -> (stamp, model, sha256)
_children: list[tuple[subprocess.Popen, tuple[str, str]]] = []  # (process, (dataset, root))


class EvalError(GandashError):
    """An evaluation request cannot be served; the message says why."""


def check_dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise EvalError(f"quality metrics need an evaluator classifier, which exists for "
                        f"{' and '.join(DATASETS)} only (got {dataset!r})")
    return dataset


def evaluator_dir(runs_root: Path | str) -> Path:
    return Path(runs_root) / EVALUATOR_DIRNAME


def paths(dataset: str, runs_root: Path | str) -> dict[str, Path]:
    """The files of one dataset's evaluator."""
    d = evaluator_dir(runs_root)
    return {ext: d / f"{check_dataset(dataset)}.{ext}" for ext in ("keras", "json", "lock", "log")}


def read_info(dataset: str, runs_root: Path | str) -> dict[str, Any]:
    """The evaluator's json ({} when missing or damaged)."""
    return read_json(paths(dataset, runs_root)["json"]) or {}


def write_info(dataset: str, runs_root: Path | str, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into the evaluator's json (atomic replace)."""
    info = {**read_info(dataset, runs_root), **fields, "dataset": dataset, "updated": time.time()}
    atomic_write_json(paths(dataset, runs_root)["json"], info)
    return info


# -- the cache ---------------------------------------------------------------------------
def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _file_matches(info: dict[str, Any], path: Path) -> bool:
    """The .keras file is the one the json describes (catches truncation and replacement)."""
    stamp = _stamp(path)
    return (stamp is not None and info.get("state") == "ready" and stamp[1] == info.get("size")
            and isinstance(info.get("accuracy"), (int, float)) and _sha256(path) == info.get("sha256"))


def _shape_ok(model) -> bool:
    try:
        return (tuple(model.input_shape) == (None, 28, 28, 1) and tuple(model.output_shape) == (None, 10)
                and model.get_layer(FEATURES_LAYER) is not None)
    except (AttributeError, ValueError, TypeError):
        return False


def load_cached(dataset: str, runs_root: Path | str, *, install: bool = True):
    """The cached evaluator, or None when it is missing, damaged or does not match its json.

    With ``install`` a folder without one gets the shipped evaluator (seconds), unless another
    process holds the evaluator's lock.
    """
    p = paths(dataset, runs_root)
    key = (dataset, str(p["keras"].resolve()))
    stamp, info = _stamp(p["keras"]), read_info(dataset, runs_root)
    held = _models.get(key)
    if held and held[0] == stamp and info.get("sha256") == held[2]:
        return held[1]
    if not _file_matches(info, p["keras"]):
        if not install or not _shipped_usable(dataset, info):
            return None
        p["lock"].parent.mkdir(parents=True, exist_ok=True)
        lock = locks.Lock.acquire(p["lock"], {"pid": os.getpid()})
        if lock is None:
            return None
        with lock:
            model = load_cached(dataset, runs_root, install=False)
            return model if model is not None else _install_shipped(dataset, runs_root, lambda msg: None)
    import keras

    try:
        model = keras.saving.load_model(p["keras"], compile=False, safe_mode=True)
    except Exception:  # noqa: BLE001 - any unreadable file means "retrain"
        return None
    if not _shape_ok(model):
        return None
    _models[key] = (stamp, model, info["sha256"])
    return model


@contextlib.contextmanager
def training_lock(dataset: str, runs_root: Path | str, say: Progress) -> Iterator[None]:
    """Hold the dataset's lock file; wait (and say so) while another process holds it."""
    path = paths(dataset, runs_root)["lock"]
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = locks.Lock.acquire(path, {"pid": os.getpid()})
    if lock is None:
        say(f"another process is training the {dataset} evaluator; waiting for it")
        lock = locks.Lock.acquire(path, {"pid": os.getpid()}, block=True)
    with lock:
        yield


def _lock_busy(dataset: str, runs_root: Path | str) -> bool:
    return locks.holder(paths(dataset, runs_root)["lock"]) is not None


def _env_number(name: str, cast: type, default):
    text = os.environ.get(name, "").strip()
    return cast(text) if text else default


def ensure_evaluator(dataset: str, runs_root: Path | str, progress: Progress | None = None, *,
                     epochs: float | None = None, max_examples: int | None = None):
    """The evaluator for ``dataset``: loaded from the cache, or trained now and cached.

    ``epochs`` / ``max_examples`` default to $GANDASH_EVALUATOR_EPOCHS and
    $GANDASH_EVALUATOR_MAX_EXAMPLES, else the full recipe (which meets the accuracy bars).
    """
    check_dataset(dataset)
    model = load_cached(dataset, runs_root)
    if model is not None:
        return model
    say = progress or (lambda msg: None)
    with training_lock(dataset, runs_root, say):
        model = load_cached(dataset, runs_root, install=False)  # built by the process we waited for
        if model is not None:
            return model
        if epochs is None and max_examples is None and _shipped_usable(dataset, read_info(dataset, runs_root)):
            model = _install_shipped(dataset, runs_root, say)
            if model is not None:
                return model
        if epochs is None:
            epochs = _env_number("GANDASH_EVALUATOR_EPOCHS", float, DEFAULT_EPOCHS[dataset])
        if max_examples is None:
            max_examples = _env_number("GANDASH_EVALUATOR_MAX_EXAMPLES", int, None)
        return _train_and_cache(dataset, runs_root, say, epochs, max_examples)


def _train_and_cache(dataset: str, runs_root: Path | str, say: Progress, epochs: float,
                     max_examples: int | None):
    p = paths(dataset, runs_root)
    # a fresh json: nothing of an earlier (damaged) evaluator may survive
    atomic_write_json(p["json"], {"dataset": dataset, "state": "training", "progress": 0.0,
                                  "message": "loading data", "error": "", "pid": os.getpid(),
                                  "started": time.time(), "updated": time.time()})
    say(f"training the {dataset} evaluator classifier ({epochs:g} epochs; once per runs directory)")
    last = {"t": 0.0, "tenth": -1}

    def on_progress(frac: float, msg: str) -> None:
        now = time.monotonic()
        if now - last["t"] >= 1.0 or frac >= 1.0:
            last["t"] = now
            write_info(dataset, runs_root, progress=round(frac, 4), message=msg)
        if int(frac * 10) > last["tenth"]:
            last["tenth"] = int(frac * 10)
            say(f"evaluator: {100 * frac:.0f}%")

    try:
        model, accuracy, seconds = train_classifier(dataset, epochs, max_examples, on_progress)
        _keep(dataset, runs_root, model)
    except BaseException as e:
        write_info(dataset, runs_root, state="failed", error=f"{type(e).__name__}: {e}".splitlines()[0][:300])
        raise
    _ready(dataset, runs_root, model, accuracy=accuracy, train_seconds=round(seconds, 1), epochs=epochs,
           examples=max_examples or "all", source="trained here")
    say(f"{dataset} evaluator: test accuracy {100 * accuracy:.2f}% after {seconds:.0f} s")
    return model


def _install_shipped(dataset: str, runs_root: Path | str, say: Progress):
    """The shipped evaluator, saved as this folder's; None (and a word why) when it cannot be used here."""
    began = time.perf_counter()
    atomic_write_json(paths(dataset, runs_root)["json"], {  # fresh: nothing of an earlier evaluator may survive
        "dataset": dataset, "state": "training", "progress": 0.0, "message": "installing the shipped evaluator",
        "error": "", "pid": os.getpid(), "started": time.time(), "updated": time.time()})
    try:
        model, accuracy = shipped.build(dataset)
        _keep(dataset, runs_root, model)
    except (OSError, ValueError, KeyError) as e:
        write_info(dataset, runs_root, state="failed", shipped_failed=True,
                   error=f"the shipped evaluator cannot be used here ({e}); train one")
        say(f"the shipped {dataset} evaluator cannot be used here ({e}); training one instead")
        return None
    _ready(dataset, runs_root, model, accuracy=accuracy, train_seconds=0.0, epochs=shipped.info(dataset)["epochs"],
           examples="all", source="shipped", install_seconds=round(time.perf_counter() - began, 2))
    say(f"{dataset} evaluator: the one shipped with gandash (test accuracy {100 * accuracy:.2f}%)")
    return model


def _shipped_usable(dataset: str, info: dict[str, Any]) -> bool:
    """Shipped weights exist, are wanted, and have not already failed in this folder."""
    return not info.get("shipped_failed") and shipped.info(dataset) is not None


def _keep(dataset: str, runs_root: Path | str, model) -> None:
    """Save the classifier as the folder's evaluator file (whole, or not at all)."""
    p = paths(dataset, runs_root)
    p["keras"].parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(p["keras"], ".keras")
    try:
        model.save(tmp)
        replace_durably(tmp, p["keras"])
    finally:
        tmp.unlink(missing_ok=True)


def _ready(dataset: str, runs_root: Path | str, model, **fields: Any) -> None:
    """Record the saved evaluator as ready (with its file's size and hash) and keep it loaded."""
    p = paths(dataset, runs_root)
    info = write_info(dataset, runs_root, state="ready", progress=1.0, message="", error="", trained_at=time.time(),
                      size=p["keras"].stat().st_size, sha256=_sha256(p["keras"]), **fields)
    _models[(dataset, str(p["keras"].resolve()))] = (_stamp(p["keras"]), model, info["sha256"])


# -- status and background training ---------------------------------------------------------
def _reap() -> None:
    _children[:] = [c for c in _children if c[0].poll() is None]


def _our_child(dataset: str, runs_root: Path | str) -> subprocess.Popen | None:
    _reap()
    key = (dataset, str(Path(runs_root).resolve()))
    return next((proc for proc, k in _children if k == key), None)


def evaluator_status(dataset: str, runs_root: Path | str) -> dict[str, Any]:
    """state ("missing" | "training" | "ready" | "failed"), accuracy, error, progress (0..1), message."""
    check_dataset(dataset)
    info = read_info(dataset, runs_root)
    out: dict[str, Any] = {"state": "missing", "accuracy": None, "error": "", "progress": 0.0, "message": ""}
    if _lock_busy(dataset, runs_root) or _our_child(dataset, runs_root) is not None:
        training = info.get("state") == "training"
        return {**out, "state": "training", "progress": float(info.get("progress") or 0.0) if training else 0.0,
                "message": str(info.get("message") or "starting") if training else "starting"}
    state = info.get("state")
    if state == "ready" and _file_matches(info, paths(dataset, runs_root)["keras"]):
        return {**out, "state": "ready", "accuracy": float(info["accuracy"]), "progress": 1.0,
                "shipped": info.get("source") == "shipped"}
    if _shipped_usable(dataset, info):  # installed by the first use, in seconds
        return {**out, "state": "ready", "accuracy": shipped.info(dataset)["accuracy"], "progress": 1.0,
                "shipped": True}
    if state == "ready":
        return {**out, "error": "the cached evaluator file is missing or damaged; it will be trained again"}
    if state == "failed":
        return {**out, "state": "failed", "error": str(info.get("error") or "training failed")}
    if state == "training":
        log = paths(dataset, runs_root)["log"]
        return {**out, "state": "failed", "error": f"training ended before it finished (see {log})"}
    return out


def start_evaluator_training(dataset: str, runs_root: Path | str) -> int:
    """Train the evaluator in a detached process; return its pid (0 when it is already ready).

    Progress goes to the json (see :func:`evaluator_status`), output to ``<dataset>.log``.
    """
    check_dataset(dataset)
    root = Path(runs_root).resolve()
    child = _our_child(dataset, root)
    if child is not None:
        return child.pid
    status = evaluator_status(dataset, root)
    if status["state"] == "ready":
        return 0
    pid = read_info(dataset, root).get("pid")
    if status["state"] == "training" and isinstance(pid, int):
        return pid
    p = paths(dataset, root)
    p["log"].parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with open(p["log"], "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gandash.quality.evaluate", dataset, str(root)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=str(PACKAGE_ROOT), env=env, start_new_session=True)
    _children.append((proc, (dataset, str(root))))
    return proc.pid
