"""Comparisons of a study's variants: a winner only when the data can tell, at the error rate stated."""
import math

import numpy as np
import pytest
from scipy import stats

from gandash.quality.metrics import fd_standard_error, feature_stats, kid
from gandash.studies import compare as C
from gandash.studies.study import verdict


def runs(fd, **other):
    """Run summaries with these FDs (and other columns, one value per run)."""
    return [{"fd": v, **{k: vals[i] for k, vals in other.items()}} for i, v in enumerate(fd)]


def test_a_large_difference_over_three_seeds_names_the_winner_with_its_figures():
    out = C.compare({"fast": runs([3.4, 3.5, 3.6]), "mlp": runs([40.8, 43.0, 46.7])})
    (fd,) = [c for c in out if c["metric"] == "fd"]
    assert fd["winner"] == "fast" and fd["p_holm"] < 0.01 and fd["test"] == C.WELCH
    assert fd["effect_size"] < -5 and fd["difference_ci"][1] < 0 < 50 + fd["difference_ci"][0]
    assert fd["seeds_needed"] is None and (fd["n_a"], fd["n_b"]) == (3, 3)
    assert verdict([], out).startswith("fast has the best FD (3.5), clearly ahead of mlp (Welch's t-test over seeds")


def test_overlapping_seeds_name_no_winner_and_say_how_many_seeds_would_tell():
    out = C.compare({"a": runs([3.4, 3.9, 3.5]), "b": runs([3.6, 3.3, 3.8])})
    (fd,) = out
    assert fd["winner"] is None and fd["p"] > 0.5
    assert fd["seeds_needed"] > 10
    assert verdict([], out).startswith("No clear difference in FD between b and a (3.57 against 3.6;")
    assert f"about {fd['seeds_needed']} seeds" in verdict([], out)


def test_the_verdict_groups_variants_the_data_cannot_tell_apart_and_says_if_they_lead():
    out = C.compare({"fast 10": runs([8.0, 9.4, 8.7]), "fast 20": runs([7.8, 8.9, 8.6]),
                     "mlp 10": runs([132.0, 150.0, 164.0]), "mlp 20": runs([149.0, 158.0, 161.0])})
    fd = {(c["a"], c["b"]): c["winner"] for c in out if c["metric"] == "fd"}
    assert fd[("fast 10", "fast 20")] is None and fd[("mlp 10", "mlp 20")] is None
    assert fd[("fast 10", "mlp 10")] == "fast 10" and fd[("fast 20", "mlp 20")] == "fast 20"
    assert verdict([], out) == ("No clear difference in FD between fast 20 and fast 10 (8.43 against 8.7; the "
                                f"spread seen would need about {C.seeds_needed([7.8, 8.9, 8.6], [8.0, 9.4, 8.7])} "
                                "seeds a variant to tell), both clearly ahead of every other variant.")


def test_holm_adjusts_over_the_pairs_of_one_metric():
    out = C.compare({"a": runs([1.0, 1.2, 1.1]), "b": runs([1.5, 1.4, 1.6]), "c": runs([1.1, 1.3, 1.2])})
    assert len(out) == 3 and all(c["p_holm"] >= c["p"] for c in out)
    ps = sorted(c["p"] for c in out)
    assert min(c["p_holm"] for c in out) == pytest.approx(min(1, 3 * ps[0]))


def test_one_seed_a_side_uses_the_sampling_error_and_without_it_decides_nothing():
    out = C.compare({"a": [{"fd": 3.0, "fd_se": 0.1}], "b": [{"fd": 5.0, "fd_se": 0.1}]})
    assert out[0]["winner"] == "a" and out[0]["test"] == C.Z_SAMPLING
    close = C.compare({"a": [{"fd": 3.0, "fd_se": 0.5}], "b": [{"fd": 3.2, "fd_se": 0.5}]})
    assert close[0]["winner"] is None
    blind = C.compare({"a": [{"fd": 3.0}], "b": [{"fd": 5.0}]})
    assert blind[0]["winner"] is None and math.isnan(blind[0]["p"])
    shares = C.compare({"a": [{"confidence": 0.95, "confidence_se": 0.005}], "b": [{"confidence": 0.90,
                                                                                    "confidence_se": 0.007}]})
    assert shares[0]["winner"] == "a" and shares[0]["test"] == C.Z_SAMPLING  # a share's binomial error counts too


def test_higher_is_better_where_it_should_be_and_unreached_times_count_the_whole_run():
    out = C.compare({"a": runs([9, 9.5, 9.2], confidence=[0.99, 0.98, 0.99], time_to_conf_bound=[12, 13, 12]),
                     "b": runs([9, 9.4, 9.3], confidence=[0.70, 0.72, 0.69], time_to_conf_bound=[40, 40, 40])})
    by = {c["metric"]: c for c in out}
    assert by["confidence"]["winner"] == "a" and by["time_to_conf"]["winner"] == "a"
    assert by["fd"]["winner"] is None


def test_a_a_comparisons_name_a_false_winner_at_about_the_stated_rate():
    """Many simulated studies of one preset against itself (3 seeds a side, FD spread as in real runs):
    FD names a winner in about 5 % of them, never far above."""
    rng = np.random.default_rng(0)
    wins = 0
    for _ in range(400):
        a, b = rng.normal(9.7, 2.4, 3), rng.normal(9.7, 2.4, 3)
        wins += C.compare({"x": runs(list(a)), "y": runs(list(b))})[0]["winner"] is not None
    assert 0.01 <= wins / 400 <= 0.09


def test_the_centre_is_the_mean_with_students_interval():
    mean, half = C.centre([3.0, 3.5, 4.0])
    lo, hi = stats.t.interval(0.95, 2, loc=3.5, scale=stats.sem([3.0, 3.5, 4.0]))
    assert mean == pytest.approx(3.5) and half == pytest.approx((hi - lo) / 2)
    assert C.centre([3.0], [0.2]) == (3.0, pytest.approx(0.392))
    assert math.isnan(C.centre([3.0])[1]) and math.isnan(C.centre([])[0])


def test_kid_is_unbiased_near_zero_and_grows_with_the_difference():
    rng = np.random.default_rng(1)
    real = rng.standard_normal((3000, 16))
    same, _ = kid(real, rng.standard_normal((1000, 16)))
    near, _ = kid(real, rng.standard_normal((1000, 16)) + 0.2)
    far, spread = kid(real, rng.standard_normal((1000, 16)) + 0.6)
    assert abs(same) < 0.01 < near < far and spread > 0


def test_fd_standard_error_shrinks_with_more_samples():
    rng = np.random.default_rng(2)
    mu, sigma = feature_stats(rng.standard_normal((4000, 8)))
    small = fd_standard_error(rng.standard_normal((200, 8)) + 0.3, mu, sigma)
    large = fd_standard_error(rng.standard_normal((3000, 8)) + 0.3, mu, sigma)
    assert 0 < large < small
