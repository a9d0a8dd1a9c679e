"""Runs and studies on a real local Ray cluster: trained, retried from their checkpoint, cancelled, listed."""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time

import pytest

# Token authentication, as a cluster should run. Ray reads these once, when it is imported, so they
# are set before gandash.backends.cluster imports it; the cluster, the CLI and its Ray workers inherit them.
os.environ["RAY_AUTH_MODE"] = "token"
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))

from gandash.backends import cluster  # noqa: E402
from gandash.config import make_config
from gandash.store.runs import RunStore
from gandash.studies.study import Studies, progress
from tests.test_cli import REPO, TINY, cli, wait_for

RAY = os.path.join(os.path.dirname(sys.executable), "ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A one-node cluster of 2 CPUs started as a user would (`ray start --head`), stopped at the end."""
    port = _free_port()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
        subprocess.run([RAY, "start", "--head", f"--port={port}", "--num-cpus=2", "--node-ip-address=127.0.0.1",
                        "--include-dashboard=false", "--disable-usage-stats"],
                       check=True, capture_output=True, timeout=120)
        try:
            yield
        finally:
            import ray

            ray.shutdown()
            subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def ray_study(ray_cluster, tmp_path_factory):
    """A 2-run study with a tiny budget, started from the CLI with --backend ray and waited for."""
    from gandash.quality import evaluate

    root = tmp_path_factory.mktemp("runs")
    evaluate.ensure_evaluator("mnist", root)  # the shipped one, as `study start` installs it
    study_id = cli(root, "study", "start", "--presets", "fast,mlp-classic", "--seeds", "1", "--budget", "20steps",
                   "--backend", "ray", "--wait", timeout=600).stdout.strip()
    return RunStore(root), study_id


def test_a_study_trains_through_ray_into_complete_run_directories(ray_study):
    store, study_id = ray_study
    studies = Studies(store)
    study = studies.get(study_id)
    assert study["backend"] == "ray" and len(study["members"]) == 2
    for member in study["members"]:
        run = store.get(member["run"])
        status = wait_for(run, lambda s: s.get("state") == "finished", timeout=60)
        assert status["backend"] == "ray" and status["step"] == 20
        assert "Ray node" in status["device"] and socket.gethostname() in status["device"]
        assert [int(r["step"]) for r in run.metrics()][-1] == 20
        assert run.checkpoint_path.exists() and run.generator_path.exists() and 20 in run.sample_steps()
        assert run.eval_rows(), "the in-training evaluations ran on the node"
        assert "steps 0->20" in run.log_path.read_text()  # the trainer's output went to the run's log
        assert run.trainer() is None
    assert progress(studies, study)["done"] == 2


def test_the_dashboard_lists_ray_runs_with_their_node(ray_study):
    from tests.ui.apptest import app, texts

    store, study_id = ray_study
    at = app("runs", store.root)
    assert not at.exception
    shown = texts(at) + texts(at, "caption")
    assert shown.count("Ray node") >= 2 and "Ray" in shown
    listed = json.loads(cli(store.root, "runs", "--json").stdout)
    assert {item["status"]["backend"] for item in listed} == {"ray"}


def test_a_killed_ray_worker_is_retried_and_the_run_resumes_from_its_checkpoint(ray_cluster, tmp_path):
    run_id = cli(tmp_path, "train", "--backend", "ray", "--detach", "--set", "steps=300", "--set", "log_every=10",
                 "--set", "checkpoint_every=50", "--set", "sample_every=100", *TINY).stdout.strip()
    run = RunStore(tmp_path).get(run_id)
    killed = wait_for(run, lambda s: s.get("state") == "running" and s.get("step", 0) >= 120)["pid"]
    os.kill(killed, signal.SIGKILL)  # the Ray worker process that runs the training
    time.sleep(1.0)
    seen = run.status()  # Ray holds it: the retry is on its way (or has begun), not a lost run
    assert seen["state"] in ("queued", "running") and not seen.get("lost")
    st = wait_for(run, lambda s: s.get("state") == "finished", timeout=300)
    assert st["step"] == 300 and st["pid"] != killed  # the retry is a new process
    starts = [int(s) for s in re.findall(r"steps (\d+)->300", run.log_path.read_text())]
    assert len(starts) == 2 and starts[0] == 0 and 100 <= starts[1] < 300  # from its last checkpoint, not step 0
    steps = [int(r["step"]) for r in run.metrics()]
    assert steps == list(range(10, 310, 10))  # no gap and no repeat


def test_stop_from_the_cli_cancels_a_training_and_a_waiting_ray_task(ray_cluster, tmp_path):
    long = ["--set", "steps=100000", "--set", "log_every=10", "--set", "checkpoint_every=5000", *TINY]
    first = cli(tmp_path, "train", "--backend", "ray", "--detach", *long).stdout.strip()
    second = cli(tmp_path, "train", "--backend", "ray", "--detach", *long).stdout.strip()  # each takes both CPUs
    store = RunStore(tmp_path)
    training, waiting = store.get(first), store.get(second)
    wait_for(training, lambda s: s.get("state") == "running" and s.get("step", 0) >= 20)
    assert waiting.status()["state"] == "queued" and waiting.trainer() is None
    assert "waiting for its resources" in cli(tmp_path, "runs").stdout

    assert cli(tmp_path, "stop", second).stdout.strip() == "stopped"
    st = waiting.status()
    assert st["state"] == "stopped" and "cancelled before it began" in st["error"] and not waiting.metrics()

    assert cli(tmp_path, "stop", first).stdout.strip() == "stopped"
    st = training.status()
    assert st["state"] == "stopped" and not st.get("lost") and st["error"] == ""
    assert training.checkpoint_path.exists() and training.trainer() is None  # checkpointed on the way out
    time.sleep(3.0)
    assert waiting.status()["state"] == "stopped" and not waiting.metrics()  # the cancelled task never ran

    cli(tmp_path, "resume", first)  # where it last trained: back to Ray
    st = wait_for(training, lambda s: s.get("state") == "running" and s.get("step", 0) > 0)
    assert st["backend"] == "ray" and "Ray node" in st["device"]
    assert cli(tmp_path, "stop", first).stdout.strip() == "stopped"


def test_a_studys_eta_comes_from_rays_free_resources(ray_cluster):
    cfg = make_config("fast")
    import ray

    idle = cluster.describe()
    assert idle["nodes"] == 1 and idle["cpus"] == 2
    assert not ray.is_initialized()  # disconnected again: Ray ends a connected process when its cluster goes
    assert cluster.resources(cfg, idle) == {"num_cpus": 2.0} and cluster.fitting(cfg, idle) == 1
    big = {**idle, "cpus": 64, "free_cpus": 40, "node_cpus": 16}  # 4 cores a run, the share of a local slot
    assert cluster.resources(cfg, big) == {"num_cpus": 4.0} and cluster.fitting(cfg, big, running=2) == 2 + 10
    gpus = {**big, "gpus": 8, "free_gpus": 3, "node_gpus": 4}
    assert cluster.resources(cfg, gpus) == {"num_gpus": 1.0, "num_cpus": 1.0} and cluster.fitting(cfg, gpus) == 3
    mirrored = make_config("fast", {"distribute": "mirrored"})
    assert cluster.resources(mirrored, gpus)["num_gpus"] == 4


def test_no_cluster_gives_one_clear_line_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{_free_port()}")
    proc = cli(tmp_path, "train", "--backend", "ray", *TINY, check=False, timeout=180)
    assert proc.returncode == 2 and "no Ray cluster answers at RAY_ADDRESS=127.0.0.1:" in proc.stderr
    assert "Traceback" not in proc.stderr and RunStore(tmp_path).list() == []


BLOCK_RAY = """
import sys
class NoRay:
    def find_spec(self, name, path=None, target=None):
        if name == "ray" or name.startswith("ray."):
            raise ModuleNotFoundError("No module named 'ray'")
sys.meta_path.insert(0, NoRay())
from gandash.__main__ import main
code = main(sys.argv[1:])
assert not any(m == "ray" or m.startswith("ray.") for m in sys.modules), "gandash imported ray"
sys.exit(code)
"""


def test_gandash_without_ray_trains_as_before_and_says_how_to_install_it(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-c", BLOCK_RAY, "--runs-dir", str(tmp_path), *args],
                              capture_output=True, text=True, cwd=REPO, timeout=300)

    proc = run("train", "--set", "steps=2", *TINY)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert RunStore(tmp_path).get(proc.stdout.split()[-1]).status()["state"] == "finished"
    proc = run("train", "--backend", "ray", *TINY)
    assert proc.returncode == 2 and "pip install -r requirements-cluster.txt" in proc.stderr
    assert len(RunStore(tmp_path).list()) == 1


def test_a_dead_heads_address_file_is_probed_in_seconds(tmp_path, monkeypatch):
    """Before: with RAY_ADDRESS unset, Ray followed the address file of a head killed earlier and retried
    its dead GCS for minutes, inside the Train page's script."""
    from pathlib import Path

    import ray
    from ray._private import services

    from gandash import backends
    from gandash.ui import common
    from tests.ui.apptest import app, texts

    ray.shutdown()  # as in a fresh dashboard process: not connected to any cluster
    cluster._described.clear()
    monkeypatch.setattr(services, "find_gcs_addresses", lambda: [])  # the head is dead: no GCS runs here
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    path = Path("/tmp/ray/ray_current_cluster")
    saved = path.read_text() if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"127.0.0.1:{_free_port()}")
    try:
        began = time.monotonic()
        found, why = backends.get("ray").probe()
        assert found is None and "nothing listens there" in why and time.monotonic() - began < 5
        for page in ("train", "studies"):
            common._probe.clear()
            began = time.monotonic()
            at = app(page, tmp_path)
            assert not at.exception and time.monotonic() - began < 5
            assert "nothing listens there" in texts(at, "caption")
    finally:
        if saved is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(saved)


