"""Studies: planned from presets, seeds and a budget; bad input refused before anything exists; a leaderboard."""
import json
import math

import pytest

from gandash.runs import RunStore
from gandash.study import Budget, StudyError, Studies, leaderboard, to_csv, verdict
from tests.test_cli import cli, wait_for


@pytest.mark.parametrize("kwargs, message", [
    (dict(presets=["fast"], seeds=0, budget="5m"), "seeds"),
    (dict(presets=["fast"], seeds=6, budget="5m"), "seeds"),
    (dict(presets=["fast", "acgan", "mlp-classic", "dcgan-keras", "dcgan-tricks", "wgan-gp", "fast-unsupervised"],
          seeds=1, budget="5m"), "1 to 6 presets"),
    (dict(presets=["turbo"], seeds=1, budget="5m"), "unknown preset 'turbo'"),
    (dict(presets=["fast"], seeds=1, budget="0"), "more than 0"),
    (dict(presets=["fast"], seeds=1, budget="-5m"), "more than 0"),
    (dict(presets=["fast"], seeds=1, budget="soon"), "not a budget"),
    (dict(presets=["fast"], seeds=1, budget="5m", vary="nonsense=1,2"), "vary"),
    (dict(presets=["fast"], seeds=1, budget="5m", vary="d_lr=1e-4,50"), "d_lr"),
    (dict(presets=["fast"], seeds=1, budget="5m", vary="d_lr=1e-4"), "2 to 5 values"),
    (dict(presets=["fast"], seeds=1, budget="5m", vary="seed=1,2"), "set by the study"),
])
def test_bad_study_input_is_refused_with_a_clear_message(tmp_path, kwargs, message):
    with pytest.raises(StudyError, match=message):
        Studies(RunStore(tmp_path)).plan(**kwargs)
    assert not (tmp_path / "_studies").exists() and RunStore(tmp_path).list() == []


def test_a_plan_shares_everything_but_preset_seed_and_the_varied_setting(tmp_path):
    plan = Studies(RunStore(tmp_path)).plan(["fast", "acgan"], 2, "90s", vary="batch_size=32,64")
    assert len(plan["members"]) == 2 * 2 * 2
    for m in plan["members"]:
        o = m["overrides"]
        assert o["max_seconds"] == 90 and o["eval_seconds"] == 9 and o["study"] == plan["id"]
        assert o["seed"] in (0, 1) and o["batch_size"] in (32, 64)
    assert {m["variant"] for m in plan["members"]} == {
        "fast batch_size=32", "fast batch_size=64", "acgan batch_size=32", "acgan batch_size=64"}
    assert Budget.parse("2000steps") == Budget(steps=2000) and Budget.parse("1.5h") == Budget(seconds=5400)


def test_the_cli_refuses_bad_input_and_creates_nothing(tmp_path):
    proc = cli(tmp_path, "study", "start", "--presets", "fast", "--seeds", "0", "--budget", "5m", check=False)
    assert proc.returncode == 2 and "seeds" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "_studies").exists() and RunStore(tmp_path).list() == []
    proc = cli(tmp_path, "study", "show", "nope", check=False)
    assert proc.returncode == 2 and "no study 'nope'" in proc.stderr


@pytest.fixture(scope="module")
def evaluated_root(tmp_path_factory):
    from gandash import evaluate
    from tests.test_evaluate import TINY

    root = tmp_path_factory.mktemp("runs")
    evaluate.ensure_evaluator("mnist", root, **TINY)
    return root


@pytest.mark.slow
def test_two_presets_two_seeds_give_a_leaderboard_of_two_rows(evaluated_root):
    root = evaluated_root
    study_id = cli(root, "study", "start", "--presets", "fast,mlp-classic", "--seeds", "2", "--budget", "20steps",
                   "--name", "tiny comparison", "--wait", timeout=900).stdout.strip()
    store = RunStore(root)
    studies = Studies(store)
    study = studies.get(study_id)
    assert len(study["members"]) == 4 and all(store.get(m["run"]).config().study == study_id
                                             for m in study["members"])
    for m in study["members"]:
        wait_for(store.get(m["run"]), lambda s: s.get("state") == "finished", timeout=60)
    rows = leaderboard(studies, study)
    assert [r["variant"] for r in rows] == ["fast", "mlp-classic"]
    for r in rows:
        assert r["runs"] == 2 and r["done"] == 2 and r["failed"] == 0
        assert math.isfinite(r["fd"]) and r["fd_min"] <= r["fd"] <= r["fd_max"]
        assert r["images_per_sec"] > 0
    assert math.isfinite(rows[0]["cond_acc"]) and not math.isfinite(rows[1]["cond_acc"])  # only fast is conditional
    assert "has the best FD" in verdict(rows)
    csv_text = cli(root, "study", "show", study_id, "--csv").stdout
    assert csv_text == to_csv(rows) and csv_text.splitlines()[0].startswith("variant,runs,done,failed,fd,")
    shown = cli(root, "study", "show", study_id).stdout
    assert "fast" in shown and "mlp-classic" in shown and "has the best FD" in shown
    assert json.loads(cli(root, "study", "show", study_id, "--json").stdout)["verdict"] == verdict(rows)
    assert study_id in cli(root, "study", "list").stdout
    # the same name again is refused; deleting removes the study and its runs
    again = cli(root, "study", "start", "--presets", "fast", "--seeds", "1", "--budget", "20steps",
                "--name", "tiny comparison", check=False)
    assert again.returncode == 2 and "already exists" in again.stderr
    cli(root, "study", "delete", study_id)
    assert studies.list() == [] and store.list() == []


@pytest.mark.slow
def test_a_study_with_training_runs_cannot_be_deleted(evaluated_root, tmp_path):
    from gandash.evaluate import EVALUATOR_DIRNAME

    (tmp_path / EVALUATOR_DIRNAME).symlink_to(evaluated_root / EVALUATOR_DIRNAME)
    study_id = cli(tmp_path, "study", "start", "--presets", "mlp-classic", "--seeds", "1",
                   "--budget", "10m").stdout.strip()
    store = RunStore(tmp_path)
    run = store.get(Studies(store).get(study_id)["members"][0]["run"])
    wait_for(run, lambda s: s.get("state") == "running")
    proc = cli(tmp_path, "study", "delete", study_id, check=False)
    assert proc.returncode == 2 and "still has 1 run(s)" in proc.stderr and store.list() == [run]
    assert "stopped 1 run(s)" in cli(tmp_path, "study", "stop", study_id).stdout
    cli(tmp_path, "study", "delete", study_id)
    assert store.list() == []


@pytest.mark.slow
def test_a_time_budget_evaluates_at_fractions_of_it_and_evaluating_is_not_training_time(evaluated_root):
    import time

    from gandash.train import train
    from tests.conftest import tiny

    store = RunStore(evaluated_root)
    run = store.create(tiny(steps=100000, max_seconds=6.0, eval_seconds=2.0, log_every=2, checkpoint_every=1000))
    t = time.time()
    assert train(run, install_signal_handlers=False) == "finished"
    elapsed = time.time() - t
    evals = run.eval_rows()
    wall = run.metrics()[-1]["wall_time"]
    assert len(evals) >= 3 and 6.0 <= wall < 8.0  # every 2 s of training, and once at the end
    assert sum(r["seconds"] for r in evals) > 0 and elapsed > wall + sum(r["seconds"] for r in evals) * 0.9
