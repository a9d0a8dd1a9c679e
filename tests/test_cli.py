"""The command line: detached training, kill -9 and resume, sampling, one-line errors."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from gandash.config import make_config
from gandash.store.runs import RunStore

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--set", "batch_size=16", "--set", "width=0.25", "--set", "steps_per_execution=1"]


def cli(runs_dir, *args, check=True, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "gandash", "--runs-dir", str(runs_dir), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


def wait_for(run, pred, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = run.status()
        if pred(st):
            return st
        time.sleep(0.2)
    raise AssertionError(f"timed out; status {run.status()} log:\n{run.log_tail()}")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Finished plain, conditional and latent-code runs, shared by the sampling tests: the settings `train --set`
    would give them, trained in this process (one TensorFlow start; `train` as a process is tested on its own)."""
    from gandash.cli import parse_overrides
    from gandash.config import make_config
    from gandash.engine.train import train

    store = RunStore(tmp_path_factory.mktemp("runs"))
    ids = {}
    for key, arch, code in (("dcgan", "dcgan", "false"), ("cgan", "cgan", "false"), ("infogan", "dcgan", "true")):
        sets = parse_overrides([f"architecture={arch}", f"latent_code={code}", "steps=2", "log_every=1",
                                "checkpoint_every=1", *TINY[1::2]])
        run = store.create(make_config("fast", sets))
        assert train(run, install_signal_handlers=False, queued=False) == "finished"
        ids[key] = run.id
    return store.root, ids


def test_kill_9_then_resume_loses_and_repeats_no_rows(tmp_path):
    out = cli(tmp_path, "train", "--detach", "--set", "steps=60", "--set", "log_every=5",
              "--set", "checkpoint_every=10", "--set", "sample_every=10", *TINY)
    run_id = out.stdout.strip()
    run = RunStore(tmp_path).get(run_id)
    st = wait_for(run, lambda s: s.get("step", 0) >= 25 and s.get("state") == "running")
    os.kill(st["pid"], signal.SIGKILL)
    st = wait_for(run, lambda s: s["state"] != "running", timeout=30)
    assert st["state"] == "lost" and st.get("lost")
    assert "lost" in cli(tmp_path, "runs").stdout
    cli(tmp_path, "resume", run_id)
    wait_for(run, lambda s: s["state"] == "finished")
    steps = [int(r["step"]) for r in run.metrics()]
    assert steps == list(range(5, 65, 5))
    import keras
    keras.saving.load_model(run.generator_path, safe_mode=True)


def test_stop_ends_a_detached_run_cleanly(tmp_path):
    run_id = cli(tmp_path, "train", "--detach", "--set", "steps=100000", "--set", "log_every=5",
                 "--set", "checkpoint_every=1000", *TINY).stdout.strip()
    run = RunStore(tmp_path).get(run_id)
    wait_for(run, lambda s: s.get("step", 0) >= 5)
    assert cli(tmp_path, "stop", run_id).stdout.strip() == "stopped"
    st = run.status()
    assert st["state"] == "stopped" and not st.get("lost")
    assert run.checkpoint_path.exists()  # checkpointed on the way out
    listed = json.loads(cli(tmp_path, "runs", "--json").stdout)
    assert listed[0]["id"] == run_id and listed[0]["architecture"] == make_config().architecture
    cli(tmp_path, "delete", run_id)
    assert RunStore(tmp_path).list() == []


def test_sample_writes_uint8_images(trained, tmp_path):
    root, ids = trained
    out = tmp_path / "s.npz"
    cli(root, "sample", ids["dcgan"], "--n", "5", "--seed", "3", "--out", str(out))
    with np.load(out) as d:
        assert d["images"].shape == (5, 28, 28) and d["images"].dtype == np.uint8
        assert "labels" not in d.files
        first = d["images"].copy()
    cli(root, "sample", ids["dcgan"], "--n", "5", "--seed", "3", "--size", "14", "--out", str(out))
    with np.load(out) as d:
        assert d["images"].shape == (5, 14, 14)
    cli(root, "sample", ids["dcgan"], "--n", "5", "--seed", "3", "--out", str(out))
    with np.load(out) as d:
        np.testing.assert_array_equal(d["images"], first)  # same seed, same images


