"""The run queue: N slots per runs folder, first in first out, freed by the kernel when a trainer dies."""
import json
import os
import signal
import time

import pytest

from gandash.backends import launcher
from gandash.store.queue import RunQueue
from gandash.store.runs import RunError, RunStore, atomic_write_json
from tests.test_cli import TINY, cli, wait_for

SHORT = ["--set", "steps=5", "--set", "log_every=5", "--set", "checkpoint_every=5", "--set", "sample_every=5"]
LONG = ["--set", "steps=100000", "--set", "log_every=5", "--set", "checkpoint_every=1000"]


def start(root, *sets):
    return RunStore(root).get(cli(root, "train", "--detach", *sets, *TINY).stdout.strip())


def wait_state(run, state, timeout=120):
    return wait_for(run, lambda s: s.get("state") == state, timeout=timeout)


# -- settings, no processes -----------------------------------------------------------------
def test_slots_default_from_hardware_and_can_be_set(tmp_path):
    q = RunQueue(tmp_path)
    cores = len(os.sched_getaffinity(0))
    assert q.slots() == max(1, cores // 4) and q.explicit_slots() is None
    (tmp_path / "_queue").mkdir()
    (tmp_path / "_queue" / "devices.json").write_text(json.dumps({"gpus": ["NVIDIA H200", "NVIDIA H200"]}))
    assert q.slots() == 2  # one per GPU TensorFlow saw
    assert q.set_slots(3) == 3 and q.explicit_slots() == 3
    assert q.threads_per_trainer() == max(1, cores // 3)
    assert q.set_slots(None) == 2  # back to the default
    for bad in (0, -1, 65, 2.5, True, "2"):
        with pytest.raises(RunError, match="slots"):
            q.set_slots(bad)
    assert q.slots() == 2


@pytest.mark.parametrize("value", ["0", "-1", "two", "65"])
def test_queue_command_refuses_bad_slot_counts(tmp_path, value):
    proc = cli(tmp_path, "queue", "--slots", value, check=False)
    assert proc.returncode == 2 and "slots" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "_queue" / "settings.json").exists()


def test_device_descriptions():
    from gandash.engine.distribute import cpu_has_bf16, describe_devices

    assert describe_devices([], 2, True) == "CPU: 2 cores, oneDNN"
    assert describe_devices([], 1, False) == "CPU: 1 core"
    assert describe_devices(["NVIDIA H100"], 16, True, "float16") == "GPU 0: NVIDIA H100, float16"
    assert describe_devices([], 2, True, "bfloat16") == "CPU: 2 cores, oneDNN, bfloat16"
    assert cpu_has_bf16("processor : 0\nflags : fpu sse2 avx2 fma\n") is False  # emulated: the device line says so
    assert cpu_has_bf16("flags : fpu avx2 avx512f avx512_bf16\n") is True and cpu_has_bf16("flags\t: amx_bf16") is True
    assert cpu_has_bf16("model name : something else") is None
    assert describe_devices(["A", "A"], 16, True) == "2 GPUs: A"


def test_a_gpu_tensorflow_cannot_use_is_explained_with_the_fix():
    from gandash.engine.distribute import GPU_SETUP_COMMAND, gpu_advice

    advice = gpu_advice([], ["NVIDIA H200"])
    assert "NVIDIA H200" in advice and "without its CUDA libraries" in advice and GPU_SETUP_COMMAND in advice
    assert gpu_advice(["NVIDIA H200"], ["NVIDIA H200"]) == "" and gpu_advice([], []) == ""
    assert "requirements-gpu.txt" in GPU_SETUP_COMMAND


# -- real trainers ------------------------------------------------------------------------------
@pytest.mark.slow
def test_six_starts_on_one_slot_train_one_at_a_time_in_order(tmp_path):
    cli(tmp_path, "queue", "--slots", "1")
    runs = [start(tmp_path, *SHORT, "--set", f"seed={i}") for i in range(6)]
    listed = cli(tmp_path, "queue").stdout
    assert "1 slot(s), set for this folder" in listed and "waiting" in listed
    for run in runs:
        wait_state(run, "finished", timeout=300)
    spans = [(run.status()["started"], run.status()["finished"]) for run in runs]
    assert [s for s, _ in spans] == sorted(s for s, _ in spans)  # first in, first out
    for (_, end), (begin, _) in zip(spans, spans[1:]):
        assert begin >= end - 0.5  # never two training at once (the next may start as one writes its end)
    st = runs[-1].status()
    assert st["queued_s"] > 0 and st["device"].startswith("CPU: ")
    assert cli(tmp_path, "queue").stdout.strip().endswith("nothing is training or waiting")


@pytest.mark.slow
def test_a_killed_trainer_frees_its_slot_and_the_next_starts(tmp_path):
    cli(tmp_path, "queue", "--slots", "1")
    first = start(tmp_path, *LONG)
    wait_state(first, "running")
    second, third = start(tmp_path, *LONG), start(tmp_path, *LONG)
    st = wait_for(third, lambda s: s.get("queue_position") == 2)
    assert st["state"] == "queued" and second.status()["queue_position"] == 1
    assert "#2 in the queue" in cli(tmp_path, "runs").stdout
    os.kill(first.trainer()["pid"], signal.SIGKILL)
    t = time.time()
    wait_state(second, "running", timeout=10)
    assert time.time() - t < 5
    assert first.status()["lost"] and third.status()["state"] == "queued"
    # cancelling a waiting run ends its wait and nothing else
    assert launcher.stop(third, wait=30) == "stopped"
    assert "cancelled while waiting" in third.status()["error"]
    assert second.status()["state"] == "running"
    assert launcher.stop(second, wait=60) == "stopped"


@pytest.mark.slow
def test_move_to_front_and_more_slots_while_runs_wait(tmp_path):
    cli(tmp_path, "queue", "--slots", "1")
    first = start(tmp_path, *LONG)
    wait_state(first, "running")
    b, c, d = (start(tmp_path, *LONG) for _ in range(3))
    wait_for(d, lambda s: s.get("queue_position") == 3)
    cli(tmp_path, "queue", "--front", d.id)
    wait_for(d, lambda s: s.get("queue_position") == 1, timeout=10)
    assert RunQueue(tmp_path).waiting() == [d.id, b.id, c.id]
    cli(tmp_path, "queue", "--slots", "3")  # two more slots: the first two in line start
    wait_state(d, "running", timeout=15)
    wait_state(b, "running", timeout=15)
    st = wait_for(c, lambda s: s.get("queue_position") == 1, timeout=10)
    assert st["state"] == "queued"
    assert {s["run"] for s in RunQueue(tmp_path).training()} == {first.id, b.id, d.id}
    for run in (c, b, d, first):
        assert launcher.stop(run, wait=60) == "stopped"


def test_a_queued_run_whose_process_is_gone_is_marked_and_can_be_resumed(tmp_path):
    """A reboot leaves status.json saying queued with nobody waiting: shown as lost, Resume re-queues."""
    from tests.conftest import tiny

    store = RunStore(tmp_path)
    run = store.create(tiny())
    data = json.loads(run.status_path.read_text())
    atomic_write_json(run.status_path, {**data, "updated": time.time() - 60})
    st = run.status()
    assert st["state"] == "lost" and st["lost"] and "waited in the queue" in st["error"]


@pytest.mark.slow
def test_killing_the_process_that_queued_runs_stops_nothing(tmp_path):
    """The dashboard only starts detached trainers: when it dies with -9, the queue goes on."""
    import subprocess
    import sys

    cli(tmp_path, "queue", "--slots", "1")
    overrides = {"steps": 5, "log_every": 5, "checkpoint_every": 5, "sample_every": 5, "batch_size": 16,
                 "width": 0.25, "steps_per_execution": 1}
    starter = ("import sys, time\n"
               "from gandash.backends import launcher\n"
               "from gandash.config import make_config\n"
               "from gandash.store.runs import RunStore\n"
               f"store = RunStore({str(tmp_path)!r})\n"
               "for seed in (0, 1):\n"
               f"    cfg = make_config('fast', {{**{overrides!r}, 'seed': seed}})\n"
               "    print(launcher.start(store, cfg).id, flush=True)\n"
               "time.sleep(600)\n")
    dashboard = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True,
                                 env={**os.environ, "GANDASH_RUNS_DIR": str(tmp_path)}, start_new_session=True)
    try:
        ids = [dashboard.stdout.readline().strip() for _ in range(2)]
    finally:
        os.killpg(dashboard.pid, signal.SIGKILL)  # its whole process group, as Ctrl-C in its terminal would
        dashboard.wait(timeout=10)
    runs = [RunStore(tmp_path).get(run_id) for run_id in ids]
    for run in runs:
        wait_state(run, "finished", timeout=300)
    assert runs[0].status()["finished"] <= runs[1].status()["started"] + 0.5  # still one at a time, in order


