"""Plotly figures for the dashboard: pure functions from metric rows to ``go.Figure``.

Rows are what :meth:`gandash.store.runs.Run.metrics` and :meth:`~gandash.store.runs.Run.eval_rows`
return: a list of dicts of floats. Missing columns and NaN values are tolerated,
so a figure can always be drawn, if only with a note that there is nothing yet.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

Rows = Sequence[Mapping[str, float]]

# Colour per role, the same in every figure: discriminator blue, generator orange.
COLORS = {"d": "#1f77b4", "g": "#ff7f0e", "real": "#2ca02c", "fake": "#d62728", "class": "#9467bd"}
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
LABELS = {
    "d_loss": "D loss", "g_loss": "G loss", "d_real": "D(x)", "d_fake": "D(G(z))",
    "d_acc_real": "D acc. real", "d_acc_fake": "D acc. fake", "d_class_loss": "D class loss",
    "g_class_loss": "G class loss", "d_class_acc": "D class acc.", "code_loss": "code loss",
    "code_acc": "D code acc.", "wasserstein": "Wasserstein estimate",
    "gp": "gradient penalty", "images_per_sec": "images/s", "wall_time": "wall time (s)", "step": "step",
    "fd": "Fréchet distance", "classifier_score": "classifier score", "digit_entropy": "digit entropy",
    "rarest_share": "rarest digit share", "confidence": "confidence", "precision": "precision",
    "recall": "recall", "cond_acc": "conditional accuracy",
    "g_grad_norm": "G gradient norm", "d_grad_norm": "D gradient norm", "sample_spread": "grid spread",
}
# Eval columns where a lower value is better; higher is better for the rest.
LOWER_IS_BETTER = frozenset({"fd"})
EVAL_COLUMNS = ("fd", "classifier_score", "digit_entropy", "rarest_share", "confidence",
                "precision", "recall", "cond_acc")


def label(column: str) -> str:
    """Human name of a metrics column."""
    return LABELS.get(column, column.replace("_", " "))


def column(rows: Rows, name: str) -> list[float]:
    """One column as floats (NaN where a row lacks it)."""
    out = []
    for r in rows:
        v = r.get(name, math.nan)
        out.append(float(v) if isinstance(v, (int, float)) else math.nan)
    return out


def has_column(rows: Rows, name: str) -> bool:
    """True when at least one row has a finite value in this column."""
    return any(math.isfinite(v) for v in column(rows, name))


def smooth(values: Iterable[float], weight: float = 0.6) -> list[float]:
    """Exponential moving average, debiased (TensorBoard style); NaNs are carried over."""
    if not 0 <= weight < 1:
        raise ValueError("smoothing weight must be in [0, 1)")
    out, avg, n = [], 0.0, 0
    for v in values:
        if not math.isfinite(v):
            out.append(math.nan)
            continue
        n += 1
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight ** n))
    return out


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str = "", *, big: bool = False,
            height: int | None = None) -> go.Figure:
    size = 22 if big else 13
    fig.update_layout(
        title=dict(text=title, font=dict(size=size + 4)), font=dict(size=size),
        height=height or (520 if big else 330), margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
        hovermode="x unified", template="plotly_white",
    )
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return fig


def _empty(fig: go.Figure, text: str) -> go.Figure:
    fig.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                       font=dict(size=16, color="#888"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def curves_figure(rows: Rows, columns: Sequence[str], title: str, *, x: str = "step",
                  smoothing: float = 0.0, y_title: str = "", big: bool = False,
                  y_range: tuple[float, float] | None = None) -> go.Figure:
    """Some columns against ``x``; with smoothing > 0 the raw curve is drawn faint under the EMA."""
    fig = go.Figure()
    xs = column(rows, x)
    drawn = 0
    for i, name in enumerate(columns):
        ys = column(rows, name)
        if not any(math.isfinite(v) for v in ys):
            continue
        color = _color_for(name, i)
        if smoothing > 0:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"{label(name)} (raw)",
                                     line=dict(color=color, width=1), opacity=0.3, showlegend=False,
                                     hoverinfo="skip"))
            ys = smooth(ys, smoothing)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=label(name),
                                 line=dict(color=color, width=3 if big else 2)))
        drawn += 1
    _layout(fig, title, label(x), y_title, big=big)
    if y_range:
        fig.update_yaxes(range=list(y_range))
    if not drawn:
        _empty(fig, "no data yet")
    return fig


def _color_for(name: str, index: int) -> str:
    if name == "wasserstein":
        return COLORS["class"]
    if name.startswith(("d_class", "g_class", "code_")):
        return COLORS["class"]
    if name in ("d_real", "d_acc_real"):
        return COLORS["real"]
    if name in ("d_fake", "d_acc_fake"):
        return COLORS["fake"]
    if name.startswith("g_"):
        return COLORS["g"]
    if name.startswith("d_"):
        return COLORS["d"]
    return PALETTE[index % len(PALETTE)]


def loss_figure(rows: Rows, smoothing: float = 0.6, *, big: bool = False) -> go.Figure:
    """Discriminator and generator loss, raw (faint) and smoothed."""
    cols = [c for c in ("d_loss", "g_loss", "d_class_loss", "g_class_loss", "code_loss") if has_column(rows, c)]
    return curves_figure(rows, cols or ["d_loss", "g_loss"], "Losses", smoothing=smoothing,
                         y_title="loss", big=big)


def d_output_figure(rows: Rows, smoothing: float = 0.6, *, wasserstein: bool = False,
                    big: bool = False) -> go.Figure:
    """Mean D(x) on real images and D(G(z)) on fakes (critic scores for WGAN-GP)."""
    if wasserstein:
        cols = [c for c in ("d_real", "d_fake", "wasserstein") if has_column(rows, c)]
        fig = curves_figure(rows, cols or ["d_real", "d_fake"], "Critic scores", smoothing=smoothing,
                            y_title="score", big=big)
        for trace in fig.data:  # a critic's outputs are scores, not probabilities
            trace.name = trace.name.replace("D(G(z))", "critic on fakes").replace("D(x)", "critic on real")
        return fig
    return curves_figure(rows, ["d_real", "d_fake"], "D(x) and D(G(z))", smoothing=smoothing,
                         y_title="probability", big=big, y_range=(0, 1))


def accuracy_figure(rows: Rows, smoothing: float = 0.6, *, big: bool = False) -> go.Figure:
    """Discriminator accuracy on real and fake images (and class accuracy for AC-GAN, code accuracy
    for InfoGAN)."""
    cols = [c for c in ("d_acc_real", "d_acc_fake", "d_class_acc", "code_acc") if has_column(rows, c)]
    fig = curves_figure(rows, cols, "Discriminator accuracy", smoothing=smoothing,
                        y_title="accuracy", big=big, y_range=(0, 1.02))
    if not cols:
        fig.layout.annotations = ()
        _empty(fig, "no accuracies for this architecture")
    return fig


def penalty_figure(rows: Rows, smoothing: float = 0.6, *, big: bool = False) -> go.Figure:
    """WGAN-GP's gradient penalty."""
    return curves_figure(rows, ["gp"], "Gradient penalty", smoothing=smoothing, y_title="penalty", big=big)