def test_a_killed_head_leaves_no_run_active_and_one_resumes_here(tmp_path, monkeypatch):
    """Kill a head under two runs (one training, one waiting): within 3 minutes neither claims to be queued
    or running, and one resumes on this machine to the end. Before: they stayed queued for ever. Runs are
    lost after the shortest silence allowed (20 s, not the default 60 s), which this test and its commands read."""
    from gandash.store import lifecycle

    monkeypatch.setenv("GANDASH_BACKEND_STALE_S", "1")
    assert lifecycle.backend_stale_s() == lifecycle.MIN_BACKEND_STALE_S
    port = _free_port()
    env = {**os.environ, "RAY_ADDRESS": f"127.0.0.1:{port}"}
    subprocess.run([RAY, "start", "--head", f"--port={port}", "--num-cpus=2", "--node-ip-address=127.0.0.1",
                    "--include-dashboard=false", "--disable-usage-stats"], check=True, capture_output=True,
                   timeout=120, env=env)
    try:
        ids = [subprocess.run([sys.executable, "-m", "gandash", "--runs-dir", str(tmp_path), "train", "--backend",
                               "ray", "--detach", "--set", "steps=300", "--set", "log_every=10", "--set",
                               "checkpoint_every=20", *TINY], capture_output=True, text=True, cwd=REPO, env=env,
                              timeout=300, check=True).stdout.strip() for _ in range(2)]
        store = RunStore(tmp_path)
        training, waiting = store.get(ids[0]), store.get(ids[1])
        wait_for(training, lambda s: s.get("state") == "running" and s.get("step", 0) >= 20)
        assert waiting.status()["state"] == "queued"
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120, env=env)  # the head dies
    began = time.monotonic()
    for run in (training, waiting):
        wait_for(run, lambda s: s["state"] not in ("queued", "running"), timeout=180)
        assert run.status()["state"] == "lost" and "Resume" in run.status()["error"]
    print(f"\nruns of a killed head lost after {time.monotonic() - began:.0f} s")
    assert "lost" in cli(tmp_path, "runs").stdout
    cli(tmp_path, "resume", training.id, "--backend", "local")
    st = wait_for(training, lambda s: s["state"] == "finished", timeout=300)
    assert st["backend"] == "local" and st["step"] == 300
    assert cli(tmp_path, "stop", waiting.id).stdout.strip() == "stopped"  # no cluster needed
