"""Shared fixtures: real MNIST from GANDASH_DATA_DIR, tiny configs, run stores in tmp_path."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("GANDASH_DATA_DIR", str(REPO.parent / "shared" / "data"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture
def store(tmp_path):
    from gandash.runs import RunStore

    return RunStore(tmp_path / "runs")


def tiny(cfg_or_preset="fast", **overrides):
    """A config that trains in seconds: few steps, small widths, frequent writes."""
    from gandash.config import make_config

    base = dict(steps=3, batch_size=16, log_every=1, sample_every=2, checkpoint_every=2,
                width=0.25, steps_per_execution=1, latent_code=False)  # plain models unless a test asks
    base.update(overrides)
    if isinstance(cfg_or_preset, str):
        return make_config(cfg_or_preset, base)
    return dataclasses.replace(cfg_or_preset, **base)