def grad_norm_figure(rows: Rows, smoothing: float = 0.6, *, big: bool = False) -> go.Figure:
    """The size of each network's gradient, on a log scale (a collapse to near 0 is a vanished gradient)."""
    fig = curves_figure(rows, ["g_grad_norm", "d_grad_norm"], "Gradient norms", smoothing=smoothing,
                        y_title="global L2 norm", big=big)
    fig.update_yaxes(type="log", dtick=1)  # a label per power of ten
    return fig


def mark_alerts(fig: go.Figure, alerts: Iterable[tuple[int, str]], *, big: bool = False,
                labelled: bool = True) -> go.Figure:
    """A dashed vertical line at each (step, title): where a health alert started; ``labelled`` adds the title."""
    for step, title in alerts:
        note = dict(annotation=dict(text=f"⚠ {title}", font=dict(color=COLORS["fake"], size=16 if big else 11)),
                    annotation_position="top left") if labelled else {}
        fig.add_vline(x=step, line=dict(color=COLORS["fake"], dash="dash", width=2 if big else 1.5), **note)
    return fig


def training_figures(rows: Rows, smoothing: float = 0.6, *, big: bool = False,
                     alerts: Iterable[tuple[int, str]] = ()) -> list[go.Figure]:
    """The Monitor page's curves, chosen by which columns the run logs, with health alerts marked."""
    wgan = has_column(rows, "wasserstein") or has_column(rows, "gp")
    figs = [loss_figure(rows, smoothing, big=big), d_output_figure(rows, smoothing, wasserstein=wgan, big=big)]
    figs.append(penalty_figure(rows, smoothing, big=big) if wgan else accuracy_figure(rows, smoothing, big=big))
    if has_column(rows, "g_grad_norm"):
        figs.append(grad_norm_figure(rows, smoothing, big=big))
    alerts = list(alerts)
    for i, fig in enumerate(figs):  # the small figures get the lines only: their titles stay readable
        mark_alerts(fig, alerts, big=big, labelled=i == 0)
    return figs


