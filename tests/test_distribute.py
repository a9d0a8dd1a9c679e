"""tf.distribute: mirrored over two logical CPUs matches one device; two workers write one run."""
import json
import os
import socket
import subprocess
import sys

import pytest

from gandash.config import ARCHITECTURES
from gandash.store.runs import RunStore

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_mirrored_over_two_devices_matches_one_device(arch):
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tests", "helpers", "distributed_losses.py"), arch],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    single, mirrored = out["single"], out["mirrored"]
    assert set(single) == set(mirrored)
    for key in ("d_loss", "g_loss"):
        assert single[key] == pytest.approx(mirrored[key], rel=1e-4, abs=1e-5), key
    assert single["d_loss"][0] != single["d_loss"][2]  # it trained: the losses moved


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_two_worker_run_writes_one_run_directory(store):
    proc = subprocess.run([sys.executable, "-m", "gandash", "--runs-dir", str(store.root), "train", "--create-only",
                           *[f"--set={kv}" for kv in ("distribute=multiworker", "steps=4", "log_every=1",
                                                       "checkpoint_every=2", "sample_every=2", "batch_size=16",
                                                       "width=0.25", "steps_per_execution=1")]],
                          capture_output=True, text=True, cwd=REPO, env=ENV, timeout=120, check=True)
    run = store.get(proc.stdout.strip())
    assert run.status()["state"] == "queued"
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    procs = []
    for index in range(2):
        env = {**ENV, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen([sys.executable, "-m", "gandash", "worker", str(run.dir)], cwd=REPO, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[:3000] for o in outs)
    st = run.status()
    assert st["state"] == "finished" and "2 replicas" in st["device"]
    assert [int(r["step"]) for r in run.metrics()] == [1, 2, 3, 4]  # written once, by the chief
    assert RunStore(store.root).list() == [run]
    assert run.sample_steps() == [0, 2, 4]


@pytest.mark.parametrize("setting, expected", [(None, "CPU: 2 cores, oneDNN"), ("0", "CPU: 2 cores")])
def test_onednn_kernels_on_unless_the_environment_says_off(setting, expected):
    env = {k: v for k, v in ENV.items() if k not in ("TF_ENABLE_ONEDNN_OPTS", "CUDA_VISIBLE_DEVICES")}
    env["CUDA_VISIBLE_DEVICES"] = ""  # the CPU's description, even on a GPU machine
    if setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = setting
    code = "import gandash.engine.distribute as d; print(d.setup_devices(threads=2)[0])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == expected


def _first_import(tree, roots: tuple[str, ...]) -> int:
    """Line of the module's first top-level import of any of ``roots`` (a large number if none)."""
    import ast

    for node in tree.body:
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        if any(n.split(".")[0] in roots for n in names):
            return node.lineno
    return 10 ** 9


@pytest.mark.parametrize("script", sorted(
    [os.path.join("bench", f) for f in os.listdir(os.path.join(REPO, "bench")) if f.endswith(".py")] + ["app.py"]))
def test_every_entry_point_loads_gandash_before_tensorflow(script):
    """TensorFlow reads TF_ENABLE_ONEDNN_OPTS when it loads: a script that imports it before gandash runs without
    oneDNN on AVX2 CPUs (bench/step_flops.py did, and reported 'oneDNN kernels off')."""
    import ast

    tree = ast.parse(open(os.path.join(REPO, script)).read())
    tf_line = _first_import(tree, ("tensorflow", "keras"))
    assert tf_line == 10 ** 9 or _first_import(tree, ("gandash",)) < tf_line, script
