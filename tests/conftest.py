"""Shared fixtures: real MNIST from GANDASH_DATA_DIR, tiny configs, run stores in tmp_path."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("GANDASH_DATA_DIR", str(REPO.parent / "shared" / "data"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GANDASH_WARM_DASHBOARD", "0")  # page tests start no warm trainer unless they test it


@pytest.fixture
def store(tmp_path):
    from gandash.store.runs import RunStore

    return RunStore(tmp_path / "runs")


def tiny(cfg_or_preset="fast", **overrides):
    """A config that trains in seconds: few steps, small widths, frequent writes."""
    from gandash.config import make_config

    base = dict(steps=3, batch_size=16, log_every=1, sample_every=2, checkpoint_every=2,
                width=0.25, steps_per_execution=1, latent_code=False)  # plain models unless a test asks
    base.update(overrides)
    if cfg_or_preset == "fast":  # the default preset is conditional; the tests' plain model is its DCGAN
        base.setdefault("architecture", "dcgan")
    if isinstance(cfg_or_preset, str):
        return make_config(cfg_or_preset, base)
    return dataclasses.replace(cfg_or_preset, **base)


@pytest.fixture
def stand_in_trainer():
    """Start a lock-holding stand-in trainer on a run (tests/helpers/stand_in_trainer.py); returns
    its process once it holds the run. Killed at the end of the test if still alive."""
    import subprocess
    import sys
    import time

    procs = []

    def start(run):
        proc = subprocess.Popen([sys.executable, "-m", "tests.helpers.stand_in_trainer", str(run.dir)], cwd=REPO)
        procs.append(proc)
        deadline = time.time() + 30
        while run.trainer() is None or run.status().get("state") != "running":
            assert proc.poll() is None and time.time() < deadline, "stand-in trainer did not start"
            time.sleep(0.05)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.fixture
def fake_launch(monkeypatch):
    """launcher.start/stop/resume recorded instead of starting processes."""
    from gandash.backends import launcher

    calls = []

    def start(store, cfg, backend="local"):
        run = store.create(cfg)
        calls.append(("start", run.id, cfg, backend))
        return run

    monkeypatch.setattr(launcher, "start", start)
    monkeypatch.setattr(launcher, "stop", lambda run, wait=0.0: calls.append(("stop", run.id)) or "running")
    monkeypatch.setattr(launcher, "resume", lambda run, backend=None: calls.append(("resume", run.id)) or 1)
    return calls
