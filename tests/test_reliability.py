"""Faults: kill -9 soak, disk full, corrupt files, concurrent trainers, hostile input."""
import errno
import os
import random
import signal
import time

import numpy as np
import pytest
from PIL import Image

from gandash.engine.data import DataError, load_custom
from gandash.engine.train import load_checkpoint, train
from gandash.explore.sampling import SamplingError, load_generator
from gandash.store.runs import RunStore, read_json
from tests.conftest import tiny
from tests.test_cli import TINY, cli, wait_for


@pytest.mark.slow
def test_kill_soak_random_kills(tmp_path):
    """SIGKILL a detached trainer at random moments (3 in the default run; GANDASH_SOAK_KILLS=20 for the
    figure in RELIABILITY.md); it always resumes cleanly."""
    rng = random.Random(1234)
    want = int(os.environ.get("GANDASH_SOAK_KILLS", "3"))
    steps = 100 * want  # even, and long enough that the run cannot finish before the last kill
    out = cli(tmp_path, "train", "--detach", "--set", f"steps={steps}", "--set", "log_every=2",
              "--set", "checkpoint_every=4", "--set", "sample_every=2", *TINY)
    run = RunStore(tmp_path).get(out.stdout.strip())
    kills, last_pid = 0, None
    while kills < want:
        st = wait_for(run, lambda s, last=last_pid: s["state"] != "queued" and s.get("pid") not in (None, last))
        if st["state"] != "running":
            break
        # anywhere: starting up, in a step, writing a sample grid or a checkpoint
        time.sleep(rng.uniform(0.0, 4.0) if kills % 2 else rng.uniform(4.0, 8.0))
        st = run.status()
        if st["state"] != "running":
            break
        last_pid = st["pid"]
        os.kill(last_pid, signal.SIGKILL)
        kills += 1
        wait_for(run, lambda s: s["state"] == "lost", timeout=30)
        cli(tmp_path, "resume", run.id)
    if run.status()["state"] != "finished":
        wait_for(run, lambda s: s["state"] == "finished", timeout=600)
    print(f"\nkill soak: {kills} kills survived, finished at step {run.status()['step']}")
    assert kills == want, f"the run finished before {want} kills: make it longer"
    logged = [int(r["step"]) for r in run.metrics()]
    assert logged == list(range(2, steps + 2, 2))  # strictly increasing, no gap, no repeat
    for step in run.sample_steps():
        Image.open(run.sample_path(step)).load()
    load_generator(run.generator_path)
    assert read_json(run.status_path)["state"] == "finished"
    assert not list(run.dir.glob(".*"))  # no temp files left


def test_disk_full_during_checkpoint_keeps_previous_checkpoint(store, monkeypatch):
    import gandash.engine.train as train_mod

    real_write = train_mod.atomic_write_bytes
    calls = {"n": 0}

    def failing_write(path, data):
        if path.name == "checkpoint.npz":
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(path, data)

    monkeypatch.setattr(train_mod, "atomic_write_bytes", failing_write)
    cfg = tiny(steps=6, checkpoint_every=2)
    run = store.create(cfg)
    assert train(run, install_signal_handlers=False) == "failed"
    st = run.status()
    assert "disk full" in st["error"] and "last checkpoint is kept" in st["error"]
    from gandash.engine.algorithms import build_gan
    assert load_checkpoint(run, build_gan(cfg))[0] == 2


def test_read_only_metrics_file_fails_clearly(store, monkeypatch):
    from gandash.store import runs

    def read_only(self, row):
        raise OSError(errno.EROFS, "Read-only file system", str(self.path))

    monkeypatch.setattr(runs.RowWriter, "write", read_only)
    run = store.create(tiny())
    assert train(run, install_signal_handlers=False) == "failed"
    assert "read-only file system" in run.status()["error"]


