"""Dissecting G (after GAN Dissection): switch a layer's channels off or amplify them, and rank them by
what they draw in a painted region or by how much the evaluator's reading depends on them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gandash.engine.data import to_uint8
from gandash.explore.directions import Reader
from gandash.explore.sampling import SamplingError

FEEDS = ("Dense", "Conv2D", "Conv2DTranspose", "UpSampling2D")  # a dissectable layer feeds one of these
BATCH = 1024  # images per forward pass of the tail when every channel is tried


@dataclass
class Split:
    """G cut after one layer: ``head`` maps G's inputs to that layer's output, ``tail`` that to images."""

    layer: str
    head: object
    tail: object
    shape: tuple[int, ...]  # the layer's output, without the batch axis; channels last

    @property
    def channels(self) -> int:
        return int(self.shape[-1])


def dissectable(generator) -> list[tuple[str, tuple[int, ...]]]:
    """(name, output shape) of each layer whose output feeds G's next learned layer, input excluded."""
    layers = generator.layers
    out = []
    for i, layer in enumerate(layers[:-1]):
        kind = layer.__class__.__name__
        if kind in ("InputLayer", "Concatenate", "Flatten", "Embedding", "CategoryEncoding"):
            continue
        if layers[i + 1].__class__.__name__ in FEEDS:
            out.append((layer.name, tuple(int(s) for s in layer.output.shape[1:])))
    return out


def describe(name: str, shape: tuple[int, ...]) -> str:
    if len(shape) == 3:
        return f"{name} ({shape[0]}×{shape[1]} maps, {shape[2]} channels)"
    return f"{name} ({shape[-1]} units)"


def split(generator, name: str | None = None) -> Split:
    """Cut G after layer ``name`` (default: the first dissectable layer)."""
    import keras

    options = dissectable(generator)
    if not options:
        raise SamplingError("this generator has no layer to dissect")
    names = [n for n, _ in options]
    name = name or names[0]
    if name not in names:
        raise SamplingError(f"no layer {name!r} to dissect; choose from: {', '.join(names)}")
    index = [layer.name for layer in generator.layers].index(name)
    cut = generator.layers[index]
    head = keras.Model(generator.inputs, cut.output)
    x = inp = keras.Input(tuple(cut.output.shape[1:]))
    try:
        for layer in generator.layers[index + 1:]:
            x = layer(x)
    except Exception as e:  # noqa: BLE001 - a layout we do not know: say so rather than crash
        raise SamplingError(f"cannot cut the generator after {name}: {str(e).splitlines()[0][:200]}") from None
    return Split(name, head, keras.Model(inp, x), tuple(int(s) for s in cut.output.shape[1:]))


