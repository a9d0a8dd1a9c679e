"""Restructuring guard: today's training code gives the losses and samples recorded before it was
restructured, for every algorithm and trick (see tests/helpers/step_reference.py)."""
import base64
import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(REPO, "tests", "data", "step_reference.json")
HELPER = os.path.join(REPO, "tests", "helpers", "step_reference.py")
SINGLE = ["mlp", "dcgan", "cgan", "acgan", "wgan-gp", "latent_code", "augment", "ema", "simultaneous"]


@pytest.fixture(scope="module")
def today():
    """Every case trained by today's code: the single-device cases in one process, mirrored in another."""
    out = {}
    for cases in (SINGLE, ["mirrored"]):
        proc = subprocess.run([sys.executable, HELPER, *cases, "--configs", REFERENCE], capture_output=True,
                              text=True, cwd=REPO, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def images(entry):
    return np.frombuffer(base64.b64decode(entry["images"]), np.uint8).astype(int)


@pytest.mark.parametrize("case", SINGLE + ["mirrored"])
def test_same_losses_and_samples_as_before(today, case):
    with open(REFERENCE) as f:
        before = json.load(f)[case]
    now = today[case]
    assert len(now["losses"]) == len(before["losses"]) == 4
    for row_now, row_before in zip(now["losses"], before["losses"]):
        assert set(row_now) == set(row_before)
        for key, value in row_before.items():
            assert row_now[key] == pytest.approx(value, rel=1e-4, abs=1e-5), (case, key)
    diff = np.abs(images(now) - images(before))
    assert diff.max() <= 2 and diff.mean() < 0.05, (case, diff.max(), diff.mean())
