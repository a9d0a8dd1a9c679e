"""Teach mode's live controls: pause, step (both networks, D alone, G alone), slow motion and continue, on a
detached run, with kill -9, stop and resume while paused; and the requests a run cannot take."""
import os
import signal
import time

import numpy as np
import pytest

from gandash.store import control
from gandash.store.runs import RunError, RunStore
from tests.conftest import tiny
from tests.test_cli import TINY, cli, wait_for


def weights(run) -> dict[str, dict[str, np.ndarray]]:
    """The checkpoint's learned weights by network (batch norm's running statistics follow every forward
    pass in training mode, so they are left out)."""
    from gandash.engine.algorithms import build_gan

    model = build_gan(run.config())
    learned = {f"{key}/{i}" for key, net in (("g", model.generator), ("d", model.discriminator))
               for i, w in enumerate(net.weights) if w.trainable}
    with np.load(run.checkpoint_path) as ck:
        return {net: {k: ck[k] for k in ck.files if k in learned and k.startswith(net)} for net in ("g", "d")}


def changed(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return any(not np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_pause_hold_step_slow_motion_kill_stop_and_continue_to_the_end(tmp_path):
    out = cli(tmp_path, "train", "--detach", "--set", "steps=100000", "--set", "max_seconds=25", "--set", "log_every=5",
              "--set", "sample_every=10", "--set", "checkpoint_every=50", "--set", "eval_every=100000", *TINY)
    run = RunStore(tmp_path).get(out.stdout.strip())
    try:
        wait_for(run, lambda s: s["state"] == "running" and s["step"] > 0)

        asked = time.monotonic()
        said = cli(tmp_path, "pause", run.id).stdout.split()
        assert time.monotonic() - asked < 15
        st = run.status()
        assert st.state == "paused" and said == ["paused", "at", "step", f"{st.step:,}"]
        held, clock = st.step, st["wall_time"]
        time.sleep(10)
        st = run.status()
        assert (st.state, st.step, st["wall_time"]) == ("paused", held, clock)  # the budget does not run either
        assert int(run.metrics()[-1]["step"]) == held and run.sample_path(held).exists()  # drawn and logged at the hold

        assert cli(tmp_path, "step", run.id, "--n", "10").stdout.split()[:2] == ["step", f"{held + 10:,}"]
        assert run.status().state == "paused" and run.status().step == held + 10
        rows = [int(r["step"]) for r in run.metrics() if int(r["step"]) > held]  # each multiple of log_every, the end
        assert rows == sorted({k for k in range(held + 1, held + 11) if k % 5 == 0} | {held + 10})
        assert run.sample_path(held + 10).exists()

        before = weights(run)
        assert "the generator's weights unchanged" in cli(tmp_path, "step", run.id, "--n", "3", "--only", "d").stdout
        after_d = weights(run)
        assert run.status().step == held + 10
        assert changed(before["d"], after_d["d"]) and not changed(before["g"], after_d["g"])
        assert cli(tmp_path, "step", run.id, "--n", "3", "--only", "g").stdout.split()[:2] == ["step", f"{held + 13:,}"]
        after_g = weights(run)
        assert changed(after_d["g"], after_g["g"]) and not changed(after_d["d"], after_g["d"])

        cli(tmp_path, "continue", run.id, "--slow", "0.5")
        assert run.status().state == "running" and run.status()["slow"] == 0.5
        time.sleep(3)
        cli(tmp_path, "pause", run.id)
        slow_steps = list(range(held + 14, run.status().step + 1))
        assert 3 <= len(slow_steps) <= 12, slow_steps  # about one step every 0.5 s
        assert set(slow_steps) <= set(run.sample_steps())  # fresh samples after each
        assert set(slow_steps) <= {int(r["step"]) for r in run.metrics()}

        paused_at = run.status().step
        os.kill(run.status()["pid"], signal.SIGKILL)  # kill -9 while paused: lost, and it resumes like any run
        wait_for(run, lambda s: s["state"] == "lost", timeout=30)
        cli(tmp_path, "resume", run.id)
        wait_for(run, lambda s: s["state"] == "running" and s["step"] > paused_at)
        cli(tmp_path, "pause", run.id)
        assert cli(tmp_path, "stop", run.id).stdout.strip() == "stopped"  # Stop on a paused run
        stopped_at = run.status().step  # evaluated at its end, as a run stopped while training is
        assert [int(r["step"]) for r in run.eval_rows()] == [stopped_at]
        cli(tmp_path, "resume", run.id)
        wait_for(run, lambda s: s["state"] == "running")
        cli(tmp_path, "pause", run.id)
        assert cli(tmp_path, "continue", run.id).stdout.startswith("running")
        st = wait_for(run, lambda s: s["state"] == "finished", timeout=120)
        assert st.error.startswith("stopped after max_seconds=25")
        steps = [int(r["step"]) for r in run.metrics()]
        assert steps == sorted(set(steps)) and steps[-1] == st.step  # strictly increasing, across every hold
        assert 25 <= run.metrics()[-1]["wall_time"] < 35  # the budget counted training only
    finally:  # a failed check must not leave a paused trainer holding its slot
        if run.status().active:
            cli(tmp_path, "stop", run.id, check=False)


def test_requests_a_run_cannot_take_are_refused_with_the_reason(store, stand_in_trainer):
    run = store.create(tiny())
    with pytest.raises(RunError, match="waiting in the queue"):
        control.ask(run, "pause")
    run.write_status(state="finished")
    with pytest.raises(RunError, match="finished; only a training run.*resume it first"):
        control.ask(run, "continue")
    stand_in_trainer(run)  # holds the run and says running
    with pytest.raises(RunError, match="pause it first"):
        control.ask(run, "step", n=3)
    run.write_status(state="paused")
    for bad, why in ((dict(n=0), "--n must be between 1"), (dict(n=5, only="x"), "--only must be d or g"),
                     (dict(n=1, slow=-1), "--slow must be between 0")):
        with pytest.raises(RunError, match=why):
            control.ask(run, "step", **bad)
    assert control.read(run) is None  # nothing refused was written


def test_a_trainer_answers_only_requests_made_after_it_started(store, stand_in_trainer):
    run = store.create(tiny())
    stand_in_trainer(run)
    run.write_status(state="paused")
    old = control.ask(run, "continue", slow=2)
    inbox = control.Inbox(run)  # a (resumed) trainer starting now
    assert inbox.pending() is None
    new = control.ask(run, "step", n=4, only="g")
    got = inbox.pending()
    assert (got.seq, got.action, got.n, got.only) == (old.seq + 1, "step", 4, "g") and new == got
    assert inbox.pending() == got  # until it is carried out
    run.write_status(**inbox.done(got))
    assert inbox.pending() is None
    assert control.wait(run, new, timeout=1).state == "paused"
    newer = control.ask(run, "pause")
    run.write_status(**inbox.done(newer, "teach mode's controls need a run on one device"))
    with pytest.raises(RunError, match="need a run on one device"):
        control.wait(run, newer, timeout=1)
    with pytest.raises(RunError, match="has not carried out 'pause' within 0 s"):
        control.wait(run, control.ask(run, "pause"), timeout=0)


def test_quick_requests_in_a_row_are_all_carried_out_in_order(store, stand_in_trainer):
    run = store.create(tiny())
    stand_in_trainer(run)
    run.write_status(state="paused")
    inbox = control.Inbox(run)
    asked = [control.ask(run, "step", n=2), control.ask(run, "continue", slow=1.5), control.ask(run, "pause")]
    got = []
    while (req := inbox.pending()) is not None:
        got.append(req)
        run.write_status(**inbox.done(req))
    assert got == asked
    later = control.ask(run, "continue")  # what was carried out is not kept: the file holds what waits
    assert control.read_all(run) == [later] and inbox.pending() == later
