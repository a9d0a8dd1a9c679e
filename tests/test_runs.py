"""The run store: atomic writes, tolerant readers, run ids that cannot escape the runs dir."""
import json
import os
import time

import pytest

from gandash.config import make_config
from gandash.store.runs import (
    RowWriter,
    Run,
    RunError,
    atomic_write_bytes,
    check_run_id,
    read_json,
    read_rows,
    truncate_rows,
)


def test_create_writes_config_and_queued_status(store):
    run = store.create(make_config("fast"))
    assert run.config() == make_config("fast")
    assert run.status()["state"] == "queued"
    assert [r.id for r in store.list()] == [run.id]
    check_run_id(run.id)


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "status.json"
    atomic_write_bytes(p, b'{"a": 1}')

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(p, b'{"a": 2}')
    assert json.loads(p.read_text()) == {"a": 1}
    assert [f.name for f in tmp_path.iterdir()] == ["status.json"]  # no temp file left


def test_rows_reader_tolerates_half_written_and_broken_lines(tmp_path):
    p = tmp_path / "metrics.csv"
    w = RowWriter(p, ["step", "d_loss"])
    for s in (1, 2, 3):
        w.write({"step": s, "d_loss": 0.5 * s})
    w.close()
    with open(p, "a") as f:
        f.write("4,0.")  # a row still being written
    assert [r["step"] for r in read_rows(p)] == [1, 2, 3]
    w = RowWriter(p, ["step", "d_loss"])  # a resumed writer drops the half row
    w.write({"step": 4, "d_loss": 2.0})
    w.close()
    assert [(r["step"], r["d_loss"]) for r in read_rows(p)][-1] == (4, 2.0)
    p.write_text(p.read_text().replace("2,1\n", "2,1,garbage,\n"))  # a broken row in the middle
    assert [r["step"] for r in read_rows(p)] == [1, 3, 4]


def test_truncate_rows_keeps_steps_up_to_checkpoint(tmp_path):
    p = tmp_path / "metrics.csv"
    w = RowWriter(p, ["step", "x"])
    for s in range(1, 8):
        w.write({"step": s, "x": 1.0})
    w.close()
    truncate_rows(p, 4)
    assert [r["step"] for r in read_rows(p)] == [1, 2, 3, 4]
    w = RowWriter(p, ["step", "x"])  # appending again does not repeat the header
    w.write({"step": 5, "x": 2.0})
    w.close()
    assert [r["step"] for r in read_rows(p)] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("bad", ["..", "../etc", "a/b", "/etc/passwd", "run\x00x", "x; rm -rf /",
                                 "$(id)", "", "AB", "UPPER-case-id", "a" * 100, "run id"])
def test_bad_run_ids_are_refused(store, bad):
    with pytest.raises(RunError):
        store.get(bad)


def test_unknown_run_is_an_error(store):
    with pytest.raises(RunError, match="no run"):
        store.get("20990101-000000-dcgan-ffff")


def test_damaged_files_give_clear_messages(store):
    run = store.create(make_config("fast"))
    run.config_path.write_text("{not json")
    with pytest.raises(RunError, match="config.json"):
        run.config()
    run.status_path.write_text('{"state": "runn')
    assert run.status()["state"] == "failed"
    assert "status.json" in run.status()["error"]
    assert read_json(run.status_path) is None
    assert run.sample_steps() == []  # samples folder missing
    assert run.metrics() == []


def test_the_trainer_lock_alone_says_whether_a_trainer_lives(store):
    """Active with a free lock is lost, whatever the pid says; a held lock with an old heartbeat
    is "not responding" and still running."""
    run = store.create(make_config("fast"))
    run.write_status(state="running", pid=os.getpid())  # a live pid, but no lock held
    st = run.status()
    assert st["state"] == "lost" and st["lost"]
    lock = run.take_trainer_lock()
    assert run.status()["state"] == "running" and "not_responding" not in run.status()
    assert run.trainer()["pid"] == os.getpid()
    data = json.loads(run.status_path.read_text())
    data["updated"] = time.time() - 3600  # heartbeat an hour old
    run.status_path.write_text(json.dumps(data))
    st = run.status()
    assert st["state"] == "running" and 3590 <= st["not_responding"] <= 3610
    with pytest.raises(RunError, match="already has a trainer"):
        run.take_trainer_lock()  # never a second trainer while the first holds it
    lock.release()
    assert run.status()["state"] == "lost" and run.status()["lost"]


def test_a_just_created_run_is_starting_not_lost(store):
    run = store.create(make_config("fast"))
    assert run.status()["state"] == "queued" and not run.status().get("lost")
    data = json.loads(run.status_path.read_text())
    data["updated"] = time.time() - 60
    run.status_path.write_text(json.dumps(data))
    assert run.status()["lost"]


def test_exit_state_in_the_lock_record_stands_in_for_a_failed_status_write(store):
    run = store.create(make_config("fast"))
    lock = run.take_trainer_lock()
    run.write_status(state="running")
    lock.write({"pid": os.getpid(), "exit": {"state": "failed", "error": "disk full while writing"}})
    lock.release()
    st = run.status()
    assert st["state"] == "failed" and st["error"] == "disk full while writing" and not st.get("lost")


def test_delete_refuses_while_a_trainer_holds_the_run(store):
    run = store.create(make_config("fast"))
    run.write_status(state="running", pid=os.getpid())
    lock = run.take_trainer_lock()
    with pytest.raises(RunError, match="stop it first"):
        store.delete(run.id)
    assert run.dir.is_dir()
    lock.release()
    run.write_status(state="stopped")
    store.delete(run.id)
    assert store.list() == []


def test_run_ids_must_match_whole():
    check_run_id("abc-def")
    for bad in ("abc-def\n", "abc-def\n\n", "ABC-def", "ab"):
        with pytest.raises(RunError):
            check_run_id(bad)


def test_list_ignores_foreign_entries(store):
    store.root.mkdir(parents=True)
    (store.root / "_evaluators").mkdir()
    (store.root / "notes.txt").write_text("x")
    os.symlink("/", store.root / "20990101-000000-dcgan-link")
    assert store.list() == []
    assert isinstance(Run(store.root / "x").samples_dir, os.PathLike)
