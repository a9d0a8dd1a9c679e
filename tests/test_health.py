"""Health diagnoses: synthetic metric series trigger each alert, healthy ones none; remedies and health.json."""
import dataclasses
import math

import numpy as np
import pytest

from gandash.config import make_config
from gandash.quality import health
from gandash.store.runs import RunStore

STEPS = np.arange(10, 3001, 10)
EVAL_STEPS = np.arange(300, 3001, 300)


def healthy_rows(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in STEPS:
        rows.append({"step": float(s), "d_loss": 1.1 + 0.1 * rng.standard_normal(),
                     "g_loss": 1.3 + 0.15 * rng.standard_normal(),
                     "d_acc_fake": float(np.clip(0.8 + 0.05 * rng.standard_normal(), 0, 1)),
                     "g_grad_norm": 2.0 * math.exp(0.2 * rng.standard_normal()),
                     "sample_spread": 0.01 if s < 100 else 0.25 + 0.01 * rng.standard_normal()})
    return rows


def healthy_evals():
    out = []
    for i, s in enumerate(EVAL_STEPS):
        row = {"step": float(s), "fd": 100.0 * 0.8 ** i, "confidence": 0.5 + 0.04 * i, "digit_entropy": 0.99,
               "recall": 0.2 + 0.03 * i, "precision": 0.8}
        row.update({f"hist_{k}": 0.1 for k in range(10)})
        out.append(row)
    return out


def kinds(rows, evals, cfg=None):
    return [a.kind for a in health.diagnose(rows, evals, cfg or make_config("fast"))]


def set_from(rows, start, key, fn):
    for r in rows:
        if r["step"] >= start:
            r[key] = fn(r["step"])
    return rows


def test_healthy_series_raise_no_alert():
    for seed in range(5):
        assert kinds(healthy_rows(seed), healthy_evals()) == []
        assert kinds(healthy_rows(seed), healthy_evals(), make_config("wgan-gp")) == []


def test_the_discriminator_winning_while_g_loss_climbs():
    rows = set_from(healthy_rows(), 1000, "d_acc_fake", lambda s: 0.997)
    rows = set_from(rows, 1000, "g_loss", lambda s: 1.3 + (s - 1000) / 300)
    alerts = health.diagnose(rows, healthy_evals(), make_config("fast"))
    assert [a.kind for a in alerts] == ["discriminator_wins"]
    assert alerts[0].step == 1000 and alerts[0].ongoing
    assert "99.7%" in alerts[0].message
    # D far ahead for a moment only, or while G's loss stays put, is not an alert
    brief = set_from(healthy_rows(), 1000, "d_acc_fake", lambda s: 0.997 if s < 1200 else 0.8)
    assert kinds(set_from(brief, 1000, "g_loss", lambda s: 1.3 + (s - 1000) / 100), []) == []
    assert kinds(set_from(healthy_rows(), 1000, "d_acc_fake", lambda s: 0.997), []) == []


def test_a_vanishing_generator_gradient():
    rows = set_from(healthy_rows(), 1500, "g_grad_norm", lambda s: 0.004)
    alerts = health.diagnose(rows, [], make_config("fast"))
    assert [a.kind for a in alerts] == ["vanishing_gradient"] and alerts[0].step == 1500
    assert kinds(set_from(healthy_rows(), 1500, "g_grad_norm", lambda s: 0.5), []) == []  # smaller, not gone
    early = health.diagnose(set_from(healthy_rows(), 50, "g_grad_norm", lambda s: 0.004), [], make_config("fast"))
    assert [(a.kind, a.step) for a in early] == [("vanishing_gradient", 300)]  # gone early: judged after warm-up


def test_losses_swinging_with_growing_amplitude():
    rows = set_from(healthy_rows(), 1000, "g_loss", lambda s: 1.3 + 0.1 * 1.004 ** (s - 1000) * math.sin(s / 15))
    alerts = health.diagnose(rows, [], make_config("fast"))
    assert [a.kind for a in alerts] == ["oscillation"] and alerts[0].step >= 1000
    steady = set_from(healthy_rows(), 1000, "g_loss", lambda s: 1.3 + 0.3 * math.sin(s / 15))  # wide, not growing
    assert kinds(steady, []) == []


@pytest.mark.parametrize("change", ["top_share", "entropy", "recall", "spread"])
def test_each_sign_of_mode_collapse(change):
    rows, evals = healthy_rows(), healthy_evals()
    late = [e for e in evals if e["step"] >= 1500]
    if change == "top_share":
        for e in late:
            e.update({f"hist_{k}": 0.5 / 9 for k in range(10)}, hist_7=0.5)
    elif change == "entropy":
        for e in late:
            e["digit_entropy"] = 0.75
    elif change == "recall":
        for e in evals:
            e["recall"] = 0.45 if e["step"] < 1500 else 0.15
    else:
        set_from(rows, 1500, "sample_spread", lambda s: 0.03)
    alerts = health.diagnose(rows, evals, make_config("fast"))
    assert [a.kind for a in alerts] == ["mode_collapse"]
    assert alerts[0].step == 1500 and alerts[0].ongoing
    if change == "top_share":
        assert "(7) made up 50%" in alerts[0].message


def test_collapse_is_not_judged_before_the_digits_are_readable():
    evals = healthy_evals()
    for e in evals:
        e.update(confidence=0.1, precision=0.1, hist_3=0.9)  # junk: unreadable, unrealistic, all "3"
    assert kinds(healthy_rows(), evals) == []


def test_no_progress_only_while_fd_is_still_poor():
    evals = healthy_evals()
    for e in evals:
        e["fd"] = max(90.0, e["fd"])  # flat at 90 from step 900
    alerts = health.diagnose(healthy_rows(), evals, make_config("fast"))
    assert [a.kind for a in alerts] == ["no_progress"]
    for e in evals:
        e["fd"] = max(4.0, 100.0 * 0.5 ** (e["step"] / 300))  # converged at a good FD: fine
    assert kinds(healthy_rows(), evals) == []


def test_remedies_change_real_settings_and_give_valid_configs():
    cfg = make_config("fast")
    fixes = health.remedies("discriminator_wins", cfg)
    labels = [r.label for r in fixes]
    assert "Slow the discriminator down" in labels
    assert "One-sided label smoothing" not in labels  # fast already aims at 0.9
    assert fixes[0].changes == {"d_lr": pytest.approx(cfg.d_lr / 4)}
    for kind in health.KINDS:
        for preset in ("fast", "wgan-gp", "mlp-classic"):
            base = make_config(preset)
            for r in health.remedies(kind, base):
                assert r.changes and all(getattr(base, k) != v for k, v in r.changes.items())
                health.validate(dataclasses.replace(base, **r.changes))
    assert all("real_label" not in r.changes for r in health.remedies("vanishing_gradient", make_config("wgan-gp")))


def test_health_json_round_trip_and_divergence_from_the_status(tmp_path):
    store = RunStore(tmp_path)
    run = store.create(make_config("fast"))
    assert health.read(run) == []
    rows = set_from(healthy_rows(), 1500, "g_grad_norm", lambda s: 0.004)
    written = health.check(run, run.config(), rows, 3000)
    assert health.read(run) == written and written[0].remedies
    run.write_status(state="diverged", error="d_loss became NaN/inf at step 3000", step=3000)
    alerts = health.read(run)
    assert [a.kind for a in alerts] == ["vanishing_gradient", "divergence"]
    assert "NaN" in alerts[1].message and alerts[1].remedies
    assert "vanished (from step 1,500)" in health.summary(alerts)
    run.health_path.write_text("{not json")
    assert [a.kind for a in health.read(run)] == ["damaged", "divergence"]  # said in one line; nothing else lost


def test_a_one_evaluation_dip_in_variety_is_not_collapse_but_two_in_a_row_are():
    def ev(step, entropy):
        return {"step": step, "digit_entropy": entropy, "confidence": 0.9, "precision": 0.9,
                **{f"hist_{k}": 0.1 for k in range(10)}}

    dip = [ev(350, 0.94), ev(700, 0.77)]  # dcgan-keras, healthy, once in CI
    assert health.mode_collapse([], dip) is None
    assert health.mode_collapse([], [*dip, ev(1050, 0.93)]) is None
    found = health.mode_collapse([], [*dip, ev(1050, 0.70)])
    assert found is not None and "From step 700" in found["message"] and "0.94 → 0.70" in found["message"]


def with_scores(rows, real=0.62, fake=0.38, seed=0):
    """D's mean scores of real and generated images on each row, with a little noise."""
    rng = np.random.default_rng(seed)
    for r in rows:
        r["d_real"] = float(np.clip(real + 0.03 * rng.standard_normal(), 0, 1))
        r["d_fake"] = float(np.clip(fake + 0.03 * rng.standard_normal(), 0, 1))
    return rows


def test_a_discriminator_steadily_sure_of_the_fakes_wins_even_while_g_loss_holds():
    assert kinds(with_scores(healthy_rows()), healthy_evals()) == []
    rows = set_from(with_scores(healthy_rows()), 1000, "d_fake", lambda s: 0.1)
    rows = set_from(rows, 1000, "d_acc_fake", lambda s: 0.93)  # not the 99 % the first rule waits for
    alerts = health.diagnose(rows, healthy_evals(), make_config("fast"))
    assert [a.kind for a in alerts] == ["discriminator_wins"]
    assert 1000 < alerts[0].step <= 1400 and "0.10 on average" in alerts[0].message and "93%" in alerts[0].message
    # as sure of the fakes for a seventh of the window: D ahead for a moment
    brief = set_from(with_scores(healthy_rows()), 1000, "d_fake", lambda s: 0.1 if s < 1060 else 0.38)
    assert kinds(set_from(brief, 1000, "d_acc_fake", lambda s: 0.93 if s < 1060 else 0.8), healthy_evals()) == []
    # real images scored far above generated ones, steadily: D is winning too
    apart = set_from(with_scores(healthy_rows()), 1000, "d_real", lambda s: 0.8)
    apart = set_from(apart, 1000, "d_fake", lambda s: 0.3)
    assert kinds(apart, healthy_evals()) == ["discriminator_wins"]
    assert kinds(rows, healthy_evals(), make_config("wgan-gp")) == []  # a critic's scores are not probabilities


def test_a_discriminator_at_chance_is_an_alert_only_while_the_images_are_poor():
    rows = set_from(with_scores(healthy_rows()), 1000, "d_real", lambda s: 0.51)
    rows = set_from(rows, 1000, "d_fake", lambda s: 0.48)
    poor = [{**e, "confidence": 0.2} for e in healthy_evals()]
    alerts = health.diagnose(rows, poor, make_config("fast"))
    assert [a.kind for a in alerts] == ["d_at_chance"] and 1000 < alerts[0].step <= 1400
    assert "only 20% of the samples" in alerts[0].message
    assert "Lower D's learning rate" in [r.label for r in alerts[0].remedies]
    assert kinds(rows, healthy_evals()) == []  # a generator good enough to fool D: no alert
    assert kinds(rows, []) == []  # nothing judged the images: no alert


def test_a_plateau_after_good_progress_must_last_before_it_is_no_progress():
    falling = [{"step": float(s), "n": 2000.0, "fd": 256.0 * 0.8 ** (s / 250)} for s in range(250, 1500, 250)]

    def flat(end):
        return [{"step": float(s), "n": 2000.0, "fd": 88.0 + (s % 500) / 100} for s in range(1500, end + 1, 250)]

    assert kinds([], falling + flat(2500)) == []  # a 2-minute mlp-classic: FD 205 to 84, then about 1,000 flat steps
    assert kinds([], falling + flat(6000)) == ["no_progress"]  # flat over the last 3,000 steps


def test_no_progress_compares_evaluations_of_one_sample_count():
    flat = [{"step": float(s), "n": 300.0, "fd": 80.0 + (s % 500) / 100} for s in range(250, 2001, 250)]
    assert kinds([], flat) == ["no_progress"]
    # a last evaluation of more samples reads a lower FD: that is not progress, and not compared
    assert kinds([], flat + [{"step": 2000.0, "n": 2000.0, "fd": 40.0}]) == ["no_progress"]
