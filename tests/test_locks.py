"""One trainer per run: the trainer lock decides who trains, stop waits for it, resume and delete respect it."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from gandash.backends import launcher
from gandash.store import locks
from gandash.store.runs import RunError, RunStore, atomic_write_bytes
from tests.test_cli import REPO, TINY, cli, wait_for

LONG = ["--set", "steps=100000", "--set", "log_every=5", "--set", "checkpoint_every=1000"]


def trainers_of(run) -> list[int]:
    """Pids of live gandash processes training this run directory (Linux /proc; tests only)."""
    pids = []
    for name in os.listdir("/proc"):
        try:
            cmd = open(f"/proc/{name}/cmdline", "rb").read().split(b"\0")
            state = open(f"/proc/{name}/stat").read().split(")")[-1].split()[0]
        except OSError:
            continue
        if b"gandash" in cmd and (b"worker" in cmd or b"train" in cmd) and state != "Z" \
                and any(str(run.dir).encode() in c or run.id.encode() in c for c in cmd):
            pids.append(int(name))
    return pids


# -- the lock itself ---------------------------------------------------------------------------
def test_lock_is_exclusive_readable_and_dies_with_its_holder(tmp_path):
    path = tmp_path / "x.lock"
    assert locks.holder(path) is None  # no file: nobody
    lock = locks.Lock.acquire(path, {"pid": 1, "host": "h"})
    assert locks.holder(path) == {"pid": 1, "host": "h"}
    assert locks.Lock.acquire(path) is None  # a second holder, even in this process, is refused
    lock.release()
    assert locks.holder(path) is None and locks.last_record(path) == {"pid": 1, "host": "h"}
    proc = subprocess.Popen([sys.executable, "-c", "import sys, time; from gandash.store.locks import Lock; "
                             f"l = Lock.acquire({str(path)!r}, {{'pid': 7}}); print('held', flush=True); "
                             "time.sleep(60)"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    assert locks.holder(path) == {"pid": 7}
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert locks.holder(path) is None  # kill -9 frees it at once: the kernel holds it, not a file


@pytest.mark.parametrize("error", ["Ошибка: диск переполнен. " * 60, "磁盘已满。" * 300, '"\\' * 700])
def test_a_long_non_ascii_exit_record_keeps_its_state(tmp_path, error):
    lock = locks.Lock.acquire(tmp_path / "t.lock", {"pid": 1, "host": "h"})
    lock.write({"pid": 1, "host": "h", "role": "trainer", "state": "failed", "attempt": 3, "error": error})
    record = locks.last_record(tmp_path / "t.lock")
    assert (record["state"], record["attempt"], record["role"]) == ("failed", 3, "trainer")
    assert record["error"].endswith("…") and error.startswith(record["error"][:-1]) and len(record["error"]) > 100
    lock.release()


def test_a_probe_never_makes_an_acquire_fail(tmp_path):
    path = tmp_path / "x.lock"
    stop = threading.Event()

    def probe():
        while not stop.is_set():
            locks.holder(path)

    t = threading.Thread(target=probe)
    t.start()
    try:
        for _ in range(200):
            lock = locks.Lock.acquire(path)
            assert lock is not None
            lock.release()
    finally:
        stop.set()
        t.join()


def test_temp_names_are_unique_per_writer(tmp_path):
    """Two writers (two dashboard sessions are two threads of one process) replacing one file."""
    path, errors = tmp_path / "status.json", []

    def write(tag):
        try:
            for i in range(300):
                atomic_write_bytes(path, json.dumps({"tag": tag, "i": i}).encode())
        except OSError as e:
            errors.append(e)

    threads = [threading.Thread(target=write, args=(t,)) for t in "ab"]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == [] and json.loads(path.read_text())["i"] == 299
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_atomic_writes_sync_the_file_then_the_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.path.isdir(f"/proc/self/fd/{fd}")) or real(fd))
    atomic_write_bytes(tmp_path / "a.json", b"{}")
    assert synced == [False, True]  # the data, then the rename


# -- trainers -----------------------------------------------------------------------------------
def test_stop_ends_a_foreground_trainer_and_says_stopped_only_after(tmp_path):
    """`train` in one shell, `stop RUN` from another: the trainer really ends."""
    proc = subprocess.Popen([sys.executable, "-m", "gandash", "--runs-dir", str(tmp_path), "train", *LONG, *TINY],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not RunStore(tmp_path).list():
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.2)
        run = RunStore(tmp_path).list()[0]
        wait_for(run, lambda s: s["state"] == "running" and s.get("step", 0) >= 5)
        out = cli(tmp_path, "stop", run.id)
        assert out.stdout.strip() == "stopped"
        assert run.trainer() is None  # "stopped" was said only once the lock was free
        assert proc.wait(timeout=20) == 0
        st = run.status()
        assert st["state"] == "stopped" and not st.get("lost") and st["error"] == ""
        step = st["step"]
        time.sleep(1)
        assert run.status()["step"] == step and trainers_of(run) == []
    finally:
        proc.kill()


def test_two_resumes_at_once_start_exactly_one_trainer(tmp_path):
    run_id = cli(tmp_path, "train", "--create-only", *LONG, *TINY).stdout.strip()
    run = RunStore(tmp_path).get(run_id)
    run.write_status(state="stopped")
    args = [sys.executable, "-m", "gandash", "--runs-dir", str(tmp_path), "resume", run_id]
    procs = [subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "already" in refused and "Traceback" not in refused and len(refused.strip().splitlines()) == 1
    wait_for(run, lambda s: s["state"] == "running" and s.get("step", 0) >= 5)
    assert len(trainers_of(run)) == 1
    with pytest.raises(RunError, match="already running"):
        launcher.resume(run)  # and not from this process either
    assert launcher.stop(run, wait=60) == "stopped"


def test_delete_while_training_is_refused_and_stop_then_delete_works(tmp_path):
    run_id = cli(tmp_path, "train", "--detach", *LONG, *TINY).stdout.strip()
    run = RunStore(tmp_path).get(run_id)
    wait_for(run, lambda s: s["state"] == "running")
    proc = cli(tmp_path, "delete", run_id, check=False)
    assert proc.returncode == 2 and "still training" in proc.stderr and "stop it first" in proc.stderr
    assert run.dir.is_dir() and len(trainers_of(run)) == 1
    assert cli(tmp_path, "delete", "--stop", run_id).stdout.strip() == f"deleted {run_id}"
    deadline = time.time() + 30  # the trainer wrote its last byte before it let go; now it exits
    while trainers_of(run) and time.time() < deadline:
        time.sleep(0.2)
    assert trainers_of(run) == [] and not run.dir.exists()  # and nothing brought the folder back


def test_a_paused_trainer_is_not_responding_and_keeps_its_run(tmp_path):
    """SIGSTOP past the heartbeat limit: shown as not responding, never lost; no second trainer."""
    run_id = cli(tmp_path, "train", "--detach", *LONG, *TINY).stdout.strip()
    run = RunStore(tmp_path).get(run_id)
    pid = wait_for(run, lambda s: s["state"] == "running" and s.get("step", 0) >= 5)["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        data = json.loads(run.status_path.read_text())
        data["updated"] = time.time() - 100  # what 100 s of pause look like: no heartbeat since
        run.status_path.write_text(json.dumps(data))
        st = run.status()
        assert st["state"] == "running" and not st.get("lost") and st["not_responding"] >= 100
        assert "not responding for" in cli(tmp_path, "runs").stdout
        for argv, message in ((["resume", run_id], "already running"),
                              (["worker", str(run.dir)], "already has a trainer")):
            proc = cli(tmp_path, *argv, check=False)
            assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
        assert launcher.stop(run, wait=1.0) == "stopping"  # the paused trainer cannot act on it yet
        assert run.status()["state"] == "running" and trainers_of(run) == [pid]
    finally:
        os.kill(pid, signal.SIGCONT)
    st = wait_for(run, lambda s: s["state"] != "running", timeout=60)  # the pending stop is honoured
    assert st["state"] == "stopped" and not st.get("lost")


def test_stop_of_a_trainer_on_another_host_leaves_the_state_alone(store):
    from gandash.config import make_config

    run = store.create(make_config("fast"))
    lock = run.take_trainer_lock(host="gpu-node-7", pid=4242)
    run.write_status(state="running")
    with pytest.raises(RunError, match="trained on gpu-node-7"):
        launcher.stop(run)
    assert run.status()["state"] == "running"
    lock.release()


def test_final_state_survives_a_failed_final_status_write(store, monkeypatch):
    """Disk full at the very end: the trainer's exit state still reaches every reader."""
    from gandash.engine.train import train
    from gandash.store.runs import Run
    from tests.conftest import tiny

    run = store.create(tiny("fast"))
    real = Run.write_status

    def full_at_the_end(self, **fields):
        if fields.get("state") in ("finished", "stopped", "failed"):
            raise OSError(28, "No space left on device")
        return real(self, **fields)

    monkeypatch.setattr(Run, "write_status", full_at_the_end)
    assert train(run, install_signal_handlers=False) == "finished"
    assert json.loads(run.status_path.read_text())["state"] == "running"  # the last write failed
    assert run.status()["state"] == "finished"
    monkeypatch.undo()
    assert launcher.stop(run) == "finished"  # and it is written down once someone looks
    assert json.loads(run.status_path.read_text())["state"] == "finished"
