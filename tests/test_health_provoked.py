"""Real failures, provoked on the CPU, raise the right health alert, and healthy preset runs raise none.
The trainer writes health.json as it trains; the CLI's ``runs`` and ``status`` print it."""
import gzip
import json
from pathlib import Path

import pytest

from gandash.config import PRESETS, config_from_dict, make_config
from gandash.engine.train import train
from gandash.quality import health
from gandash.store.runs import RunStore
from tests.test_cli import cli


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A runs folder with a small MNIST evaluator, for the in-training evaluations."""
    from gandash.quality import evaluate
    from tests.test_evaluate import TINY

    root = tmp_path_factory.mktemp("runs")
    evaluate.ensure_evaluator("mnist", root, **TINY)
    return RunStore(root)


def trained(store, preset="fast", **overrides):
    run = store.create(make_config(preset, overrides))
    assert train(run, install_signal_handlers=False) == "finished"
    return run


def check_a_discriminator_at_50_times_gs_rate_wins(store, run) -> None:
    """The alert of a DCGAN whose D learns 50× as fast as G (d_lr 1e-3, g_lr 2e-5, 800 steps; tests/test_browser.py
    trains it and then shows it on the pages), in health.json and from the CLI."""
    alerts = health.read(run)
    wins = [a for a in alerts if a.kind == "discriminator_wins"]
    assert wins and wins[0].step <= 600, alerts  # within a few hundred steps of the warm-up
    assert "Slow the discriminator down" in [r.label for r in wins[0].remedies]
    out = cli(store.root, "runs").stdout
    assert "⚠ the discriminator is winning (from step" in out
    out = cli(store.root, "status", run.id).stdout
    assert "⚠ The discriminator is winning" in out and "try: Slow the discriminator down: --set d_lr=0.00025" in out
    hit, provoked, false, healthy = health.CALIBRATION["discriminator_wins"]  # how sure, from the calibration set
    assert f"flagged {hit} of {provoked} runs provoked to fail this way, and fired on {false} of {healthy}" in out


@pytest.mark.slow
def test_a_generator_held_to_two_latent_values_collapses(evaluated):
    # a 1-d latent on the sphere is just {-1, +1}: two images at most, whatever the noise
    run = trained(evaluated, architecture="dcgan", latent_dim=1, latent_dist="sphere", steps=900, eval_every=150,
                  name="two latent values")
    kinds = [a.kind for a in health.read(run)]
    assert "mode_collapse" in kinds, kinds
    fix = [a for a in health.read(run) if a.kind == "mode_collapse"][0].remedies[0]
    assert fix.changes == {"latent_dim": 64, "latent_dist": "normal"}


@pytest.mark.slow
def test_a_healthy_default_run_raises_no_alert_and_its_probe_judges_the_images(evaluated):
    run = trained(evaluated, steps=700, lr_end=1.0)  # past the warm-up (300 steps); no evaluation asked for
    assert health.read(run) == [], health.read(run)
    assert cli(evaluated.root, "status", run.id).stdout.strip().endswith("health: no alert")
    probes = run.eval_rows()  # the health probe looked at the images, with few samples, nobody asking
    assert [(e["step"], e["n"]) for e in probes] == [(250, 300), (500, 300)]
    asked = trained(evaluated, steps=300, eval_every=150, eval_samples=100, lr_end=1.0)
    assert [(e["step"], e["n"]) for e in asked.eval_rows()] == [(150, 100), (300, 2000)]  # no probe beside them


RECORDED = sorted((Path(__file__).parent / "data" / "health").glob("*.json.gz"))
HEALTHY = [p for p in RECORDED if "-healthy-" in p.name]


def recorded(path):
    with gzip.open(path, "rt") as f:
        return json.load(f)


def diagnosed(run):
    return health.diagnose(run["rows"], run["evals"], config_from_dict(run["config"]))


@pytest.mark.parametrize("path", HEALTHY, ids=[p.name.removesuffix(".json.gz") for p in HEALTHY])
def test_recorded_healthy_runs_of_every_preset_raise_no_alert(path):
    """Runs of the calibration set (bench/health_set.py), trained on this CPU and kept as their metrics."""
    assert diagnosed(recorded(path)) == [], [a.message for a in diagnosed(recorded(path))]


def test_recorded_failures_provoked_on_every_family_are_flagged_within_1000_steps_of_the_warm_up():
    failures = [recorded(p) for p in RECORDED if p not in HEALTHY]
    deadline = health.limit("warmup_steps") + 1000
    missed = [r["name"] for r in failures if not any(a.step <= deadline for a in diagnosed(r))]
    assert len(failures) >= 25 and len(missed) <= 0.1 * len(failures), missed
    expected = [r for r in failures if any(a.kind == r["expected"] for a in diagnosed(r))]
    assert len(expected) >= 0.75 * len(failures)  # mostly the alert of the failure provoked, not only some alert


def test_the_recorded_set_covers_every_preset_and_every_failure():
    runs = [recorded(p) for p in RECORDED]
    presets_seen = {r["name"].split("/")[0] for r in runs if r["label"] == "healthy"}
    assert presets_seen == set(PRESETS)
    assert {r["label"] for r in runs} >= {"healthy", "d_dominates", "d_at_chance", "mode_collapse", "vanishing"}
    from bench.health_set import FAMILIES

    assert {r["name"].split("/")[0] for r in runs if r["label"] != "healthy"} == set(FAMILIES)  # a failure on each