def test_corrupt_runs_do_not_hide_the_others(tmp_path):
    """Damage one run's every file in turn; the others still list and open."""
    good_id = cli(tmp_path, "train", "--set", "steps=2", "--set", "log_every=1",
                  "--set", "checkpoint_every=1", *TINY).stdout.split()[-1]
    store = RunStore(tmp_path)
    bad = store.create(tiny())
    bad.config_path.write_text("garbage{")
    bad.status_path.write_text('{"state": "runni')
    bad.metrics_path.write_text("step,d_loss\n1,0.5\nxx,yy,zz\n3,0.4\n")
    bad.generator_path.write_bytes(store.get(good_id).generator_path.read_bytes()[:1000])
    listing = cli(tmp_path, "runs", "--json").stdout
    assert good_id in listing and bad.id in listing and "config.json" in listing
    assert "failed" in cli(tmp_path, "runs").stdout
    assert [r["step"] for r in bad.metrics()] == [1, 3]
    assert bad.sample_steps() == []
    with pytest.raises(SamplingError, match="cannot load generator.keras"):
        load_generator(bad.generator_path)
    proc = cli(tmp_path, "sample", bad.id, "--n", "2", "--out", str(tmp_path / "x.npz"), check=False)
    assert proc.returncode == 2 and "config.json" in proc.stderr
    cli(tmp_path, "sample", good_id, "--n", "2", "--out", str(tmp_path / "y.npz"))


def test_lambda_layer_model_is_refused_by_safe_mode(tmp_path):
    import keras

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Lambda(lambda t: t * 2)(inp))
    path = tmp_path / "generator.keras"
    model.save(path)
    with pytest.raises(SamplingError, match="cannot load"):
        load_generator(path)


@pytest.mark.slow
def test_three_trainers_at_once(tmp_path):
    ids = []
    for arch in ("dcgan", "mlp", "cgan"):
        ids.append(cli(tmp_path, "train", "--detach", "--set", f"architecture={arch}", "--set", "steps=40",
                       "--set", "log_every=5", "--set", "checkpoint_every=10", *TINY).stdout.strip())
    store = RunStore(tmp_path)
    runs = [store.get(i) for i in ids]
    for _ in range(50):  # the dashboard polls while they write
        for r in store.list():
            r.status(), r.metrics(), r.sample_steps()
        time.sleep(0.05)
    for r in runs:
        wait_for(r, lambda s: s["state"] == "finished")
    speeds = []
    for r in runs:
        assert [int(x["step"]) for x in r.metrics()] == list(range(5, 45, 5))
        assert r.config().architecture in r.id
        assert sorted(p.name for p in r.dir.iterdir()) == sorted(
            ["checkpoint.npz", "config.json", "generator.keras", "health.json", "metrics.csv", "samples",
             "status.json", "train.log", "trainer.lock"])
        speeds.append(np.median([x["images_per_sec"] for x in r.metrics()[1:]]))
    print("\nthree trainers at once, images/s:", [round(s) for s in speeds])


def _write_png(path, size):
    Image.fromarray(np.full((size, size), 200, np.uint8)).save(path)


def test_bad_datasets_are_refused_with_one_clear_message(tmp_path):
    cases = {}
    np.savez(tmp_path / "wrongkeys.npz", x=np.zeros((3, 28, 28), np.uint8))
    cases["wrongkeys.npz"] = "no 'images' array"
    np.savez(tmp_path / "strings.npz", images=np.array([["a"] * 28] * 28 * 3).reshape(3, 28, 28))
    cases["strings.npz"] = "must be numbers"
    np.savez(tmp_path / "empty.npz", images=np.zeros((0, 28, 28), np.uint8))
    cases["empty.npz"] = "no images"
    np.savez(tmp_path / "flat.npz", images=np.zeros((10,), np.uint8))
    cases["flat.npz"] = "shape"
    np.savez(tmp_path / "nan.npz", images=np.full((2, 28, 28), np.nan, np.float32))
    cases["nan.npz"] = "NaN"
    np.savez(tmp_path / "badlabels.npz", images=np.zeros((2, 28, 28), np.uint8), labels=np.array([3, 12]))
    cases["badlabels.npz"] = "labels"
    (tmp_path / "notzip.npz").write_bytes(b"hello, not a zip")
    cases["notzip.npz"] = "not a readable .npz"
    with open(tmp_path / "huge.npz", "wb") as f:  # a 2 GiB upload (sparse file)
        f.truncate(2 << 30)
    cases["huge.npz"] = "too large"
    (tmp_path / "emptydir").mkdir()
    cases["emptydir"] = "no PNG or JPEG"
    (tmp_path / "fakeimgs").mkdir()
    (tmp_path / "fakeimgs" / "a.png").write_text("not an image")
    cases["fakeimgs"] = "not a readable image"
    cases["data.csv"] = "expected an .npz"
    for name, message in cases.items():
        with pytest.raises(DataError, match=message):
            load_custom(tmp_path / name, 28)


def test_mixed_size_images_are_resized_to_the_model_size(tmp_path):
    for i, size in enumerate((20, 28, 50)):
        _write_png(tmp_path / f"{i}.png", size)
    ds = load_custom(tmp_path, 32)
    assert ds.images.shape == (3, 32, 32) and ds.labels is None


