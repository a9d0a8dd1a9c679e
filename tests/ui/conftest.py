"""Fixtures of the page tests: real tiny trained runs for Explore, written runs for the rest."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from gandash.store.runs import RunStore
from tests.conftest import tiny
from tests.ui.apptest import written_run


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """Real 4-step DCGAN, AC-GAN, InfoGAN (DCGAN with a latent code) and WGAN-GP runs: generators and
    discriminators for Explore."""
    from gandash.engine.train import train

    store = RunStore(tmp_path_factory.mktemp("trained") / "runs")
    ids = {}
    for key, arch, code in (("dcgan", "dcgan", False), ("acgan", "acgan", False), ("infogan", "dcgan", True),
                            ("wgan", "wgan-gp", False)):
        run = store.create(tiny("fast", architecture=arch, latent_code=code, steps=4, d_steps=1, name=f"tiny {key}"))
        assert train(run, install_signal_handlers=False) == "finished"
        ids[key] = run.id
    return store, ids


@pytest.fixture
def runs(store):
    """A store with a finished run, a failed run and a run whose config.json is garbage."""
    ok = written_run(store, startup={"first grid": 0.5, "build": 0.5, "data": 0.5, "first steps": 1.5,
                                     "imports": 5.0, "process": 1.0})
    failed = written_run(store, "failed", steps=20, error="ValueError: boom in the data pipeline")
    broken = written_run(store)
    (store.root / broken / "config.json").write_text("{not json")
    return store, SimpleNamespace(ok=ok, failed=failed, broken=broken)
