"""The race view: several runs' fixed-noise grids side by side at equal training time (or step), as frames
and as one animated GIF: "which architecture learns digits first"."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gandash.explore.images import gif_bytes, read_png
from gandash.studies.study import grid_at, wall_of_steps

MAX_RUNS = 6
MAX_FRAMES = 60
TILE = 224  # each run's grid is drawn this many pixels wide
LABEL_H = 36


def fmt_seconds(t: float) -> str:
    return f"{t:.0f} s" if t < 60 else f"{int(t // 60)} min {int(t % 60):02d} s"


def positions(runs, by: str = "time") -> list[float]:
    """The slider's stops: every training second (rounded to 0.1 s) or step at which some run saved a grid,
    thinned evenly to at most MAX_FRAMES."""
    stops: set[float] = set()
    for run in runs[:MAX_RUNS]:
        samples = run.sample_steps()
        if not samples:
            continue
        if by == "step":
            stops.update(float(s) for s in samples)
        else:
            steps, walls = wall_of_steps(run)
            stops.update(round(float(t), 1) for t in np.interp(samples, steps, walls))
    out = sorted(stops)
    if len(out) > MAX_FRAMES:
        out = [out[int(round(i))] for i in np.linspace(0, len(out) - 1, MAX_FRAMES)]
    return out


def grid_of(run, at: float, by: str = "time") -> tuple[int, float] | None:
    """(step, training seconds) of the run's last grid at or before ``at`` (seconds or a step)."""
    if by == "time":
        return grid_at(run, at)
    samples = [s for s in run.sample_steps() if s <= at]
    if not samples:
        return None
    steps, walls = wall_of_steps(run)
    return samples[-1], float(np.interp(samples[-1], steps, walls))


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # a Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _fit(draw, text: str, font, width: int) -> str:
    """``text`` cut (with an ellipsis) to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def frame(runs, names: dict[str, str], at: float, by: str = "time") -> Image.Image:
    """One picture: a heading (the time or step), then each run's grid at ``at`` under its name, with the
    step and training time it shows."""
    shown = runs[:MAX_RUNS]
    canvas = Image.new("L", (TILE * len(shown) + 8 * (len(shown) - 1), TILE + 3 * LABEL_H), 255)
    draw = ImageDraw.Draw(canvas)
    big, small = _font(20), _font(14)
    head = f"after {fmt_seconds(at)} of training" if by == "time" else f"at step {int(at):,}"
    draw.text((4, 6), head, fill=0, font=big)
    for i, run in enumerate(shown):
        x, top = i * (TILE + 8), 2 * LABEL_H
        draw.text((x + 2, LABEL_H + 10), _fit(draw, names.get(run.id, run.id), small, TILE - 4), fill=0, font=small)
        got = grid_of(run, at, by)
        img = read_png(run.sample_path(got[0])) if got else None
        if img is None:
            draw.rectangle((x, top, x + TILE - 1, top + TILE - 1), fill=235)
            draw.text((x + 8, top + TILE // 2), "no grid yet", fill=80, font=small)
            continue
        canvas.paste(img.resize((TILE, TILE), Image.NEAREST), (x, top))
        draw.text((x + 2, top + TILE + 8), f"step {got[0]:,} · {fmt_seconds(got[1])}", fill=60, font=small)
    return canvas


def gif(runs, names: dict[str, str], by: str = "time", duration_ms: int = 300) -> bytes:
    """The whole race as one animated GIF (the last frame held a little longer by repeating it)."""
    stops = positions(runs, by)
    if not stops:
        raise ValueError("none of these runs has saved a sample grid yet")
    frames = [frame(runs, names, at, by) for at in stops]
    return gif_bytes(frames + [frames[-1]] * 4, duration_ms=duration_ms)