# -- warm slots ------------------------------------------------------------------------------------
def losses(run):
    return [v for row in run.metrics() for k, v in sorted(row.items()) if k.endswith("_loss")]


@pytest.mark.slow
def test_a_warm_slot_trains_the_next_runs_in_its_process_and_each_sees_nothing_of_the_last(tmp_path):
    cli(tmp_path, "queue", "--slots", "1")
    first = start(tmp_path, *SHORT, "--set", "architecture=mlp", "--set", "seed=1")
    stopped = start(tmp_path, *LONG, "--set", "seed=2")
    third = start(tmp_path, *SHORT, "--set", "architecture=dcgan", "--set", "seed=7", "--set", "log_every=1")
    wait_for(stopped, lambda s: s.get("state") == "running" and s.get("step", 0) >= 5, timeout=120)
    assert launcher.stop(stopped, wait=60) == "stopped"  # Stop in a warm slot stops that run, not the slot
    wait_state(third, "finished", timeout=120)
    pids = {run.status()["pid"] for run in (first, stopped, third)}
    assert len(pids) == 1  # one process trained all three
    assert third.status()["startup"]["imports"] < 1.0  # TensorFlow was loaded already
    assert f"run {third.id}: finished" in third.log_tail() and first.id not in third.log_tail()
    assert third.id not in first.log_tail()  # each run's output in its own log
    # the same run trained cold, in a process of its own, gives the same losses
    cold = RunStore(tmp_path).get(cli(tmp_path, "train", *SHORT, *TINY, "--set", "architecture=dcgan",
                                      "--set", "seed=7", "--set", "log_every=1").stdout.strip().splitlines()[-1])
    assert cold.status()["pid"] not in pids
    assert len(losses(cold)) == 10 and losses(cold) == pytest.approx(losses(third), rel=1e-4, abs=1e-5)