def score_histogram_figure(real: Sequence[float], fake: Sequence[float], overlap: float, *,
                           critic: bool = False, big: bool = False) -> go.Figure:
    """D's scores on real and on generated images, overlaid on common bins."""
    what = "critic score" if critic else "D's logit (> 0: called real)"
    fig = go.Figure()
    for name, values, color in (("real images", real, COLORS["real"]), ("generated", fake, COLORS["fake"])):
        fig.add_trace(go.Histogram(x=list(values), name=name, marker_color=color, opacity=0.55, nbinsx=40,
                                   histnorm="probability"))
    fig.update_layout(barmode="overlay")
    _layout(fig, f"How D scores real and generated images (overlap {overlap:.0%})", what, "share", big=big)
    if not critic:
        fig.add_vline(x=0, line=dict(color="#888", dash="dot"))
    fig.update_layout(hovermode="closest")
    return fig


def eval_figure(rows: Rows, columns: Sequence[str] = EVAL_COLUMNS, *, big: bool = False) -> go.Figure:
    """Quality metrics over training, one small panel per metric."""
    from plotly.subplots import make_subplots

    cols = [c for c in columns if has_column(rows, c)]
    if not cols:
        return _empty(_layout(go.Figure(), "Quality metrics", "step", big=big), "no quality metrics yet")
    ncols = min(4, len(cols))
    nrows = -(-len(cols) // ncols)
    titles = [f"{label(c)} {'↓' if c in LOWER_IS_BETTER else '↑'}" for c in cols]
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=titles, vertical_spacing=0.25 / nrows + 0.1)
    xs = column(rows, "step")
    for i, c in enumerate(cols):
        fig.add_trace(go.Scatter(x=xs, y=column(rows, c), mode="lines+markers", name=label(c),
                                 line=dict(color=PALETTE[i % len(PALETTE)])),
                      row=i // ncols + 1, col=i % ncols + 1)
    _layout(fig, "Quality metrics over training (↓ lower is better, ↑ higher is better)", "", big=big,
            height=(300 if big else 230) * nrows + 90)
    fig.update_layout(showlegend=False, hovermode="closest", margin=dict(t=90))
    fig.update_annotations(font_size=20 if big else 13)
    return fig


def digit_histogram_figure(counts: Sequence[float], *, title: str = "Digit distribution",
                           reference: Sequence[float] | None = None, big: bool = False) -> go.Figure:
    """Share of samples per digit 0-9, with the uniform 10% line (and real data's shares as markers)."""
    counts = [float(c) for c in counts]
    total = sum(counts) or 1.0
    shares = [c / total for c in counts]
    fig = go.Figure(go.Bar(x=[str(d) for d in range(len(counts))], y=shares, name="generated",
                           marker_color=COLORS["d"], text=[f"{s:.0%}" for s in shares],
                           textposition="outside"))
    if reference is not None and sum(reference) > 0:
        ref = [float(r) / sum(reference) for r in reference]
        fig.add_trace(go.Scatter(x=[str(d) for d in range(len(ref))], y=ref, mode="markers", name="real data",
                                 marker=dict(symbol="line-ew-open", size=28, line=dict(width=3, color="#333"))))
        shares = shares + ref
    if counts:  # the share every digit would have in a perfectly balanced sample, as a legend entry
        u = 1 / len(counts)
        fig.add_trace(go.Scatter(x=[str(d) for d in range(len(counts))], y=[u] * len(counts), mode="lines",
                                 name=f"uniform ({u:.0%})", line=dict(dash="dot", color="#888", width=1.5)))
    _layout(fig, title, "digit", "share of samples", big=big)
    fig.update_yaxes(tickformat=".0%", range=[0, max(shares + [0.2]) * 1.2])
    fig.update_layout(hovermode="closest")
    return fig


def code_digit_figure(codes: Sequence[int], digits: Sequence[int], *, num_codes: int = 10,
                      big: bool = False) -> go.Figure:
    """InfoGAN: which digit each code draws. Row c holds the shares of code c's samples per
    predicted digit; two rows on one digit, or one row spread over several, are what keeps
    a digit rare."""
    m = [[0.0] * 10 for _ in range(num_codes)]
    for c, d in zip(codes, digits):
        m[int(c)][int(d)] += 1
    shares = [[v / (sum(row) or 1.0) for v in row] for row in m]
    text = [[f"{v:.0%}" if v >= 0.005 else "" for v in row] for row in shares]
    fig = go.Figure(go.Heatmap(
        z=shares, x=[str(d) for d in range(10)], y=[str(c) for c in range(num_codes)], zmin=0, zmax=1,
        colorscale="Blues", text=text, texttemplate="%{text}", colorbar=dict(title="share", tickformat=".0%"),
        hovertemplate="code %{y} → digit %{x}: %{z:.1%} of its samples<extra></extra>"))
    _layout(fig, "Which digit each code draws", "digit (evaluator)", "code", big=big, height=680 if big else 460)
    fig.update_yaxes(autorange="reversed", type="category", showgrid=False)
    fig.update_xaxes(type="category", showgrid=False)
    fig.update_layout(hovermode="closest")
    return fig


def eval_histogram(row: Mapping[str, float]) -> list[float]:
    """The hist_0..hist_9 columns of one eval row."""
    return [float(row.get(f"hist_{d}", 0.0) or 0.0) for d in range(10)]


def compare_figure(series: Mapping[str, Rows], column_name: str, *, x: str = "step",
                   smoothing: float = 0.6, big: bool = False) -> go.Figure:
    """One metric of several runs overlaid, against step or wall time."""
    fig = go.Figure()
    drawn = 0
    for i, (name, rows) in enumerate(series.items()):
        ys = column(rows, column_name)
        if not any(math.isfinite(v) for v in ys):
            continue
        if smoothing > 0:
            ys = smooth(ys, smoothing)
        fig.add_trace(go.Scatter(x=column(rows, x), y=ys, mode="lines", name=name,
                                 line=dict(color=PALETTE[i % len(PALETTE)], width=3 if big else 2)))
        drawn += 1
    _layout(fig, f"{label(column_name)} vs {label(x)}", label(x), label(column_name), big=big)
    if not drawn:
        _empty(fig, f"no run has {label(column_name)} yet")
    return fig


def best_index(values: Sequence[float], column_name: str) -> int | None:
    """Index of the best finite value of an eval column (lowest for fd, else highest)."""
    finite = [(v, i) for i, v in enumerate(values) if isinstance(v, (int, float)) and math.isfinite(v)]
    if not finite:
        return None
    pick = min if column_name in LOWER_IS_BETTER else max
    return pick(finite)[1]


def thin(rows: Rows, max_points: int = 4000) -> list[Mapping[str, float]]:
    """Every k-th row (always keeping the last) so long runs stay quick to draw."""
    rows = list(rows)
    if len(rows) <= max_points:
        return rows
    k = -(-len(rows) // max_points)
    out = rows[::k]
    if out[-1] is not rows[-1]:
        out.append(rows[-1])
    return out


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def band_figure(curves: Mapping[str, Mapping[str, Sequence[float]]], column_name: str, *,
                big: bool = False) -> go.Figure:
    """One metric against training time per variant: the median over seeds, with a min-max band."""
    fig = go.Figure()
    for i, (name, c) in enumerate(curves.items()):
        color = PALETTE[i % len(PALETTE)]
        if c.get("runs", 1) > 1:
            fig.add_trace(go.Scatter(x=list(c["t"]) + list(c["t"])[::-1], y=list(c["hi"]) + list(c["lo"])[::-1],
                                     fill="toself", fillcolor=_rgba(color, 0.18), line=dict(width=0),
                                     hoverinfo="skip", showlegend=False, name=f"{name} (min-max)"))
        fig.add_trace(go.Scatter(x=list(c["t"]), y=list(c["median"]), mode="lines", name=name,
                                 line=dict(color=color, width=3 if big else 2)))
    _layout(fig, f"{label(column_name)} against training time (median over seeds, band: min to max)",
            "training time (s)", label(column_name), big=big)
    ys = [y for c in curves.values() for y in (*c.get("lo", ()), *c.get("hi", ()), *c["median"])]
    if ys and column_name != "fd" and 0 <= min(ys) and max(ys) <= 1:
        fig.update_yaxes(range=[-0.02, 1.02])  # a score in [0, 1]: show all of it, so 0 does not look mid-scale
    if not curves:
        _empty(fig, f"no run has been evaluated for {label(column_name)} yet")
    return fig


def latent_map_figure(image, n: int, *, digits: Sequence[int] | None = None, big: bool = False) -> go.Figure:
    """A latent map (an n×n grid image) with one clickable point per cell, row by row; hovering a
    cell says its row, column and (with ``digits``) what the evaluator reads in it."""
    import numpy as np

    arr = np.asarray(image.convert("RGB"))
    cell = arr.shape[0] / n
    rows, cols = np.divmod(np.arange(n * n), n)
    text = [f"row {r + 1}, column {c + 1}" + (f": reads as {digits[i]}" if digits is not None else "")
            for i, (r, c) in enumerate(zip(rows, cols))]
    fig = go.Figure(go.Image(z=arr, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=(cols + 0.5) * cell, y=(rows + 0.5) * cell, mode="markers", text=text, showlegend=False,
                             hovertemplate="%{text}<extra></extra>", customdata=list(range(n * n)),
                             marker=dict(size=max(6.0, 600 / n), symbol="square", color="rgba(0,0,0,0.01)"),
                             selected=dict(marker=dict(color="rgba(255,200,0,0.35)")),
                             unselected=dict(marker=dict(opacity=1.0))))
    for d in sorted(set(digits or [])):  # the colour key, as legend entries
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"reads as {d}",
                                 marker=dict(size=12, symbol="square", color=PALETTE[d % len(PALETTE)])))
    side = 900 if big else 640  # presentation mode: as wide as the page allows, this tall
    fig.update_layout(width=None if big else side + (110 if digits else 0), height=side,
                      margin=dict(l=0, r=0, t=0, b=0),
                      showlegend=bool(digits),
                      dragmode=False, clickmode="event+select", plot_bgcolor="black")
    fig.update_xaxes(visible=False, range=[0, arr.shape[1]], constrain="domain")
    fig.update_yaxes(visible=False, range=[arr.shape[0], 0], scaleanchor="x")
    return fig


