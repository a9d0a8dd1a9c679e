"""Quality metrics: the pure functions on known cases, the evaluator cache, the eval command.

The evaluator used here is trained on a slice of MNIST for one epoch (seconds,
about 96% test accuracy); the full recipe's accuracy is measured in bench/eval_speed.py.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from gandash.quality import metrics as M

REPO = Path(__file__).resolve().parent.parent
TINY = dict(epochs=1.0, max_examples=25_600)


# -- pure metric functions ---------------------------------------------------------------------
def one_hot(classes, num=10, p=1.0):
    out = np.full((len(classes), num), (1 - p) / (num - 1))
    out[np.arange(len(classes)), classes] = p
    return out


def test_frechet_identical_sets_is_zero_and_shift_is_squared_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 16)) @ rng.normal(size=(16, 16))
    stats = M.feature_stats(a)
    assert M.frechet_distance(*stats, *stats) == pytest.approx(0.0, abs=1e-6)
    shift = np.full(16, 0.5)
    mu, sigma = stats
    assert M.frechet_distance(mu, sigma, mu + shift, sigma) == pytest.approx(16 * 0.25, rel=1e-6)
    b = rng.normal(size=(2000, 16)) * 3.0  # a different spread: clearly apart
    assert M.frechet_distance(*stats, *M.feature_stats(b)) > 10


def test_frechet_with_fewer_samples_than_dimensions_is_finite():
    rng = np.random.default_rng(1)
    few, many = rng.normal(size=(20, 64)), rng.normal(size=(3000, 64))
    d = M.frechet_distance(*M.feature_stats(few), *M.feature_stats(many))
    assert np.isfinite(d) and d > 0


def test_one_repeated_digit_has_zero_entropy_and_rarest_share():
    out = M.label_metrics(one_hot(np.full(500, 3)))
    assert out["digit_entropy"] == 0.0
    assert out["rarest_share"] == 0.0
    assert out["hist_3"] == 1.0 and out["hist_0"] == 0.0
    assert out["classifier_score"] == pytest.approx(1.0)
    assert out["confidence"] == 1.0


def test_balanced_confident_digits_score_ten():
    out = M.label_metrics(one_hot(np.arange(1000) % 10, p=0.99))
    assert out["digit_entropy"] == pytest.approx(1.0)
    assert out["rarest_share"] == pytest.approx(0.1)
    assert 9.0 < out["classifier_score"] <= 10.0
    unsure = M.label_metrics(one_hot(np.arange(1000) % 10, p=0.5))
    assert unsure["confidence"] == 0.0 and unsure["classifier_score"] < out["classifier_score"]


def test_conditional_accuracy_per_digit():
    labels = np.array([0, 0, 1, 1, 2, 2])
    probs = one_hot(np.array([0, 0, 1, 7, 5, 5]))
    out = M.conditional_accuracy(probs, labels)
    assert out["cond_acc"] == pytest.approx(3 / 6)
    assert (out["cond_acc_0"], out["cond_acc_1"], out["cond_acc_2"]) == (1.0, 0.5, 0.0)
    assert np.isnan(out["cond_acc_9"])  # never asked for


def test_precision_recall_known_cases():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(600, 8)).astype(np.float32)
    assert M.precision_recall(real, real.copy()) == (1.0, 1.0)
    far = real + 100.0
    assert M.precision_recall(real, far) == (0.0, 0.0)
    # generated samples all in one corner of the real data: realistic but not covering it
    plane = rng.normal(size=(600, 2))
    corner = plane[plane[:, 0] > 1.0]
    precision, recall = M.precision_recall(plane, corner + rng.normal(scale=0.01, size=corner.shape))
    assert precision > 0.9 and recall < 0.4
    p, r = M.precision_recall(real, real[:3])  # too few generated points for their own manifold
    assert p == 1.0 and np.isnan(r)


# -- the evaluator -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def evaluator_root(tmp_path_factory):
    """A runs root holding the MNIST evaluator, installed from the shipped weights (shared by this module)."""
    from gandash.quality import evaluate

    root = tmp_path_factory.mktemp("runs")
    evaluate.ensure_evaluator("mnist", root)
    return root


@pytest.fixture
def fake_training(monkeypatch):
    """Replace training by an untrained network; counts how often it is asked for."""
    from gandash.quality import classifier, evaluator

    calls = []
    monkeypatch.setenv("GANDASH_EVALUATOR_SHIPPED", "0")  # these tests are of training one

    def fake(dataset, epochs=1, max_examples=None, on_progress=None, seed=0):
        calls.append(dataset)
        time.sleep(0.3)  # long enough for a second caller to arrive while the lock is held
        return classifier.build_classifier(), 0.5, 0.3

    monkeypatch.setattr(evaluator, "train_classifier", fake)
    return calls


def copy_root(src: Path, dst: Path) -> Path:
    shutil.copytree(src / "_evaluators", dst / "_evaluators", ignore=shutil.ignore_patterns("*.lock"))
    return dst


def test_evaluator_is_trained_once_and_reused(evaluator_root, fake_training):
    from gandash.quality import evaluate, evaluator

    status = evaluate.evaluator_status("mnist", evaluator_root)
    assert status["state"] == "ready" and status["accuracy"] > 0.9
    keras_file = evaluator_root / "_evaluators" / "mnist.keras"
    mtime = keras_file.stat().st_mtime_ns
    evaluator._models.clear()  # as in a fresh process: load from disk
    model = evaluate.ensure_evaluator("mnist", evaluator_root)
    assert model.output_shape == (None, 10)
    assert fake_training == [] and keras_file.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("damage", ["missing", "truncated", "bad json"])
def test_evaluator_rebuilt_when_missing_or_corrupt(evaluator_root, tmp_path, fake_training, damage):
    from gandash.quality import evaluate

    root = copy_root(evaluator_root, tmp_path)
    keras_file, json_file = root / "_evaluators" / "mnist.keras", root / "_evaluators" / "mnist.json"
    if damage == "missing":
        keras_file.unlink()
    elif damage == "truncated":
        keras_file.write_bytes(keras_file.read_bytes()[:5000])
    else:
        json_file.write_text('{"state": "ready", "accuracy": ')
    assert evaluate.evaluator_status("mnist", root)["state"] == "missing"
    evaluate.ensure_evaluator("mnist", root)
    assert fake_training == ["mnist"]
    status = evaluate.evaluator_status("mnist", root)
    assert status["state"] == "ready" and status["accuracy"] == 0.5
    assert json.loads(json_file.read_text())["sha256"]


def test_two_callers_train_once(tmp_path, fake_training):
    from gandash.quality import evaluate

    models = []
    threads = [threading.Thread(target=lambda: models.append(evaluate.ensure_evaluator("mnist", tmp_path)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake_training == ["mnist"] and len(models) == 2


def test_status_training_and_interrupted(tmp_path, monkeypatch):
    from gandash.quality import evaluate, evaluator

    monkeypatch.setenv("GANDASH_EVALUATOR_SHIPPED", "0")  # of an evaluator trained here
    with evaluator.training_lock("mnist", tmp_path, print):
        evaluator.write_info("mnist", tmp_path, state="training", progress=0.25, message="training step 5/20")
        status = evaluate.evaluator_status("mnist", tmp_path)
        assert (status["state"], status["progress"]) == ("training", 0.25)
    status = evaluate.evaluator_status("mnist", tmp_path)  # lock gone, json still says training
    assert status["state"] == "failed" and "before it finished" in status["error"]
    monkeypatch.delenv("GANDASH_EVALUATOR_SHIPPED")
    assert evaluate.evaluator_status("mnist", tmp_path)["state"] == "ready"  # the shipped one stands in
    with pytest.raises(evaluate.EvalError, match="mnist and fashion_mnist"):
        evaluate.evaluator_status("custom", tmp_path)


def test_real_test_images_score_like_the_reference(evaluator_root):
    from gandash.engine.data import load_builtin
    from gandash.quality import evaluate

    test = load_builtin("mnist", "test")
    ref = evaluate.reference_metrics("mnist", evaluator_root)
    got = evaluate.compute_metrics(test.images[5000:], "mnist", evaluator_root, labels=test.labels[5000:])
    assert got["confidence"] > 0.9 and got["digit_entropy"] > 0.99
    assert got["fd"] < 2.5 and got["precision"] > 0.8 and got["recall"] > 0.8  # real against real, 5,000 of them
    for key in ("confidence", "digit_entropy", "rarest_share", "cond_acc"):
        assert got[key] == pytest.approx(ref[key], abs=0.03), key
    # one repeated digit: the evaluator sees the collapse
    ones = test.images[test.labels == 1][:300]
    collapsed = evaluate.compute_metrics(ones, "mnist", evaluator_root)
    assert collapsed["rarest_share"] == 0.0 and collapsed["digit_entropy"] < 0.2
    assert collapsed["fd"] > 10 * got["fd"] and collapsed["recall"] < 0.3
    # KID (unbiased) near 0 for real digits, far from it for the collapse; FD's bootstrap error small; FD within
    # each digit small for real digits, and for 300 samples (under 1,000) not computed at all
    all_ones = evaluate.compute_metrics(test.images[test.labels == 1], "mnist", evaluator_root)  # 1,135 of them
    assert abs(got["kid"]) < 0.5 < 10 < all_ones["kid"] and got["kid_std"] > 0 and 0 < got["fd_se"] < 0.5 * got["fd"]
    assert got["fd_digit"] < 5 and all(got[f"fd_digit_{k}"] < 8 for k in range(10))
    assert "fd_digit" not in collapsed and "kid" not in collapsed and "confidence_se" not in collapsed
    # each share's sampling error: binomial over the samples scored (5,000 here)
    n = len(test.images[5000:])
    for key in ("confidence", "cond_acc", "precision", "recall"):
        assert got[f"{key}_se"] == pytest.approx(math.sqrt(got[key] * (1 - got[key]) / (n if key in (
            "confidence", "cond_acc") else min(n, evaluate.PR_SUBSET))), rel=1e-6), key
    sevens_as_ones = evaluate.compute_metrics(test.images[5000:7000], "mnist", evaluator_root,
                                              labels=np.where(test.labels[5000:7000] == 7, 1, test.labels[5000:7000]))
    assert sevens_as_ones["fd_digit_1"] > 3 * got["fd_digit_1"] and sevens_as_ones["fd_digit_7"] != sevens_as_ones[
        "fd_digit_7"]  # digit 1 now holds sevens; no sample is labelled 7 any more (NaN)
    assert abs(ref["kid"]) < 0.5 and ref["fd_digit"] < 5


def test_cas_is_high_for_real_digits_and_chance_for_wrong_labels():
    from gandash.engine.data import load_builtin
    from gandash.quality import evaluate

    train = load_builtin("mnist", "train")
    x, y = train.images[:2000], train.labels[:2000]
    assert evaluate.cas(x, y, "mnist") > 0.7  # 2,000 real digits, 2 epochs: about 0.8
    assert evaluate.cas(x, np.random.default_rng(0).permutation(y), "mnist") < 0.3
    with pytest.raises(evaluate.EvalError, match="at least 10 images"):
        evaluate.cas(x[:5], y[:5], "mnist")


def test_classify_resizes_larger_images(evaluator_root):
    from gandash.engine.data import load_builtin
    from gandash.quality import evaluate

    test = load_builtin("mnist", "test")
    x = test.images[:300]
    small = evaluate.classify(x, "mnist", evaluator_root)
    big = evaluate.classify(np.kron(x, np.ones((2, 2), np.uint8)), "mnist", evaluator_root)  # 56×56
    assert small.shape == big.shape == (300, 10)
    assert (small.argmax(1) == big.argmax(1)).mean() > 0.95
    assert evaluate.features(x[:5], "mnist", evaluator_root).shape == (5, 128)
    with pytest.raises(evaluate.EvalError, match="uint8"):
        evaluate.classify(x.astype(np.float32), "mnist", evaluator_root)


# -- runs ------------------------------------------------------------------------------------------
def gandash(*args, env_extra=None, check=True):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env_extra or {})}
    proc = subprocess.run([sys.executable, "-m", "gandash", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.fixture(scope="module")
def fixture_run(evaluator_root):
    """A 2-step DCGAN run in the runs root that holds the evaluator."""
    out = gandash("--runs-dir", str(evaluator_root), "train", "--set", "architecture=dcgan", "--set", "steps=2",
                  "--set", "batch_size=16",
                  "--set", "log_every=1", "--set", "checkpoint_every=1", "--set", "sample_every=1",
                  "--set", "width=0.25")
    from gandash.store.runs import RunStore

    return RunStore(evaluator_root).get(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_eval_command_prints_and_appends(fixture_run, evaluator_root):
    from gandash.quality.evaluate import EVAL_COLUMNS

    out = gandash("--runs-dir", str(evaluator_root), "eval", fixture_run.id, "--n", "200")
    assert "Fréchet distance" in out.stdout and "real data" in out.stdout
    header = fixture_run.eval_path.read_text().splitlines()[0].split(",")
    assert header == EVAL_COLUMNS and header[0] == "step"
    rows = fixture_run.eval_rows()
    assert rows[-1]["step"] == 2 and rows[-1]["n"] == 200
    assert 0 <= rows[-1]["confidence"] <= 1 and np.isfinite(rows[-1]["fd"]) and np.isnan(rows[-1]["cond_acc"])


def test_a_latent_code_model_is_scored_as_unconditional(evaluator_root):
    """InfoGAN codes are not digits: no per-digit accuracy, but every code is drawn."""
    from gandash.engine.models import build_networks
    from gandash.explore.sampling import sample
    from gandash.quality.evaluate import evaluate_generator
    from tests.conftest import tiny

    cfg = tiny(latent_code=True)
    generator, _ = build_networks(cfg)
    result = evaluate_generator(generator, cfg, evaluator_root, n=100)
    assert result["n"] == 100 and 0 <= result["confidence"] <= 1
    assert np.isnan(result.get("cond_acc", np.nan))
    _, codes = sample(generator, cfg, 20)
    assert sorted(set(codes.tolist())) == list(range(10))
    _, codes = sample(generator, cfg, 5, digit=3)
    assert codes.tolist() == [3] * 5


def test_eval_errors_are_one_line(fixture_run, evaluator_root, store, capsys):
    from gandash.__main__ import main
    from gandash.config import make_config

    for n in ("0", "100001"):
        assert main(["--runs-dir", str(evaluator_root), "eval", fixture_run.id, "--n", n]) == 2
        assert "n must be an integer from 1 to 100000" in capsys.readouterr().err
    empty = store.create(make_config("fast"))
    assert main(["--runs-dir", str(store.root), "eval", empty.id]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "no generator.keras yet" in err and "\n" not in err


def test_evaluate_in_training_appends_and_never_raises(fixture_run, tmp_path, monkeypatch, capsys):
    from gandash.explore.sampling import load_generator
    from gandash.quality import evaluate
    from gandash.store.runs import Run

    cfg = fixture_run.config()
    result = evaluate.evaluate_in_training(fixture_run, load_generator(fixture_run.generator_path), cfg, 7, n=100)
    assert result["step"] == 7 and fixture_run.eval_rows()[-1]["step"] == 7

    def broken(*a, **k):
        raise RuntimeError("boom")

    assert evaluate.evaluate_in_training(fixture_run, broken, cfg, 8, n=100) is None
    assert "evaluation failed: RuntimeError: boom" in capsys.readouterr().out

    # no evaluator yet, and none shipped: start one in the background (once) and skip, without waiting for it
    started = []
    monkeypatch.setattr(evaluate, "start_evaluator_training", lambda d, r: started.append(d) or 123)
    monkeypatch.setenv("GANDASH_EVALUATOR_SHIPPED", "0")
    run = Run(tmp_path / "runs" / "some-run")
    run.dir.mkdir(parents=True)
    # the health probe, which nobody asked for, starts nothing and says nothing
    assert evaluate.evaluate_in_training(run, broken, cfg, 5, quiet=True) is None
    assert started == [] and capsys.readouterr().out == ""
    for step in (10, 20):
        assert evaluate.evaluate_in_training(run, broken, cfg, step) is None
    assert started == ["mnist"] and not run.eval_path.exists()
    assert "no quality metrics yet" in capsys.readouterr().out
    # with the shipped one, the first evaluation of a fresh folder installs it and scores
    monkeypatch.delenv("GANDASH_EVALUATOR_SHIPPED")
    gen = load_generator(fixture_run.generator_path)
    assert evaluate.evaluate_in_training(run, gen, cfg, 30, n=100)["step"] == 30 and started == ["mnist"]


@pytest.mark.slow
def test_background_training_reports_progress_and_finishes(tmp_path, monkeypatch):
    from gandash.quality import evaluate

    monkeypatch.setenv("GANDASH_EVALUATOR_EPOCHS", "1")
    monkeypatch.setenv("GANDASH_EVALUATOR_MAX_EXAMPLES", "640")
    pid = evaluate.start_evaluator_training("mnist", tmp_path)
    assert pid > 0 and evaluate.start_evaluator_training("mnist", tmp_path) == pid  # not twice
    assert evaluate.evaluator_status("mnist", tmp_path)["state"] == "training"
    deadline = time.time() + 240
    while evaluate.evaluator_status("mnist", tmp_path)["state"] == "training" and time.time() < deadline:
        time.sleep(0.5)
    log = (tmp_path / "_evaluators" / "mnist.log").read_text()
    status = evaluate.evaluator_status("mnist", tmp_path)
    assert status["state"] == "ready", log[-2000:]
    assert "evaluator ready" in log
    info = json.loads((tmp_path / "_evaluators" / "mnist.json").read_text())
    assert info["reference_sha256"] == info["sha256"]
    assert set(evaluate.SCALAR_KEYS) <= set(info["reference"]) and 0 <= info["reference"]["confidence"] <= 1


@pytest.mark.parametrize("dataset,bar", [("mnist", 0.99), ("fashion_mnist", 0.90)])
def test_the_shipped_evaluator_is_ready_at_once_and_scores_what_it_says(tmp_path, dataset, bar):
    """A fresh runs folder needs no training: the shipped weights (under 1 MB) are installed on first use."""
    from gandash.engine.data import load_builtin
    from gandash.quality import evaluate, shipped

    assert shipped.path(dataset).stat().st_size < 1 << 20
    status = evaluate.evaluator_status(dataset, tmp_path)
    assert status["state"] == "ready" and status["shipped"] and status["accuracy"] >= bar
    model = evaluate.ensure_evaluator(dataset, tmp_path)
    info = json.loads((tmp_path / "_evaluators" / f"{dataset}.json").read_text())
    assert info["source"] == "shipped" and info["state"] == "ready" and info["sha256"]
    test = load_builtin(dataset, "test")
    accuracy = (model.predict(test.images[..., None].astype("float32"), verbose=0).argmax(1) == test.labels).mean()
    assert accuracy == pytest.approx(status["accuracy"], abs=1e-3) and accuracy >= bar


def test_asking_for_a_trained_evaluator_never_installs_the_shipped_one(tmp_path, monkeypatch):
    from gandash.quality import evaluate, evaluator

    monkeypatch.setenv("GANDASH_EVALUATOR_EPOCHS", "0.01")
    assert evaluate.evaluator_status("mnist", tmp_path)["state"] == "missing"
    assert evaluator.load_cached("mnist", tmp_path) is None
    monkeypatch.delenv("GANDASH_EVALUATOR_EPOCHS")
    with evaluator.training_lock("mnist", tmp_path, print):  # another process is busy with it: never wait here
        assert evaluator.load_cached("mnist", tmp_path) is None
    assert evaluator.load_cached("mnist", tmp_path) is not None