@pytest.mark.slow
def test_an_open_dashboard_keeps_a_trainer_warm_that_takes_the_next_start(tmp_path, monkeypatch):
    from gandash.backends import warm

    monkeypatch.setenv("GANDASH_WARM_DASHBOARD", "1")
    queue = RunQueue(tmp_path)
    queue.set_slots(1)
    assert warm.keep_warm(tmp_path)
    deadline = time.time() + 60
    while not (queue.warm() and queue.warm()[0].get("ready")):
        assert time.time() < deadline, "no warm trainer became ready"
        time.sleep(0.1)
    pid = queue.warm()[0]["pid"]
    assert warm.keep_warm(tmp_path) and [s["pid"] for s in queue.warm()] == [pid]  # one is enough
    assert "warm: TensorFlow loaded" in cli(tmp_path, "queue").stdout
    run = start(tmp_path, *SHORT)
    wait_state(run, "finished", timeout=120)
    st = run.status()
    assert st["pid"] == pid and st["startup"]["imports"] < 1.0 and st["startup"]["process"] == 0.0
    wait_for(run, lambda s: queue.warm(), timeout=10)  # waiting warm again for the next start
    # a foreground trainer first in line gets the slot: the warm one gives it up
    fg = RunStore(tmp_path).get(cli(tmp_path, "train", *SHORT, *TINY, timeout=180).stdout.strip().splitlines()[-1])
    assert fg.status()["state"] == "finished" and fg.status()["pid"] != pid
    deadline = time.time() + 10
    while os.waitpid(pid, os.WNOHANG) == (0, 0):  # our child: it has ended once it can be collected
        assert time.time() < deadline, "the warm trainer did not end"
        time.sleep(0.1)
    assert not queue.warm()
