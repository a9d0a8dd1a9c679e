"""The dashboard's figure builders: pure functions from metric rows to Plotly figures."""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from gandash.explore import plots


def gan_rows(n: int = 20) -> list[dict[str, float]]:
    return [{"step": 10.0 * (i + 1), "wall_time": 0.5 * (i + 1), "d_loss": 1.4 - 0.01 * i, "g_loss": 0.7 + 0.02 * i,
             "d_real": 0.6, "d_fake": 0.4, "d_acc_real": 0.8, "d_acc_fake": 0.7, "images_per_sec": 700.0}
            for i in range(n)]


def wgan_rows(n: int = 5) -> list[dict[str, float]]:
    return [{"step": float(i), "wall_time": float(i), "d_loss": -3.0, "g_loss": 1.0, "d_real": 2.0,
             "d_fake": -1.0, "wasserstein": 3.0, "gp": 0.1} for i in range(n)]


def names(fig: go.Figure) -> list[str]:
    return [t.name for t in fig.data]


def test_smooth_is_debiased_ema_and_keeps_nans():
    assert plots.smooth([2.0, 2.0, 2.0], 0.9) == pytest.approx([2.0, 2.0, 2.0])
    out = plots.smooth([1.0, math.nan, 3.0], 0.5)
    assert out[0] == 1.0 and math.isnan(out[1]) and 1.0 < out[2] < 3.0
    assert plots.smooth([1.0, 5.0], 0.0) == [1.0, 5.0]
    with pytest.raises(ValueError):
        plots.smooth([1.0], 1.0)


def test_loss_figure_raw_and_smoothed():
    fig = plots.loss_figure(gan_rows(), smoothing=0.6)
    assert isinstance(fig, go.Figure)
    assert names(fig) == ["D loss (raw)", "D loss", "G loss (raw)", "G loss"]
    raw, smoothed = fig.data[0], fig.data[1]
    assert list(raw.y) == [r["d_loss"] for r in gan_rows()] and raw.opacity < 1
    assert list(smoothed.x) == [r["step"] for r in gan_rows()]
    assert names(plots.loss_figure(gan_rows(), smoothing=0)) == ["D loss", "G loss"]


def test_acgan_losses_include_class_terms():
    rows = [dict(r, d_class_loss=0.5, g_class_loss=0.4, d_class_acc=0.9) for r in gan_rows()]
    assert "D class loss" in names(plots.loss_figure(rows, 0))
    assert "D class acc." in names(plots.accuracy_figure(rows, 0))


def test_infogan_code_loss_and_accuracy_are_drawn():
    rows = [dict(r, code_loss=0.3, code_acc=0.95) for r in gan_rows()]
    assert names(plots.loss_figure(rows, 0)) == ["D loss", "G loss", "code loss"]
    assert "D code acc." in names(plots.accuracy_figure(rows, 0))


def test_d_outputs_and_accuracy_have_probability_axes():
    fig = plots.d_output_figure(gan_rows(), 0)
    assert names(fig) == ["D(x)", "D(G(z))"] and tuple(fig.layout.yaxis.range) == (0, 1)
    acc = plots.accuracy_figure(gan_rows(), 0)
    assert names(acc) == ["D acc. real", "D acc. fake"]


def test_wgan_gets_critic_scores_and_penalty_instead_of_accuracy():
    figs = plots.training_figures(wgan_rows(), 0.5)
    assert figs[1].layout.title.text == "Critic scores"
    assert [n for n in names(figs[1]) if "raw" not in n] == ["critic on real", "critic on fakes",
                                                             "Wasserstein estimate"]
    assert figs[2].layout.title.text == "Gradient penalty"
    assert not any("acc" in n for f in figs for n in names(f))


def test_empty_rows_draw_a_note_not_an_error():
    for fig in plots.training_figures([], 0.6) + [plots.eval_figure([]), plots.compare_figure({}, "d_loss")]:
        assert isinstance(fig, go.Figure) and not fig.data
        assert fig.layout.annotations and "no" in fig.layout.annotations[0].text
    assert "no accuracies" in plots.accuracy_figure(wgan_rows(), 0).layout.annotations[0].text


def test_missing_and_nan_values_are_tolerated():
    rows = [{"step": 1.0, "d_loss": math.nan}, {"step": 2.0, "d_loss": 1.0}, {"step": 3.0}]
    fig = plots.loss_figure(rows, 0.6)
    assert names(fig) == ["D loss (raw)", "D loss"]
    assert all(math.isnan(v) for v in plots.column(rows, "g_loss"))