def test_digit_out_of_range(tmp_path, capsys):
    from gandash.__main__ import main

    run_id = cli(tmp_path, "train", "--set", "architecture=cgan", "--set", "steps=1", "--set", "log_every=1",
                 "--set", "checkpoint_every=1", *TINY).stdout.split()[-1]
    proc = cli(tmp_path, "sample", run_id, "--digit", "12", "--out", str(tmp_path / "d.npz"), check=False)
    assert proc.returncode == 2 and "digit must be from 0 to 9" in proc.stderr
    capsys.readouterr()
    assert main(["--runs-dir", str(tmp_path), "sample", run_id, "--digit", "-1", "--out", str(tmp_path / "d.npz")]) == 2
    assert "digit must be from 0 to 9" in capsys.readouterr().err and not (tmp_path / "d.npz").exists()


# -- files that declare more than they hold ------------------------------------------------------
def png_declaring(width: int, height: int) -> bytes:
    """A ~100-byte PNG whose header says width × height (its pixel data is a few zeros)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def npz_declaring(path, shape, payload_mb: int = 4) -> None:
    """An .npz whose images.npy header declares ``shape`` (uint8) but holds a few MB of zeros."""
    import io
    import zipfile

    from numpy.lib import format as npy

    header = io.BytesIO()
    npy.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("images.npy", "w", force_zip64=True) as f:
            f.write(header.getvalue())
            f.write(bytes(payload_mb << 20))


LOAD_AND_MEASURE = """
import resource, sys, time
from gandash.engine.data import DataError, load_custom
before, t = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
try:
    load_custom(sys.argv[1], 28)
    print("loaded")
except DataError as e:
    print(f"refused: {e}")
print(time.perf_counter() - t, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def test_files_that_declare_gigabytes_are_refused_at_once_in_bounded_memory(tmp_path):
    import subprocess
    import sys

    npz_declaring(tmp_path / "bomb.npz", (100_000, 200, 200))  # 4 GB declared, 4 MB held
    (tmp_path / "pngbomb").mkdir()
    (tmp_path / "pngbomb" / "a.png").write_bytes(png_declaring(20_000, 20_000))
    (tmp_path / "bigpng").mkdir()
    (tmp_path / "bigpng" / "a.png").write_bytes(png_declaring(10_000, 10_000))
    for name, message in (("bomb.npz", "too large (100,000 images of 200×200 uint8, 3.73 GiB"),
                          ("pngbomb", "too many pixels"), ("bigpng", "10,000×10,000 pixels")):
        out = subprocess.run([sys.executable, "-c", LOAD_AND_MEASURE, str(tmp_path / name)], capture_output=True,
                             text=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        said, figures = out.stdout.strip().splitlines()
        seconds, grown_mb = map(float, figures.split())
        assert said.startswith("refused") and message in said, out.stdout + out.stderr
        assert seconds < 1.0 and grown_mb < 50, (name, seconds, grown_mb)


def test_arrays_of_the_wrong_rank_or_kind_get_a_clear_message(tmp_path):
    np.savez(tmp_path / "scalar.npz", images=np.array(3))
    np.savez(tmp_path / "rank5.npz", images=np.zeros((1, 2, 3, 4, 5), np.uint8))
    np.save(tmp_path / "obj.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    import zipfile

    with zipfile.ZipFile(tmp_path / "objects.npz", "w") as zf:
        zf.write(tmp_path / "obj.npy", "images.npy")
    for name, message in (("scalar.npz", "got ()"), ("rank5.npz", "got (1, 2, 3, 4, 5)"),
                          ("objects.npz", "holds Python objects")):
        with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_custom(tmp_path / name, 28)


@pytest.mark.parametrize("what", ["bomb.npz", "pngbomb", "scalar.npz"])
def test_cli_refuses_hostile_datasets_with_exit_2_and_one_line(tmp_path, what):
    if what == "bomb.npz":
        npz_declaring(tmp_path / what, (100_000, 200, 200), payload_mb=1)
    elif what == "pngbomb":
        (tmp_path / what).mkdir()
        (tmp_path / what / "a.png").write_bytes(png_declaring(20_000, 20_000))
    else:
        np.savez(tmp_path / what, images=np.array(3))
    proc = cli(tmp_path / "runs", "train", "--set", "dataset=custom", "--set", f"data_path={tmp_path / what}",
               check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and ("a.png" if what == "pngbomb" else what) in proc.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
