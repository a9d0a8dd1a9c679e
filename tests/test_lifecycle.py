"""A run's life: its typed record, who vouches for an active run, who may be signalled, and clean-up
on every failure path. Each test here reproduces a defect of the earlier, scattered lifecycle."""
import errno
import json
import os
import subprocess
import sys
import time

import pytest

from gandash.backends import launcher, local
from gandash.store import locks
from gandash.store.lifecycle import FORMAT, State, Status, can_move, signal_target, trainer_record
from gandash.store.runs import RunError, RunStore, atomic_write_json, backend_file
from tests.conftest import tiny


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path)


# -- the record -------------------------------------------------------------------------------------
def test_status_reads_every_format_and_fills_what_it_lacks():
    old = Status.from_json({"state": "running", "step": 12, "pid": 7})  # format 1: no format, attempt, backend
    assert (old.state, old.step, old.attempt, old.backend, old.format) == (State.RUNNING, 12, 0, "local", 1)
    assert old["pid"] == 7 and old.get("device") is None and old["state"] == "running"
    assert Status.from_json(None).state == State.FAILED and "damaged" in Status.from_json(None).error
    newer = Status.from_json({"state": "hibernating", "step": 3})  # a state this version does not know
    assert newer.state == State.FAILED and "hibernating" in newer.error
    assert Status.from_json({"state": "queued", "step": "x", "total": None}).step == 0
    assert json.loads(json.dumps(old.to_json()))["state"] == "running"


def test_writes_carry_the_format_and_moves_follow_the_table(store):
    run = store.create(tiny())
    assert json.loads(run.status_path.read_text())["format"] == FORMAT
    assert can_move("queued", "running") and can_move("finished", "queued") and can_move("running", "paused")
    assert not can_move("finished", "running") and not can_move("queued", "diverged")


def test_only_the_runs_own_trainer_is_a_signal_target():
    me = trainer_record(12345)
    assert signal_target(me) == 12345
    assert signal_target({k: v for k, v in me.items() if k != "role"}) == 12345  # an earlier version's trainer
    for role in ("launching", "deleting", "stopping", "dispatcher"):
        assert signal_target(trainer_record(12345, role=role)) is None
    assert signal_target({**me, "host": "another-host"}) is None and signal_target({**me, "pid": None}) is None