def test_eval_figure_one_panel_per_metric_with_direction():
    rows = [{"step": s, "fd": 30.0 - s, "classifier_score": 5.0 + s, "precision": 0.5} for s in (1.0, 2.0)]
    fig = plots.eval_figure(rows)
    assert len(fig.data) == 3
    titles = [a.text for a in fig.layout.annotations]
    assert "Fréchet distance ↓" in titles and "classifier score ↑" in titles


def test_digit_histogram_shares_and_uniform_line():
    fig = plots.digit_histogram_figure([10, 0, 0, 0, 0, 0, 0, 0, 0, 30])
    bar = fig.data[0]
    assert list(bar.x) == [str(d) for d in range(10)]
    assert bar.y[0] == pytest.approx(0.25) and bar.y[9] == pytest.approx(0.75)
    assert fig.data[1].name == "uniform (10%)" and fig.data[1].y[0] == pytest.approx(0.1)
    assert plots.eval_histogram({"hist_3": 0.5}) == [0, 0, 0, 0.5, 0, 0, 0, 0, 0, 0]
    with_ref = plots.digit_histogram_figure([1] * 10, reference=[0.2] + [0.8 / 9] * 9)
    assert [t.name for t in with_ref.data] == ["generated", "real data", "uniform (10%)"]
    assert with_ref.data[1].y[0] == pytest.approx(0.2)


def test_code_digit_heatmap_rows_are_each_codes_shares():
    codes = [0, 0, 0, 0, 1, 1, 2]
    digits = [7, 7, 7, 1, 3, 8, 3]
    fig = plots.code_digit_figure(codes, digits, num_codes=3)
    z = fig.data[0].z
    assert len(z) == 3 and all(len(row) == 10 for row in z)
    assert z[0][7] == pytest.approx(0.75) and z[0][1] == pytest.approx(0.25)
    assert z[1][3] == pytest.approx(0.5) and z[1][8] == pytest.approx(0.5) and z[2][3] == pytest.approx(1.0)
    assert fig.data[0].text[0][7] == "75%" and fig.data[0].text[0][0] == ""
    empty = plots.code_digit_figure([], [], num_codes=10)  # no samples: zeros, not a division error
    assert all(v == 0 for row in empty.data[0].z for v in row)


@pytest.mark.parametrize("x", ["step", "wall_time"])
def test_compare_overlays_runs_against_step_or_wall_time(x):
    series = {"dcgan": gan_rows(), "wgan": wgan_rows(), "empty": []}
    fig = plots.compare_figure(series, "d_loss", x=x, smoothing=0)
    assert names(fig) == ["dcgan", "wgan"]
    assert list(fig.data[0].x) == [r[x] for r in gan_rows()]
    assert fig.layout.xaxis.title.text == plots.label(x)


def test_best_index_lower_for_fd_higher_for_the_rest():
    assert plots.best_index([3.0, 1.0, math.nan], "fd") == 1
    assert plots.best_index([3.0, 1.0, math.nan], "classifier_score") == 0
    assert plots.best_index([math.nan], "fd") is None


def test_presentation_figures_have_bigger_fonts():
    assert plots.loss_figure(gan_rows(), big=True).layout.font.size > plots.loss_figure(gan_rows()).layout.font.size


def test_thin_keeps_the_last_row():
    rows = [{"step": float(i)} for i in range(10_001)]
    out = plots.thin(rows, 1000)
    assert len(out) <= 1001 and out[-1]["step"] == 10_000 and out[0]["step"] == 0
    assert plots.thin(rows[:5], 1000) == rows[:5]


def test_the_training_map_s_title_fits_a_projector():
    cloud, points = np.zeros((5, 2)), np.ones((3, 2))
    small = plots.training_map_figure(cloud, np.zeros(5), None, points, step=300, moved_by="to step 400 (100 later)")
    big = plots.training_map_figure(cloud, np.zeros(5), None, points, step=300, moved_by="to step 400 (100 later)",
                                    big=True)
    assert small.layout.title.text == "Training map · step 300 · arrows: to step 400 (100 later)"
    assert big.layout.title.text == "Training map · step 300<br><sup>arrows: to step 400 (100 later)</sup>"
    assert big.layout.margin.t > small.layout.margin.t  # room for its second line


def test_the_training_map_draws_its_arrows_over_the_dots_they_end_on():
    cloud, points = np.zeros((5, 2)), np.ones((3, 2))
    fig = plots.training_map_figure(cloud, np.zeros(5), None, points, moves=(points - 0.01, points), step=300)
    names = [t.name for t in fig.data]
    assert names.index("where each sample moves") > names.index("generated samples")  # late, short moves still show
    assert fig.data[names.index("where each sample moves")].hoverinfo == "skip"  # a click still picks the dot
