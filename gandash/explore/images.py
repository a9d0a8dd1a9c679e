"""Image grids, strips and GIFs with Pillow."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image


def to_grid_array(images: np.ndarray, cols: int, pad: int = 2, pad_value: int = 0) -> np.ndarray:
    """Tile uint8 images (N, H, W) into one (rows*(H+pad)+pad, ...) array."""
    images = np.asarray(images, np.uint8)
    n, h, w = images.shape
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), pad_value, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = im
    return out


def to_grid_image(images: np.ndarray, cols: int, *, pad: int = 2, scale: int = 1,
                  invert: bool = False) -> Image.Image:
    """A grid of digits as a grayscale PIL image, upscaled with nearest neighbour (crisp)."""
    arr = to_grid_array(images, cols, pad)
    img = Image.fromarray(255 - arr if invert else arr, mode="L")
    return upscale(img, scale)


def read_png(path) -> Image.Image | None:
    """A sample PNG, or None when it is missing or damaged (a trainer may be replacing it)."""
    try:
        with Image.open(path) as im:
            if im.width * im.height > 4096 * 4096:  # not a sample grid: never decode it
                return None
            im.load()
            return im.convert("L")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def upscale(img: Image.Image, scale: int) -> Image.Image:
    if scale <= 1:
        return img
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST)


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def gif_bytes(frames: list[Image.Image], duration_ms: int = 120, loop: int = 0,
              boomerang: bool = False) -> bytes:
    """An animated GIF of the frames (optionally played forward then back)."""
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    seq = list(frames) + (list(frames[-2:0:-1]) if boomerang else [])
    buf = io.BytesIO()
    seq[0].save(buf, format="GIF", save_all=True, append_images=seq[1:], duration=duration_ms,
                loop=loop, optimize=False)
    return buf.getvalue()


def heat_overlay(image: np.ndarray, heat: np.ndarray, scale: int = 8, strength: float = 0.85) -> Image.Image:
    """A grayscale digit (H, W) uint8 with a heat map in [0, 1] laid over it in red-yellow, upscaled."""
    gray = np.asarray(image, np.float32) / 255.0
    h = np.clip(np.asarray(heat, np.float32), 0, 1) * strength
    base = np.stack([gray] * 3, axis=-1) * 0.7
    color = np.stack([np.ones_like(h), h, np.zeros_like(h)], axis=-1)  # red to yellow as it grows
    rgb = base * (1 - h[..., None]) + color * h[..., None]
    img = Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8), mode="RGB")
    return img.resize((img.width * scale, img.height * scale), Image.BILINEAR)


def tinted_grid(images: np.ndarray, cols: int, colors: list[str] | None = None, *, pad: int = 2,
                scale: int = 1, strength: float = 0.55) -> Image.Image:
    """An RGB grid of digits; with ``colors`` (one "#rrggbb" per image) each tile's ink is tinted."""
    gray = to_grid_array(images, cols, pad).astype(np.float32) / 255.0
    rgb = np.repeat(gray[..., None], 3, axis=2)
    if colors is not None:
        h, w = np.asarray(images).shape[1:]
        for i, color in enumerate(colors):
            r, c = divmod(i, max(1, min(cols, len(images))))
            tint = np.array([int(color[k:k + 2], 16) for k in (1, 3, 5)], np.float32) / 255.0
            y, x = pad + r * (h + pad), pad + c * (w + pad)
            tile = rgb[y:y + h, x:x + w]
            rgb[y:y + h, x:x + w] = tile * (1 - strength) + tile * tint * strength + (1 - tile) * tint * 0.18
    return upscale(Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8), mode="RGB"), scale)
