"""Real failures, provoked on the CPU, raise the right health alert, and healthy preset runs raise none.
The trainer writes health.json as it trains; the CLI's ``runs`` and ``status`` print it."""
import pytest

from gandash.config import PRESETS, make_config
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


@pytest.mark.slow
def test_a_discriminator_learning_50_times_faster_wins(evaluated):
    run = trained(evaluated, architecture="dcgan", g_lr=2e-5, d_lr=1e-3, lr_end=1.0, augment=0.0, steps=800,
                  name="D at 50x G's rate")
    alerts = health.read(run)
    wins = [a for a in alerts if a.kind == "discriminator_wins"]
    assert wins and wins[0].step <= 600, alerts  # within a few hundred steps of the warm-up
    assert "Slow the discriminator down" in [r.label for r in wins[0].remedies]
    out = cli(evaluated.root, "runs").stdout
    assert "⚠ the discriminator is winning (from step" in out
    out = cli(evaluated.root, "status", run.id).stdout
    assert "⚠ The discriminator is winning" in out and "try: Slow the discriminator down: --set d_lr=0.00025" in out


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
@pytest.mark.parametrize("preset", list(PRESETS))
def test_healthy_preset_runs_raise_no_alert(evaluated, preset):
    steps = 200 if preset == "wgan-gp" else 700  # past the warm-up (300 steps); WGAN-GP takes 5 critic steps
    run = trained(evaluated, preset, steps=steps, lr_end=1.0, eval_every=steps // 2)
    assert health.read(run) == [], health.read(run)
    assert cli(evaluated.root, "status", run.id).stdout.strip().endswith("health: no alert")
