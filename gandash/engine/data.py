"""Datasets as uint8 arrays, and the tf.data pipeline that feeds training.

Loading order for MNIST / Fashion-MNIST: ``$GANDASH_DATA_DIR/<name>/`` (the
original IDX ``.gz`` files, or a Keras-style ``<name>.npz``), then
``keras.datasets.<name>.load_data()`` (downloads once and caches).
"""
from __future__ import annotations

import gzip
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gandash.errors import GandashError

DIR_NAMES = {"mnist": "mnist", "fashion_mnist": "fashion-mnist"}
MAX_CUSTOM_BYTES = 1 << 30  # 1 GiB of pixels after decoding
MAX_CUSTOM_IMAGES = 200_000
MAX_IMAGE_PIXELS = 4096 * 4096  # one image of a dataset; larger ones are refused before decoding
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class DataError(GandashError):
    """A dataset cannot be found or read; the message says what to do."""


@dataclass(frozen=True)
class Dataset:
    images: np.ndarray  # (N, H, W) uint8, 0 = black background
    labels: np.ndarray | None  # (N,) int in [0, 10) or None

    def __len__(self) -> int:
        return len(self.images)


def _read_idx(path: Path, magic: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    got, = struct.unpack(">I", data[:4])
    if got != magic:
        raise DataError(f"{path}: not an IDX file (magic {got}, expected {magic})")
    ndim = magic & 0xFF
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise DataError(f"{path}: truncated IDX file")
    return arr.reshape(dims)


def _load_local(name: str, split: str, root: Path) -> Dataset | None:
    folder = root / DIR_NAMES[name]
    prefix = "train" if split == "train" else "t10k"
    img, lab = folder / f"{prefix}-images-idx3-ubyte.gz", folder / f"{prefix}-labels-idx1-ubyte.gz"
    if img.exists() and lab.exists():
        return Dataset(_read_idx(img, 2051), _read_idx(lab, 2049).astype(np.int32))
    for npz in (folder / f"{name}.npz", root / f"{name}.npz", folder / "mnist.npz"):
        if npz.exists() and (name == "mnist" or npz.name != "mnist.npz"):
            with np.load(npz, allow_pickle=False) as d:
                return Dataset(d[f"x_{split}"], d[f"y_{split}"].astype(np.int32))
    return None


def load_builtin(name: str, split: str = "train") -> Dataset:
    """MNIST or Fashion-MNIST as (N, 28, 28) uint8 with labels."""
    if name not in DIR_NAMES:
        raise DataError(f"unknown dataset {name!r}")
    root = os.environ.get("GANDASH_DATA_DIR")
    if root:
        found = _load_local(name, split, Path(root))
        if found is not None:
            return found
    try:
        import keras

        loader = getattr(keras.datasets, name)
        (xtr, ytr), (xte, yte) = loader.load_data()
    except Exception as e:  # no network, no cache
        where = Path(root or "<GANDASH_DATA_DIR>") / DIR_NAMES[name]
        raise DataError(
            f"{name} is not available offline and could not be downloaded ({type(e).__name__}). "
            f"Put {'train' if split == 'train' else 't10k'}-images-idx3-ubyte.gz and the labels file "
            f"in {where}/ and set GANDASH_DATA_DIR."
        ) from None
    x, y = (xtr, ytr) if split == "train" else (xte, yte)
    return Dataset(np.asarray(x, np.uint8), np.asarray(y, np.int32))


def load_custom(path: str | Path, size: int) -> Dataset:
    """A user's dataset: an .npz with ``images`` (+ ``labels``) or a folder of images."""
    p = Path(path)
    if p.is_dir():
        return _load_folder(p, size)
    if p.suffix.lower() == ".npz" and p.is_file():
        return _load_npz(p, size)
    raise DataError(f"{path}: expected an .npz file or a folder of PNG/JPEG images")


def _to_gray_uint8(x: np.ndarray, what: str) -> np.ndarray:
    if x.ndim == 4 and x.shape[-1] in (1, 3, 4):
        x = x[..., :3].mean(axis=-1) if x.shape[-1] >= 3 else x[..., 0]
    if x.ndim != 3:
        raise DataError(f"{what}: images must have shape (N, H, W) or (N, H, W, C); got {x.shape}")
    if x.shape[0] == 0:
        raise DataError(f"{what}: contains no images")
    if x.dtype == np.uint8:
        return x
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise DataError(f"{what}: images must be numbers, got dtype {x.dtype}")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DataError(f"{what}: images contain NaN or infinity")
    hi = 1.0 if x.max() <= 1.0 else 255.0
    return np.clip(x / hi * 255.0, 0, 255).round().astype(np.uint8)


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    if x.shape[1:] == (size, size):
        return x
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(a).resize((size, size), Image.BILINEAR)) for a in x])