def activations(s: Split, cfg, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """The layer's output (N, *shape) for latents (and the digits or codes G takes)."""
    z = np.asarray(z, np.float32).reshape(-1, cfg.latent_dim)
    if cfg.takes_label:
        if labels is None:
            raise SamplingError("this model needs the digit (or code) of each sample")
        x = [z, np.asarray(labels, np.int32).reshape(-1, 1)]
    else:
        x = z
    return np.asarray(s.head.predict(x, batch_size=500, verbose=0), np.float32)


def _check(s: Split, channels) -> list[int]:
    out = sorted({int(c) for c in channels})
    bad = [c for c in out if not 0 <= c < s.channels]
    if bad:
        raise SamplingError(f"channels must be from 0 to {s.channels - 1}, got {bad[:5]}")
    return out


def edited(s: Split, acts: np.ndarray, off=(), gain: dict[int, float] | None = None) -> np.ndarray:
    """The activations with channels ``off`` set to 0 and channel c multiplied by ``gain[c]``."""
    acts = np.array(acts, np.float32, copy=True)
    for c in _check(s, off):
        acts[..., c] = 0.0
    gain = gain or {}
    for c in _check(s, gain):
        factor = float(gain[c])
        if not np.isfinite(factor) or abs(factor) > 20:
            raise SamplingError(f"a gain must be from -20 to 20, got {gain[c]}")
        acts[..., c] *= np.float32(factor)
    return acts


def render(s: Split, cfg, acts: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W) from the layer's (possibly edited) activations."""
    out = [np.asarray(s.tail(acts[i:i + BATCH], training=False))[..., 0] for i in range(0, len(acts), BATCH)]
    return to_uint8(np.concatenate(out), cfg.output_activation)


def _each_off(s: Split, cfg, acts: np.ndarray):
    """For every channel c: (c, the images of ``acts`` with c switched off), a batch at a time."""
    per = max(1, BATCH // len(acts))
    for start in range(0, s.channels, per):
        chans = range(start, min(start + per, s.channels))
        batch = np.repeat(acts[None], len(chans), axis=0)
        for j, c in enumerate(chans):
            batch[j, ..., c] = 0.0
        images = render(s, cfg, batch.reshape(-1, *acts.shape[1:]))
        for j, c in enumerate(chans):
            yield c, images[j * len(acts):(j + 1) * len(acts)]


@dataclass
class Ranking:
    """Channels best first, with the score each was ranked by and a second figure beside it (both shares,
    0–1, of pixels, ink or samples)."""

    order: np.ndarray  # channel indices
    score: np.ndarray  # per channel (indexed by channel, not by rank)
    other: np.ndarray  # per channel
    what: str  # what score means
    other_what: str

    def top(self, k: int) -> list[int]:
        return [int(c) for c in self.order[:k]]


def effect(s: Split, cfg, acts: np.ndarray) -> Ranking:
    """Each channel's effect on the samples: the mean pixel change when it is off (0–1), and the ink it
    takes away (+) or adds (−)."""
    base = render(s, cfg, acts).astype(np.float32) / 255
    change, ink = np.zeros(s.channels), np.zeros(s.channels)
    for c, images in _each_off(s, cfg, acts):
        diff = base - images.astype(np.float32) / 255
        change[c], ink[c] = np.abs(diff).mean(), diff.mean()
    return Ranking(np.argsort(-change), change, ink, "mean pixel change when off", "ink it draws (net)")


def region(s: Split, cfg, acts: np.ndarray, mask: np.ndarray) -> Ranking:
    """Which channels draw the painted region: the share of the ink inside ``mask`` (H, W) that is lost
    when each is off, with the share lost elsewhere beside it (a channel that draws everything scores on
    both, and ranks below one that draws only the region)."""
    mask = np.asarray(mask, bool)
    base = render(s, cfg, acts).astype(np.float32) / 255
    if mask.shape != base.shape[1:] or not mask.any():
        raise SamplingError(f"the region must be a non-empty {base.shape[1]}×{base.shape[2]} mask")
    rest = ~mask if (~mask).any() else mask
    ink_in, ink_out = base[:, mask].sum() + 1e-6, base[:, rest].sum() + 1e-6
    inside, outside = np.zeros(s.channels), np.zeros(s.channels)
    for c, images in _each_off(s, cfg, acts):
        lost = base - images.astype(np.float32) / 255
        inside[c], outside[c] = lost[:, mask].sum() / ink_in, lost[:, rest].sum() / ink_out
    return Ranking(np.argsort(-(inside - np.maximum(outside, 0))), inside, outside,
                   "share of the region's ink lost when off", "share of the ink elsewhere lost")


def reading(s: Split, cfg, acts: np.ndarray, reader: Reader) -> Ranking:
    """Channels by how much the evaluator's reading depends on them: the drop in its confidence in the
    digit it read before, with the share of samples whose reading changes beside it."""
    before = reader(render(s, cfg, acts))
    read = before.argmax(1)
    rows = np.arange(len(read))
    drop, changed = np.zeros(s.channels), np.zeros(s.channels)
    for c, images in _each_off(s, cfg, acts):
        after = reader(images)
        drop[c] = float(np.mean(before[rows, read] - after[rows, read]))
        changed[c] = float(np.mean(after.argmax(1) != read))
    return Ranking(np.argsort(-drop), drop, changed, "drop in the evaluator's confidence when off",
                   "samples read as another digit")