@pytest.mark.parametrize("run, saved_as", [("cgan", "labels"), ("infogan", "codes")])
def test_sample_one_digit_or_code(trained, tmp_path, run, saved_as):
    """--digit asks a conditional model for a digit, a latent-code model for a code (not a digit)."""
    root, ids = trained
    out = tmp_path / "c.npz"
    cli(root, "sample", ids[run], "--n", "7", "--digit", "4", "--out", str(out))
    with np.load(out) as d:
        assert d["images"].shape == (7, 28, 28)
        assert (d[saved_as] == 4).all() and set(d.files) == {"images", saved_as}


BAD = [
    (["train", "--preset", "turbo"], "unknown preset"),
    (["train", "--set", "batch_size=0"], "batch_size"),
    (["train", "--set", "nonsense=1"], "unknown setting"),
    (["train", "--set", "noequals"], "KEY=VALUE"),
    (["train", "--set", "g_lr=abc"], "g_lr"),
    (["train", "--set", "dataset=custom", "--set", "data_path=/nonexistent.npz"], "nonexistent"),
    (["stop", "../etc"], "invalid run id"),
    (["resume", "a/b"], "invalid run id"),
    (["delete", "20990101-000000-dcgan-0000"], "no run"),
    (["sample", "$(id)", "--out", "x.npz"], "invalid run id"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path, args, message):
    proc = cli(tmp_path, *args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not any(p.name[0].isdigit() for p in tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("args, message", [
    (["--digit", "3"], "conditional"),
    (["--n", "0"], "n must be"),
    (["--n", "100000000"], "n must be"),
    (["--out", "/nonexistent/dir/x.npz"], "does not exist"),
    (["--out", "x.txt"], ".npz"),
])
def test_sample_bad_input(trained, tmp_path, args, message, capsys, monkeypatch):
    root, ids = trained
    monkeypatch.chdir(tmp_path)
    argv = ["sample", ids["dcgan"]] + args + ([] if "--out" in args else ["--out", str(tmp_path / "o.npz")])
    code, err = in_process(root, argv, capsys)  # one line, exit 2 (the entry point as a process: just above)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.npz").exists()


def in_process(root, argv: list[str], capsys) -> tuple[int, str]:
    """``python -m gandash --runs-dir ROOT ARGV`` in this process: (exit code, stderr)."""
    from gandash.__main__ import main

    capsys.readouterr()
    code = main(["--runs-dir", str(root), *argv])
    return code, capsys.readouterr().err


def _digit_png(path, ink=0):
    from PIL import Image, ImageDraw

    im = Image.new("L", (200, 200), 255)  # a dark 7 on white paper, as a photo or a scan would be
    ImageDraw.Draw(im).line([(40, 40), (160, 40), (90, 170)], fill=ink, width=18)
    im.save(path)
    return path


def test_invert_finds_your_digit_and_saves_its_vector_and_image(trained, tmp_path):
    root, ids = trained
    image, out = _digit_png(tmp_path / "seven.png"), tmp_path / "z.npz"
    proc = cli(root, "invert", ids["cgan"], "--image", str(image), "--digit", "7", "--steps", "20", "--out", str(out))
    assert re.search(r"distance 0\.\d{3} \(mean absolute pixel error, 0 to 1\), digit 7, in [\d.]+ s", proc.stdout)
    with np.load(out) as d:
        assert d["z"].ndim == 1 and d["z"].dtype == np.float32
        assert d["image"].shape == (28, 28) and d["target"].shape == (28, 28) and int(d["label"]) == 7
        assert d["target"][2, 2] == 0 and d["target"].max() == 255  # turned white on black, as MNIST
        distance = float(d["distance"])
    assert f"distance {distance:.3f}" in proc.stdout
    from PIL import Image

    with Image.open(out.with_suffix(".png")) as im:
        assert im.size == (2 * 28 * 4 + 8, 28 * 4 + 4)  # your digit beside its reconstruction


@pytest.mark.parametrize("make, args, message", [
    (lambda p: p.write_bytes(b"not an image at all"), [], "not an image"),
    (lambda p: _digit_png(p, ink=255), [], "blank"),  # all white
    (_digit_png, ["--digit", "3"], "needs a conditional model"),
    (_digit_png, ["--out", "z.txt"], ".npz"),
    (_digit_png, ["--steps", "0"], "steps must be from 1 to 5000"),
    (lambda p: None, [], "No such file or directory"),  # no image at that path
])
def test_invert_bad_input(trained, tmp_path, make, args, message, capsys, monkeypatch):
    root, ids = trained
    monkeypatch.chdir(tmp_path)
    image = tmp_path / "in.png"
    make(image)
    argv = ["invert", ids["dcgan"], "--image", str(image), *args]
    code, err = in_process(root, [*argv, *([] if "--out" in args else ["--out", str(tmp_path / "z.npz")])], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "z.npz").exists()


def test_invert_a_run_without_a_generator_yet_says_so(tmp_path):
    run = RunStore(tmp_path).create(make_config("fast"))
    proc = cli(tmp_path, "invert", run.id, "--image", str(_digit_png(tmp_path / "7.png")),
               "--out", str(tmp_path / "z.npz"), check=False)
    assert proc.returncode == 2 and "no generator.keras yet" in proc.stderr and not (tmp_path / "z.npz").exists()


def test_default_preset_on_data_without_labels_trains_unsupervised_and_says_so(tmp_path):
    data = tmp_path / "unlabelled.npz"
    np.savez(data, images=np.random.default_rng(0).integers(0, 255, (40, 28, 28), dtype=np.uint8))
    proc = cli(tmp_path, "train", "--set", "dataset=custom", "--set", f"data_path={data}", "--set", "steps=2",
               "--set", "log_every=1", *TINY)
    notes = [line for line in proc.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "no labels" in notes[0] and "fast-unsupervised" in notes[0]
    run = RunStore(tmp_path).get(proc.stdout.strip().splitlines()[-1])
    cfg = run.config()
    assert (cfg.architecture, cfg.latent_code, run.status()["state"]) == ("dcgan", True, "finished")
    named = cli(tmp_path, "train", "--set", "architecture=cgan", "--set", "dataset=custom", "--set",
                f"data_path={data}", *TINY, check=False)  # a conditional model named by the user is refused
    assert named.returncode == 2 and "no labels" in named.stderr and "note:" not in named.stderr


def test_a_relative_data_path_is_stored_absolute_and_a_detached_run_trains_on_it(tmp_path):
    """The trainer runs in another directory: the path is resolved where the user typed it."""
    here = tmp_path / "here"
    here.mkdir()
    rng = np.random.default_rng(0)
    np.savez(here / "digits.npz", images=rng.integers(0, 255, (40, 28, 28), dtype=np.uint8),
             labels=rng.integers(0, 10, 40))
    proc = subprocess.run([sys.executable, "-m", "gandash", "--runs-dir", str(tmp_path / "runs"), "train", "--detach",
                           "--set", "dataset=custom", "--set", "data_path=digits.npz", "--set", "steps=2",
                           "--set", "log_every=1", *TINY], capture_output=True, text=True, cwd=here, timeout=300,
                          env={**os.environ, "PYTHONPATH": REPO})
    assert proc.returncode == 0, proc.stderr
    run = RunStore(tmp_path / "runs").get(proc.stdout.strip())
    assert run.config().data_path == str(here / "digits.npz")
    st = wait_for(run, lambda s: s["state"] not in ("queued", "running"))
    assert st["state"] == "finished", run.log_tail()


def test_stop_right_after_start_really_stops(tmp_path):
    """A stop that arrives while the trainer is still starting is not lost."""
    run_id = cli(tmp_path, "train", "--detach", "--set", "steps=100000", "--set", "log_every=5", *TINY).stdout.strip()
    assert cli(tmp_path, "stop", run_id).stdout.strip() == "stopped"
    run = RunStore(tmp_path).get(run_id)
    time.sleep(8)  # long enough for a trainer that missed the stop to report itself running
    st = run.status()
    assert st["state"] == "stopped", st
    pid = st.get("pid")
    if isinstance(pid, int):
        assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split(")")[-1][:3]


def test_directions_moves_and_dissection_from_the_command_line(trained, tmp_path, capsys):
    """`directions` lists what each direction does; `sample --move` draws the same samples moved;
    `dissect` lists G's layers, ranks channels and writes samples with channels off. In this process (one
    TensorFlow start, one fit of the directions), but for the plain `sample`, the entry point as a user runs it."""
    from gandash.__main__ import main

    def run(*args):
        assert main(["--runs-dir", str(root), *args]) == 0
        return capsys.readouterr().out

    root, ids = trained
    listed = json.loads(run("directions", ids["cgan"], "--json", "--gallery", str(tmp_path / "g.png")))
    names = [d["name"] for d in listed["directions"]]
    assert names[:4] == ["thickness", "slant", "width", "height"] and "sefa-1" in names and "pca-1" in names
    assert all(0 <= d["agrees"][d["changes"]] <= 1 and d["holds"] is not None for d in listed["directions"])
    assert (tmp_path / "g.png").stat().st_size > 500
    plain, moved = tmp_path / "a.npz", tmp_path / "b.npz"
    cli(root, "sample", ids["cgan"], "--n", "6", "--out", str(plain))
    run("sample", ids["cgan"], "--n", "6", "--move", "thickness=+3", "--move", "sefa-1=-2", "--out", str(moved))
    with np.load(plain) as a, np.load(moved) as b:
        assert a["images"].shape == b["images"].shape and (a["images"] != b["images"]).any()
        np.testing.assert_array_equal(a["labels"], b["labels"])
    layers = run("dissect", ids["dcgan"]).splitlines()
    assert layers and "channels" in layers[0]
    layer = layers[0].split()[0]
    ranked = run("dissect", ids["dcgan"], "--layer", layer, "--rank", "region", "--region", "4,4,20,20",
                 "--off", "0,1", "--out", str(tmp_path / "d.npz"))
    assert "region's ink lost" in ranked and len(ranked.splitlines()) >= 11
    with np.load(tmp_path / "d.npz") as d:
        assert d["before"].shape == d["after"].shape == (16, 28, 28) and list(d["off"]) == [0, 1]


@pytest.mark.parametrize("args, message", [
    (["sample", "{cgan}", "--move", "thickness", "--out", "x.npz"], "NAME=AMOUNT"),
    (["sample", "{cgan}", "--move", "boldness=1", "--out", "x.npz"], "no direction 'boldness'"),
    (["dissect", "{dcgan}", "--layer", "nope", "--rank", "effect"], "no layer 'nope'"),
    (["dissect", "{dcgan}", "--layer", "{layer}", "--rank", "region", "--region", "9,9,3,3"], "--region must be"),
    (["dissect", "{dcgan}", "--layer", "{layer}", "--off", "a"], "--off takes"),
    (["dissect", "{dcgan}", "--layer", "{layer}", "--off", "999", "--out", "x.npz"], "channels must be from 0"),
    (["directions", "{dcgan}", "--gallery", "g.jpg"], "--gallery must end in .png"),
])
def test_direction_and_dissection_mistakes_are_one_line_errors(trained, tmp_path, capsys, monkeypatch, args,
                                                               message):
    from gandash.__main__ import main
    from gandash.explore import dissect
    from gandash.explore.sampling import load_generator

    root, ids = trained
    monkeypatch.chdir(tmp_path)
    layer = dissect.dissectable(load_generator(RunStore(root).get(ids["dcgan"]).generator_path))[0][0]
    assert main(["--runs-dir", str(root), *[a.format(layer=layer, **ids) for a in args]]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