def training_map_figure(cloud, cloud_labels, field, points, *, moves=None, step: int = 0, moved_by: str = "",
                        said: Sequence[str] | None = None, labels: Sequence[int] | None = None, extent=None,
                        big: bool = False) -> go.Figure:
    """The training map (explore/training_map.py): D's verdict as a field (0 more fake, 1 more real), the real digits
    as a grey cloud, the generator's samples as orange dots (their index in ``customdata``; ``said``: what D says of
    each, for the hover), and arrows ``moves`` (from, to)."""
    fig = go.Figure()
    if field is not None:
        xs, ys, values = field
        fig.add_trace(go.Heatmap(
            x=xs, y=ys, z=values, zmin=0.0, zmax=1.0, opacity=0.55, hoverinfo="skip", zsmooth="best",
            colorscale=[[0.0, "#d62728"], [0.5, "#f7f7f7"], [1.0, "#1f77b4"]], name="D's verdict",
            colorbar=dict(title=dict(text="D finds it", side="top"), thickness=12, len=0.6,
                          tickvals=[0, 1], ticktext=["more fake", "more real"])))
    fig.add_trace(go.Scattergl(
        x=cloud[:, 0], y=cloud[:, 1], mode="markers", name="real digits",
        marker=dict(size=4, color="#555", opacity=0.28), text=[f"real {int(k)}" for k in cloud_labels],
        hovertemplate="%{text}<extra></extra>"))
    hover = [f"sample {i}" + (f" · digit {labels[i]}" if labels is not None else "")
             + (f" · {said[i]}" if said is not None else "") for i in range(len(points))]
    fig.add_trace(go.Scatter(
        x=points[:, 0], y=points[:, 1], mode="markers", name="generated samples", customdata=list(range(len(points))),
        marker=dict(size=11 if big else 8, color=COLORS["g"], line=dict(width=1, color="#222")),
        text=hover, hovertemplate="%{text}<extra></extra>"))
    if moves is not None:  # one trace of segments, each ending in an arrowhead (100 annotations take seconds); over
        # the dots, or late in training, when the moves are short, the dot they end on hides them
        start, end = (np.asarray(m, float) for m in moves)
        nan = np.full(len(start), np.nan)
        fig.add_trace(go.Scatter(
            x=np.stack([start[:, 0], end[:, 0], nan], 1).ravel(), y=np.stack([start[:, 1], end[:, 1], nan], 1).ravel(),
            mode="lines+markers", name="where each sample moves", hoverinfo="skip", opacity=0.8,
            line=dict(color="#444", width=1.3),
            marker=dict(symbol="arrow", angleref="previous", color="#444", size=np.tile([0, 9 if big else 7, 0],
                                                                                        len(start)))))
    title = f"Training map · step {step:,}" + (f" · arrows: {moved_by}" if moved_by else "")
    if big and moved_by:  # a projector's font: the arrows' note on a line of its own, or it runs off the figure
        title = f"Training map · step {step:,}<br><sup>arrows: {moved_by}</sup>"
    _layout(fig, title, "map axis 1", "map axis 2", big=big, height=640 if big else 520)
    fig.update_layout(hovermode="closest", clickmode="event+select", dragmode="pan",
                      margin=dict(b=60, t=95 if big and moved_by else 50),
                      legend=dict(orientation="h", yanchor="top", y=-0.1, xanchor="left", x=0.0))
    if extent is not None:  # the map's own box, with equal units on both axes
        fig.update_xaxes(range=extent[:2], constrain="domain", zeroline=False)
        fig.update_yaxes(range=extent[2:], scaleanchor="x", scaleratio=1, constrain="domain", zeroline=False)
    return fig