def _load_npz(p: Path, size: int) -> Dataset:
    if p.stat().st_size > MAX_CUSTOM_BYTES:
        raise DataError(f"{p.name}: too large ({p.stat().st_size / 2**30:.1f} GiB; at most 1 GiB)")
    shapes = npz_shapes(p)  # declared sizes, checked before anything is decompressed
    if "images" not in shapes:
        raise DataError(f"{p.name}: no 'images' array (found: {', '.join(shapes) or 'none'})")
    shape, dtype = shapes["images"]
    if len(shape) not in (3, 4):
        raise DataError(f"{p.name}: images must have shape (N, H, W) or (N, H, W, C); got {shape}")
    declared = sum(int(np.prod(s, dtype=np.float64)) * d.itemsize for s, d in shapes.values())
    if declared > MAX_CUSTOM_BYTES or shape[0] > MAX_CUSTOM_IMAGES:
        raise DataError(f"{p.name}: too large ({shape[0]:,} images of {'×'.join(map(str, shape[1:]))}, "
                        f"{declared / 2**30:.1f} GiB; at most {MAX_CUSTOM_IMAGES:,} images and 1 GiB)")
    try:
        with np.load(p, allow_pickle=False) as d:
            x = d["images"]
            y = d["labels"] if "labels" in d.files else None
    except Exception as e:
        raise DataError(f"{p.name}: not a readable .npz file ({type(e).__name__})") from None
    x = _resize(_to_gray_uint8(x, p.name), size)
    if y is not None:
        y = np.asarray(y)
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() > 9:
            raise DataError(f"{p.name}: 'labels' must be {len(x)} integers in 0..9")
        y = y.astype(np.int32)
    return Dataset(x, y)


def npz_shapes(p: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each array's declared (shape, dtype) in an .npz, read from the ``.npy`` headers alone.

    Only the first bytes of each member are decompressed, so a file of a few MB that declares
    gigabytes is refused without the memory it declares.
    """
    from numpy.lib import format as npy

    out = {}
    try:
        with zipfile.ZipFile(p) as zf:
            for name in zf.namelist():
                if not name.endswith(".npy"):
                    continue
                with zf.open(name) as f:
                    major, _ = npy.read_magic(f)
                    read_header = npy.read_array_header_1_0 if major == 1 else npy.read_array_header_2_0
                    shape, _, dtype = read_header(f)
                if dtype.hasobject:
                    raise DataError(f"{p.name}: '{name[:-4]}' holds Python objects; only numbers can be read")
                out[name[:-4]] = (tuple(int(n) for n in shape), dtype)
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{p.name}: not a readable .npz file ({type(e).__name__})") from None
    return out


def _load_folder(p: Path, size: int) -> Dataset:
    from PIL import Image, UnidentifiedImageError

    files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
    if not files:
        raise DataError(f"{p}: no PNG or JPEG images in this folder")
    if len(files) > MAX_CUSTOM_IMAGES:
        raise DataError(f"{p}: too many images (at most {MAX_CUSTOM_IMAGES})")
    out = np.empty((len(files), size, size), np.uint8)
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:  # reads the header only; pixels are decoded by convert()
                w, h = im.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise DataError(f"{f.name}: the image is {w:,}×{h:,} pixels; at most 4096×4096")
                out[i] = np.asarray(im.convert("L").resize((size, size), Image.BILINEAR))
        except DataError:
            raise
        except Image.DecompressionBombError:
            raise DataError(f"{f.name}: the image declares too many pixels to decode safely") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            raise DataError(f"{f.name}: not a readable image ({type(e).__name__})") from None
    return Dataset(out, None)


def load_for_config(cfg) -> Dataset:
    """The training data of a run, at the run's image size."""
    if cfg.dataset == "custom":
        ds = load_custom(cfg.data_path, cfg.image_size)
    else:
        ds = load_builtin(cfg.dataset, "train")
    if cfg.is_conditional and ds.labels is None:
        raise DataError(f"{cfg.architecture} is conditional but this dataset has no labels")
    return ds


def scale(x, activation: str):
    """uint8 pixels → model range ([-1, 1] for tanh, [0, 1] for sigmoid)."""
    x = x / 255.0 if activation == "sigmoid" else x / 127.5 - 1.0
    return x


def to_uint8(x: np.ndarray, activation: str) -> np.ndarray:
    """Model output → uint8 pixels (0 = black background)."""
    x = np.asarray(x, np.float32)
    x = x if activation == "sigmoid" else (x + 1.0) / 2.0
    return np.clip(x * 255.0, 0, 255).round().astype(np.uint8)


def make_pipeline(ds: Dataset, cfg, seed: int):
    """Infinite, shuffled, batched tf.data pipeline of (images, labels)."""
    import tensorflow as tf

    labels = ds.labels if ds.labels is not None else np.zeros(len(ds), np.int32)
    size = cfg.image_size
    base = tf.data.Dataset.from_tensor_slices((ds.images, labels))
    base = base.shuffle(min(len(ds), 60000), seed=seed, reshuffle_each_iteration=True).repeat()
    base = base.batch(cfg.batch_size, drop_remainder=True)

    def prep(x, y):
        x = tf.cast(x, tf.float32)[..., None]
        if x.shape[1] != size:
            x = tf.image.resize(x, (size, size), method="bilinear")
        return scale(x, cfg.output_activation), tf.cast(y, tf.int32)

    return without_autotune(base.map(prep).prefetch(2))


def batches(arrays, batch_size: int):
    """In-memory arrays (one, or a tuple) as a finite, ordered batch pipeline without the autotuner.

    For ``fit``/``predict`` on arrays, whose own pipeline Keras autotunes (see ``without_autotune``).
    """
    import tensorflow as tf

    return without_autotune(tf.data.Dataset.from_tensor_slices(arrays).batch(batch_size).prefetch(2))


def without_autotune(dataset):
    """``dataset`` with tf.data's autotuner off.

    On a 2-core CPU the autotuner's optimisation thread (whose period doubles from 10 ms) can
    hold up the end of a ``fit`` or ``predict`` until it next wakes, so calls last 10 ms ×
    (2^n − 1): a third of the 5-minute training runs sat about 24 s after their last step
    before reporting "finished", and 1,000 DCGAN steps took 41.0 s instead of
    25.5 s in two runs of three. Preparing a batch is a cast and a scale, so a fixed two-batch
    prefetch keeps the step fed without it.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)
