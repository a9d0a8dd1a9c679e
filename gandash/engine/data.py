"""Datasets as uint8 arrays, and the tf.data pipeline that feeds training.

Loading order for MNIST / Fashion-MNIST: ``$GANDASH_DATA_DIR/<name>/`` (the
original IDX ``.gz`` files, or a Keras-style ``<name>.npz``), then
``keras.datasets.<name>.load_data()`` (downloads once and caches).
"""
from __future__ import annotations

import functools
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
MAX_WORKING_BYTES = 3 << 29  # 1.5 GiB: the most a custom dataset may hold in memory while it is converted
CHUNK_BYTES = 32 << 20  # conversion works on this much float32 at a time
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
    """MNIST or Fashion-MNIST as (N, 28, 28) uint8 with labels, read once per process (a warm slot's next
    run gets them at once); the arrays are read-only, so no run can change what the next one reads."""
    if name not in DIR_NAMES:
        raise DataError(f"unknown dataset {name!r}")
    return _load_builtin(name, split, os.environ.get("GANDASH_DATA_DIR"))


@functools.lru_cache(maxsize=4)
def _load_builtin(name: str, split: str, root: str | None) -> Dataset:
    ds = _read_builtin(name, split, root)
    for a in (ds.images, ds.labels):
        a.flags.writeable = False
    return ds


def _read_builtin(name: str, split: str, root: str | None) -> Dataset:
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
    """A user's dataset: an .npz with ``images`` (+ ``labels``) or a folder of images.

    Whatever the file declares, the memory a load takes is checked before a pixel is read: at
    most 200,000 images, 1 GiB of pixels as stored, and 1.5 GiB in all while they are converted.
    """
    p = Path(path)
    if p.is_dir():
        return _load_folder(p, size)
    if p.suffix.lower() == ".npz" and p.is_file():
        return _load_npz(p, size)
    raise DataError(f"{path}: expected an .npz file or a folder of PNG/JPEG images")


def _check_dtype(dtype: np.dtype, what: str) -> None:
    if dtype.hasobject:
        raise DataError(f"{what} holds Python objects; only numbers can be read")
    if dtype.fields is not None or dtype.subdtype is not None or not (
            np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating) or dtype == np.bool_):
        raise DataError(f"{what} must be numbers, got dtype {dtype}")


def _chunks(n: int, row_bytes: int):
    step = max(1, CHUNK_BYTES // max(1, row_bytes))
    for i in range(0, n, step):
        yield slice(i, min(n, i + step))


def _gray_chunk(x: np.ndarray) -> np.ndarray:
    """Images (n, H, W) or (n, H, W, C) as float32 grey levels (n, H, W); RGB(A) averaged."""
    x = x.astype(np.float32)
    if x.ndim == 4:
        x = x[..., :3].mean(axis=-1) if x.shape[-1] >= 3 else x[..., 0]
    return x


def _to_gray_uint8(x: np.ndarray, what: str) -> np.ndarray:
    """(N, H, W[, C]) numbers as (N, H, W) uint8, converted a few megabytes at a time.

    uint8 grey images are returned as they are (no copy). Other numbers are scaled from [0, 1]
    when nothing exceeds 1, else read as 0–255; uint8 colours are read as 0–255.
    """
    if x.ndim == 4 and x.shape[-1] not in (1, 3, 4):
        raise DataError(f"{what}: images need 1, 3 or 4 channels; got shape {x.shape}")
    if x.ndim not in (3, 4):
        raise DataError(f"{what}: images must have shape (N, H, W) or (N, H, W, C); got {x.shape}")
    if x.shape[0] == 0:
        raise DataError(f"{what}: contains no images")
    if x.dtype == np.uint8 and (x.ndim == 3 or x.shape[-1] == 1):
        return x.reshape(x.shape[:3])
    _check_dtype(x.dtype, f"{what}: images")
    n = x.shape[0]
    row = int(np.prod(x.shape[1:])) * 4
    hi = 255.0
    if x.dtype != np.uint8:
        top = -np.inf
        for s in _chunks(n, row):
            g = _gray_chunk(x[s])
            if not np.isfinite(g).all():
                raise DataError(f"{what}: images contain NaN or infinity")
            top = max(top, float(g.max()))
        hi = 1.0 if top <= 1.0 else 255.0
    out = np.empty(x.shape[:3], np.uint8)
    for s in _chunks(n, row):
        g = _gray_chunk(x[s])
        g *= 255.0 / hi
        np.clip(g, 0, 255, out=g)
        out[s] = np.rint(g, out=g)
    return out


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    if x.shape[1:] == (size, size):
        return x
    from PIL import Image

    out = np.empty((len(x), size, size), np.uint8)
    for i, a in enumerate(x):
        out[i] = np.asarray(Image.fromarray(a).resize((size, size), Image.BILINEAR))
    return out


def load_cost(shape: tuple[int, ...], dtype: np.dtype, size: int) -> int:
    """The most bytes loading images of this declared shape and dtype holds at once: the array
    as stored, its grey uint8 copy (none for uint8 grey), then that copy and the resized images."""
    n, h, w = (int(v) for v in shape[:3])
    stored = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    free = dtype == np.uint8 and (len(shape) == 3 or shape[3] == 1)
    gray = 0 if free else n * h * w
    resized = 0 if (h, w) == (size, size) else n * size * size
    scratch = 0 if free else 2 * CHUNK_BYTES
    return max(stored + gray + scratch, (gray or stored) + resized)


def _load_npz(p: Path, size: int) -> Dataset:
    if p.stat().st_size > MAX_CUSTOM_BYTES:
        raise DataError(f"{p.name}: too large ({p.stat().st_size / 2**30:.1f} GiB; at most 1 GiB)")
    try:
        with zipfile.ZipFile(p) as zf:
            members = _npz_members(zf, p.name)
            if "images" not in members:
                raise DataError(f"{p.name}: no 'images' array (found: {', '.join(members) or 'none'})")
            shape, dtype = _member_header(zf, members["images"], f"{p.name}: 'images'")
            _check_images(shape, dtype, size, p.name)
            if "labels" in members:
                lshape, ldtype = _member_header(zf, members["labels"], f"{p.name}: 'labels'")
                if lshape != (shape[0],) or not np.issubdtype(ldtype, np.integer):
                    raise DataError(f"{p.name}: 'labels' must be {shape[0]:,} integers in 0..9; "
                                    f"it declares shape {lshape} of {ldtype}")
                y = _read_member(zf, members["labels"])
            else:
                y = None
            x = _read_member(zf, members["images"])
    except DataError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError) as e:
        raise DataError(f"{p.name}: not a readable .npz file ({type(e).__name__})") from None
    if x.shape != shape:  # read_array returns what the header declared; make sure
        raise DataError(f"{p.name}: 'images' is damaged")
    gray = _to_gray_uint8(x, p.name)
    del x
    gray = _resize(gray, size)
    if y is not None:
        if len(y) and (y.min() < 0 or y.max() > 9):
            raise DataError(f"{p.name}: 'labels' must be {len(gray):,} integers in 0..9")
        y = y.astype(np.int32)
    return Dataset(gray, y)