# -- signalling ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["launching", "deleting"])
def test_stop_never_signals_a_process_that_holds_the_lock_to_launch_or_delete(store, monkeypatch, role):
    """Before: Stop sent SIGTERM to whatever pid the lock named, and killed the dashboard mid-delete."""
    run = store.create(tiny())
    script = ("import time\nfrom gandash.store.locks import Lock\nfrom gandash.store.lifecycle import trainer_record\n"
              f"lock = Lock.acquire({str(run.lock_path)!r}, trainer_record(role={role!r}))\n"
              "print('held', flush=True)\ntime.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setattr(local, "TAKE_OVER_S", 0.5)
        with pytest.raises(RunError, match="held by another process"):
            launcher.stop(run, wait=0)
        time.sleep(0.3)
        assert holder.poll() is None  # alive: never signalled
    finally:
        holder.kill()
        holder.wait()


# -- clean-up on failure ------------------------------------------------------------------------------
def test_a_lock_record_that_cannot_be_written_releases_the_lock(store, monkeypatch):
    """Before: ENOSPC while writing the record kept the descriptor (and the lock) open until restart."""
    run = store.create(tiny())

    def full(self, record):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(locks.Lock, "write", full)
    with pytest.raises(OSError):
        run.take_trainer_lock()
    monkeypatch.undo()
    assert run.trainer() is None
    run.take_trainer_lock().release()  # anyone can take it again


def test_a_start_that_fails_after_create_leaves_no_queued_run(store, monkeypatch):
    def refuse(self, run):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(local.LocalBackend, "submit", refuse)
    with pytest.raises(OSError):
        launcher.start(store, tiny())
    assert store.list() == []


def test_delete_moves_the_folder_away_before_removing_it_so_a_resume_cannot_slip_in(store, monkeypatch):
    """Before: a resume during rmtree could lock a fresh trainer.lock inside the folder being deleted."""
    import gandash.store.runs as runs_mod

    run = store.create(tiny())
    run.write_status(state="stopped")
    seen = {}
    real = runs_mod.shutil.rmtree

    def rmtree_with_a_resume_in_the_middle(path, *a, **k):
        (path / "trainer.lock").unlink(missing_ok=True)  # half done
        with pytest.raises(RunError):
            launcher.resume(run)
        seen["recreated"] = run.dir.exists()
        real(path, *a, **k)

    monkeypatch.setattr(runs_mod.shutil, "rmtree", rmtree_with_a_resume_in_the_middle)
    store.delete(run.id)
    assert seen == {"recreated": False} and not run.dir.exists() and store.list() == []
    assert not [p for p in store.root.iterdir() if p.name.startswith(".deleting-")]


# -- who vouches for an active run ------------------------------------------------------------------------
def _vouch(store, backend, run_id, age_s):
    atomic_write_json(backend_file(store.root, backend), {"vouched": {run_id: time.time() - age_s}})


def test_a_resumed_run_never_reads_as_its_previous_ending(store):
    """Before: the finished trainer's exit record in trainer.lock made a resumed Ray run read as finished
    (or stopped), so Stop never cancelled its task and the study counted it as done."""
    run = store.create(tiny())
    lock = run.take_trainer_lock()
    lock.write(trainer_record(exit={"state": "finished", "error": ""}, attempt=0))
    lock.release()
    run.write_status(state="finished")
    assert run.status().state == State.FINISHED
    run.write_status(state="queued", backend="ray", attempt=1)  # resumed on the cluster
    _vouch(store, "ray", run.id, 1)
    assert run.status().state == State.QUEUED
    data = json.loads(run.status_path.read_text())
    atomic_write_json(run.status_path, {**data, "updated": time.time() - 120})
    _vouch(store, "ray", run.id, 120)  # and then the cluster went away
    st = run.status()
    assert st.state == State.LOST and "Resume" in st.error


def test_a_run_whose_cluster_is_gone_is_lost_and_stops_without_the_cluster(store):
    """Before: it stayed queued for ever, and stop needed the cluster that was gone."""
    run = store.create(tiny())
    run.write_status(state="running", backend="ray", step=40)
    _vouch(store, "ray", run.id, 5)
    assert run.status().state == State.QUEUED  # a retry of a dead worker is on its way
    _vouch(store, "ray", run.id, 600)
    assert run.status().state == State.LOST
    assert launcher.stop(run, wait=0) == "stopped"
    assert run.status().state == State.STOPPED


def test_a_waiting_record_is_queued_while_its_dispatcher_lives(store):
    from gandash.store.queue import RunQueue

    run = store.create(tiny())
    queue = RunQueue(store.root)
    queue.enqueue(run.id)
    atomic_write_json(queue.line_path, {"line": [run.id]})
    data = json.loads(run.status_path.read_text())
    atomic_write_json(run.status_path, {**data, "updated": time.time() - 600})  # long past the start grace
    assert run.status().state == State.LOST  # no dispatcher holds its place
    queue.dir.mkdir(exist_ok=True)
    with locks.Lock.acquire(queue.dispatcher_path, trainer_record(role="dispatcher")):
        st = run.status()
        assert st.state == State.QUEUED and st.queue_position == 1
        ticket = json.loads(queue._ticket(run.id).read_text())
        atomic_write_json(queue._ticket(run.id), {**ticket, "boot": "an-earlier-boot"})
        assert run.status().state == State.LOST  # written before the machine restarted


# -- waiting costs almost nothing -------------------------------------------------------------------------
def _gandash_processes(root) -> dict[str, int]:
    """Live gandash processes of this runs folder by kind, with their resident memory (KiB)."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            rss = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS"))
        except (OSError, StopIteration, ValueError):
            continue
        text = b" ".join(cmd).decode(errors="replace")
        if str(root) in text and "gandash" in text:
            kind = "dispatcher" if "gandash.backends.dispatch" in text else "trainer"
            out[pid] = (kind, rss)
    return out


@pytest.mark.slow
def test_waiting_runs_are_records_not_processes(tmp_path):
    """Before: every queued run was a process that had imported TensorFlow (~660 MiB each)."""
    from gandash.config import make_config
    from gandash.store.queue import RunQueue

    store = RunStore(tmp_path)
    RunQueue(tmp_path).set_slots(1)
    cfg = make_config("fast", {"steps": 100000, "log_every": 5, "checkpoint_every": 1000, "batch_size": 16,
                               "width": 0.25, "steps_per_execution": 1})
    runs = [launcher.start(store, cfg) for _ in range(8)]
    try:
        deadline = time.time() + 120
        while runs[0].status().state != State.RUNNING and time.time() < deadline:
            time.sleep(0.2)
        assert runs[0].status().state == State.RUNNING
        deadline = time.time() + 5  # places are published at the dispatcher's next look (every 0.2 s)
        while [r.status().queue_position for r in runs[1:]] != list(range(1, 8)) and time.time() < deadline:
            time.sleep(0.2)
        assert [r.status().queue_position for r in runs[1:]] == list(range(1, 8))
        procs = _gandash_processes(tmp_path)
        kinds = sorted(kind for kind, _ in procs.values())
        assert kinds == ["dispatcher", "trainer"], procs
        assert max(rss for kind, rss in procs.values() if kind == "dispatcher") < 100 * 1024  # no TensorFlow
    finally:  # never leave a trainer behind, even when an assertion fails
        for run in reversed(runs):
            assert launcher.stop(run, wait=60) == "stopped"
        deadline = time.time() + 30
        while _gandash_processes(tmp_path) and time.time() < deadline:
            time.sleep(0.5)
    assert _gandash_processes(tmp_path) == {}  # the dispatcher leaves once nothing waits


def test_the_dispatcher_drops_a_cancelled_record_and_lets_go_of_its_lock(store):
    from gandash.backends.dispatch import Dispatcher
    from gandash.store.queue import RunQueue

    run = store.create(tiny())
    queue = RunQueue(store.root)
    queue.enqueue(run.id)
    run.write_status(state="stopped")  # cancelled between its ticket and its turn
    queue.dir.mkdir(exist_ok=True)
    with locks.Lock.acquire(queue.dispatcher_path, trainer_record(role="dispatcher")):
        assert queue.waiting() == [run.id]
        Dispatcher(store.root).once()
    assert run.trainer() is None and not run.ticket_path.exists() and queue.training() == []
    assert run.status().state == State.STOPPED


def test_the_dispatcher_leaves_when_only_records_of_an_earlier_boot_remain(store, monkeypatch):
    from gandash.backends import dispatch
    from gandash.store.queue import RunQueue

    run = store.create(tiny())
    queue = RunQueue(store.root)
    queue.enqueue(run.id)
    atomic_write_json(queue._ticket(run.id), {**json.loads(queue._ticket(run.id).read_text()), "boot": "earlier"})
    monkeypatch.setattr(dispatch, "IDLE_EXIT_S", 0.2)
    began = time.monotonic()
    dispatch.Dispatcher(store.root).serve()
    assert time.monotonic() - began < 5 and run.trainer() is None and not queue.dispatcher_alive()