def _data_uri(image: np.ndarray, scale: int = 4) -> str:
    """A uint8 grey image as a PNG data URI, for a layout image."""
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    img = Image.fromarray(np.asarray(image, np.uint8))
    img.resize((img.width * scale, img.height * scale), Image.NEAREST).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _fmt(v: float, digits: int = 2) -> str:
    return f"{v:.{digits}f}" if isinstance(v, (int, float)) and math.isfinite(v) else "–"


def overview_figure(ov, *, z_cells: np.ndarray, alerts: Sequence[str] = (), big: bool = False) -> go.Figure:
    """Teach mode's diagram (explore/overview.py): noise z → G → G(z) → D → score above, a real digit x → D → score
    below, with the latest losses, gradient norms and D's batch means on the parts."""
    from gandash.explore.overview import said

    critic, fs = ov.critic, 20 if big else 14
    d_name = "critic" if critic else "discriminator"
    fig = go.Figure()
    boxes = {  # name: (x0, x1, y0, y1, fill, title)
        "z": (0.2, 1.8, 3.6, 5.4, "#f2f2f2", "noise z"),
        "g": (2.7, 4.3, 3.8, 5.2, _rgba(COLORS["g"], 0.25), "G · generator"),
        "fake": (5.1, 6.7, 3.6, 5.4, "#f2f2f2", "G(z): a generated digit"),
        "real": (5.1, 6.7, 0.6, 2.4, "#f2f2f2", "x: a real digit"),
        "d": (7.6, 9.2, 0.8, 5.2, _rgba(COLORS["d"], 0.25), f"D · {d_name}"),
    }
    for x0, x1, y0, y1, fill, title in boxes.values():
        fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, fillcolor=fill, line=dict(color="#555", width=1.5),
                      layer="below")
        fig.add_annotation(x=(x0 + x1) / 2, y=y1 + 0.05, text=f"<b>{title}</b>", showarrow=False, yanchor="bottom",
                           font=dict(size=fs))
    images = [("z", z_cells, 12)]
    if ov.fake is not None:
        images.append(("fake", ov.fake, 4))
    if ov.real is not None:
        images.append(("real", ov.real, 4))
    for name, image, scale in images:
        x0, x1, y0, y1, *_ = boxes[name]
        fig.add_layout_image(source=_data_uri(image, scale), xref="x", yref="y", x=x0 + 0.1, y=y1 - 0.1,
                             sizex=x1 - x0 - 0.2, sizey=y1 - y0 - 0.2, sizing="contain", layer="above")
    for (x0, y0), (x1, y1) in (((1.8, 4.5), (2.7, 4.5)), ((4.3, 4.5), (5.1, 4.5)), ((6.7, 4.5), (7.6, 4.5)),
                               ((6.7, 1.5), (7.6, 1.5)), ((9.2, 4.5), (9.7, 4.5)), ((9.2, 1.5), (9.7, 1.5))):
        fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", text="",
                           showarrow=True, arrowhead=2, arrowsize=1.4, arrowwidth=2, arrowcolor="#444")
    n = ov.numbers
    mean_word = "mean critic" if critic else "mean D"
    label = "" if ov.label is None else f" · and digit {ov.label}"
    texts = [
        (1.0, 3.45, f"{len(ov.z)} random numbers{label}".replace(" · ", "<br>")),
        (3.5, 3.65, f"G loss {_fmt(n.get('g_loss'))}<br>‖∇G‖ {_fmt(n.get('g_grad_norm'))}"),
        (8.4, 0.65, f"D loss {_fmt(n.get('d_loss'))}<br>‖∇D‖ {_fmt(n.get('d_grad_norm'))}"),
        (9.8, 4.5, f"<b>{said(ov.fake_score, critic)}</b><br>batch {mean_word}(G(z)) {_fmt(n.get('d_fake'))}"),
        (9.8, 1.5, f"<b>{said(ov.real_score, critic)}</b><br>batch {mean_word}(x) {_fmt(n.get('d_real'))}"),
    ]
    for x, y, text in texts:
        fig.add_annotation(x=x, y=y, text=text, showarrow=False, font=dict(size=fs), yanchor="top" if y < 4 else
                           "middle", align="left" if x > 9 else "center", xanchor="left" if x > 9 else "center")
    goal = ("D learns to score real digits high and G(z) low; G learns to make D score G(z) high." if not critic else
            "The critic learns to score real digits above G(z); G learns to raise G(z)'s score.")
    if alerts:
        goal += "<br><span style='color:#d62728'>Health: " + "; ".join(alerts) + "</span>"
    fig.add_annotation(x=6.0, y=-0.15, text=goal, showarrow=False, font=dict(size=fs - 1, color="#333"),
                       yanchor="top")
    fig.update_xaxes(range=[0, 12.6], visible=False, fixedrange=True)
    fig.update_yaxes(range=[-1.0 if alerts else -0.7, 6.0], visible=False, fixedrange=True)
    fig.update_layout(title=dict(text=f"How the GAN learns · step {ov.step:,}", font=dict(size=fs + 4)),
                      height=520 if big else 400, margin=dict(l=10, r=10, t=50, b=10), showlegend=False,
                      plot_bgcolor="white", paper_bgcolor="white")
    return fig