def _check_images(shape: tuple[int, ...], dtype: np.dtype, size: int, name: str) -> None:
    _check_dtype(dtype, f"{name}: 'images'")
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (1, 3, 4)):
        raise DataError(f"{name}: images must have shape (N, H, W) or (N, H, W, C) with C = 1, 3 or 4; "
                        f"got {shape}")
    n, h, w = shape[:3]
    if n == 0 or h == 0 or w == 0:
        raise DataError(f"{name}: contains no images (shape {shape})")
    stored = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    what = f"{n:,} images of {'×'.join(map(str, shape[1:]))} {dtype}"
    if n > MAX_CUSTOM_IMAGES or stored > MAX_CUSTOM_BYTES:
        raise DataError(f"{name}: too large ({what}, {stored / 2**30:.2f} GiB; "
                        f"at most {MAX_CUSTOM_IMAGES:,} images and 1 GiB of pixels)")
    if h * w > MAX_IMAGE_PIXELS:
        raise DataError(f"{name}: each image is {h:,}×{w:,} pixels; at most 4096×4096")
    cost = load_cost(shape, dtype, size)
    if cost > MAX_WORKING_BYTES:
        raise DataError(f"{name}: loading {what} at {size}×{size} needs {cost / 2**30:.2f} GiB of memory; "
                        f"at most {MAX_WORKING_BYTES / 2**30:.1f} GiB (store the images as uint8 grey, "
                        f"at {size}×{size}, or fewer of them)")


def _npz_members(zf: zipfile.ZipFile, name: str) -> dict[str, zipfile.ZipInfo]:
    """Each key NumPy would give an archive member (its name less ``.npy``), refusing collisions:
    ``images`` and ``images.npy`` would both load as ``images``, and only one of them checked."""
    out: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if key in out:
            raise DataError(f"{name}: the members {out[key].filename!r} and {info.filename!r} would both load as "
                            f"{key!r}; an archive must name each array once")
        out[key] = info
    return out


def _member_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, what: str) -> tuple[tuple[int, ...], np.dtype]:
    """A member's declared (shape, dtype), from its ``.npy`` header alone (a few bytes decompressed)."""
    from numpy.lib import format as npy

    with zf.open(info) as f:
        try:
            major, _ = npy.read_magic(f)
        except ValueError:
            raise DataError(f"{what} is not a NumPy array") from None
        if major not in (1, 2):
            raise DataError(f"{what}: .npy format version {major} is not supported (save with numpy.savez)")
        read_header = npy.read_array_header_1_0 if major == 1 else npy.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
    if dtype.hasobject:
        raise DataError(f"{what} holds Python objects; only numbers can be read")
    return tuple(int(n) for n in shape), dtype


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """Exactly that member's array, read in chunks into an array of its declared size."""
    from numpy.lib import format as npy

    with zf.open(info) as f:
        return npy.read_array(f, allow_pickle=False)


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
