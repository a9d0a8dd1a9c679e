"""Crafted datasets against `python -m gandash train`: each must end in one line with exit code 2 (or
train), and no process may pass 2.5 GiB. Prints each file's size, the exit code, the peak memory of the
CLI process and its first line of error.

    GANDASH_DATA_DIR=../shared/data python -m bench.crafted_files
"""
from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npy

LIMIT_MIB = 2.5 * 1024


def _header(shape, dtype) -> bytes:
    buf = io.BytesIO()
    npy.write_array_header_1_0(buf, {"descr": npy.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                                     "shape": shape})
    return buf.getvalue()


def _member(zf: zipfile.ZipFile, name: str, head: bytes, zeros: int) -> None:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED  # gigabytes of zeros in a file of a few megabytes
    with zf.open(info, "w", force_zip64=True) as f:
        f.write(head)
        chunk = bytes(1 << 24)
        for start in range(0, zeros, len(chunk)):
            f.write(chunk[:min(len(chunk), zeros - start)])


def _small() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.zeros((4, 28, 28), np.uint8))
    return buf.getvalue()


def build(folder: Path) -> dict[str, Path]:
    files = {}
    cases = {
        "shadow member of 1.5 GiB of zeros": [("images.npy", _small(), 0), ("images", b"", 3 << 29)],
        "shadow .npy declaring 0.8 GB": [("images", _small(), 0), ("images.npy", _header((200_000, 64, 64), "u1"),
                                                                      200_000 * 64 * 64)],
        "int8 190,000 x 64 x 64": [("images.npy", _header((190_000, 64, 64), "i1"), 190_000 * 64 * 64)],
        "int8 120,000 x 64 x 64 (within)": [("images.npy", _header((120_000, 64, 64), "i1"), 120_000 * 64 * 64)],
    }
    for i, (name, members) in enumerate(cases.items()):
        path = folder / f"crafted{i}.npz"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for member, head, zeros in members:
                _member(zf, member, head, zeros)
        files[name] = path
    return files


MEASURE = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, file=sys.stderr); sys.exit(code)")


def main() -> int:
    worst = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in build(Path(tmp)).items():
            train = [sys.executable, "-m", "gandash", "--runs-dir", f"{tmp}/runs", "train", "--preset",
                     "fast-unsupervised", "--set", "dataset=custom", "--set", f"data_path={path}", "--set", "steps=2"]
            proc = subprocess.run([sys.executable, "-c", MEASURE, *train], capture_output=True, text=True)
            *lines, peak = proc.stderr.strip().splitlines()
            worst = max(worst, int(peak))
            print(f"{name:36s} {path.stat().st_size / 2**20:5.1f} MiB on disk  exit {proc.returncode}  "
                  f"peak {int(peak):5d} MiB  {lines[-1] if lines else ''}")
    print(f"largest peak: {worst} MiB (limit {LIMIT_MIB:.0f})")
    return 0 if worst < LIMIT_MIB else 1


if __name__ == "__main__":
    sys.exit(main())
