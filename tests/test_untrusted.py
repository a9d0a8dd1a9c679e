"""Every parser and loader of outside files, tried with Hypothesis: the result is valid, or a clear error
of the project's own type (GandashError); never another exception, and never memory past a bound."""
from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gandash.errors import GandashError
from tests.conftest import tiny

# Derandomised, so a run is repeatable (CI never meets a new case by chance); search wider with e.g.
# GANDASH_FUZZ_EXAMPLES=1000 GANDASH_FUZZ_RANDOM=1 python -m pytest tests/test_untrusted.py
FUZZ = settings(max_examples=int(os.environ.get("GANDASH_FUZZ_EXAMPLES", "60")), deadline=None,
                derandomize=not os.environ.get("GANDASH_FUZZ_RANDOM"), suppress_health_check=list(HealthCheck),
                database=None)

# the keys the run files use, so that generated objects reach the code that reads them
KEYS = ["state", "step", "total", "updated", "backend", "attempt", "format", "error", "alerts", "kind", "message",
        "last_step", "ongoing", "remedies", "label", "changes", "why", "order", "boot", "line", "vouched", "slots",
        "gpus", "pid", "host", "role", "id", "name", "budget", "presets", "members", "seeds", "vary", "run",
        "variant", "preset", "overrides", "dataset", "architecture", "lost", "created", "images_per_sec",
        "device", "epoch", "queue_position", "budget_steps", "budget_seconds", "seed", "d_lr", "title"]
SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=12)
           | st.sampled_from(["running", "queued", "finished", "diverged", "lost", "mode_collapse", "local", "ray"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=6), max_leaves=24)


def _mutate(base: dict, data) -> object:
    """A valid record with one value replaced (or one key dropped), or anything at all."""
    choice = data.draw(st.integers(0, 3))
    if choice == 0:
        return data.draw(JSON)
    key = data.draw(st.sampled_from(sorted(base)))
    out = dict(base)
    if choice == 1:
        out.pop(key)
    else:
        out[key] = data.draw(JSON)
    return out


def _cli(root: Path, *argv: str) -> tuple[int, str]:
    from gandash.__main__ import _parser
    from gandash.cli import run_command

    args = _parser().parse_args(["--runs-dir", str(root), *argv])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = run_command(args)
    return code, out.getvalue()


def _two_runs(root: Path):
    """A runs folder with a finished run (the one damaged) and a healthy queued one beside it."""
    from gandash.store.runs import RunStore

    store = RunStore(root)
    damaged, other = store.create(tiny()), store.create(tiny())
    damaged.write_status(state="finished", step=3, total=3)
    damaged.health_path.write_text(json.dumps({"step": 3, "alerts": [
        {"kind": "mode_collapse", "message": "m", "step": 1, "last_step": 3, "ongoing": True,
         "remedies": [{"label": "l", "changes": {"d_lr": 0.0001}, "why": "w"}]}]}))
    damaged.metrics_path.write_text("step,wall_time,d_loss,g_loss,images_per_sec\n1,0.5,0.7,0.7,100\n")
    damaged.eval_path.write_text("step,fd,confidence\n3,40.0,0.5\n")
    return store, damaged, other


def _every_reader_survives(store, damaged, other) -> None:
    """The CLI and the Runs page's table read the folder; the other run is always listed."""
    from gandash.quality import health
    from gandash.ui.runs_table import row_of

    for argv in (["runs"], ["runs", "--json"], ["queue", "--json"], ["study", "list"]):
        code, out = _cli(store.root, *argv)
        assert code == 0, argv
        if argv[0] == "runs":
            assert other.id in out
    code, _ = _cli(store.root, "status", damaged.id)
    assert code in (0, 2)
    for run in (damaged, other):
        row = row_of(run)
        assert row["run"] == run.id
        for a in health.read(run):
            assert isinstance(a.title, str) and isinstance(a.message, str)


JSON_FILES = {
    "status": lambda run: run.status_path,
    "config": lambda run: run.config_path,
    "health": lambda run: run.health_path,
    "ticket": lambda run: run.ticket_path,
    "line": lambda run: run.line_path,
    "ray": lambda run: run.backend_path("ray"),
    "local": lambda run: run.backend_path("local"),
    "queue settings": lambda run: run.queue_dir / "settings.json",
    "queue devices": lambda run: run.queue_dir / "devices.json",
}


@FUZZ
@given(which=st.sampled_from(sorted(JSON_FILES)), data=st.data())
def test_a_damaged_json_run_file_never_crashes_a_reader_or_hides_other_runs(which, data):
    with tempfile.TemporaryDirectory() as tmp:
        store, damaged, other = _two_runs(Path(tmp) / "runs")
        path = JSON_FILES[which](damaged)
        base = json.loads(path.read_text()) if path.exists() else {"state": "queued", "order": 1.0, "slots": 1}
        value = _mutate(base if isinstance(base, dict) else {}, data)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value, allow_nan=True))
        _every_reader_survives(store, damaged, other)


@pytest.mark.parametrize("which,content", [
    ("health", {"alerts": [1]}),
    ("health", {"alerts": [{"kind": "from_a_newer_version", "message": "m", "step": 1, "last_step": 2,
                            "ongoing": True, "remedies": [{"label": "l", "changes": {"no_such": 1}, "why": "w"}]}]}),
    ("health", {"alerts": {"kind": "mode_collapse"}}),
    ("status", {"state": "running", "step": "many", "updated": "now"}),
    ("ray", {"vouched": [1, 2]}),
    ("line", {"line": {"a": 1}}),
    ("ticket", {"order": "first", "kind": 3, "boot": None}),
])
def test_the_damaged_files_found_so_far_are_read_without_a_crash(tmp_path, which, content):
    from gandash.quality import health

    store, damaged, other = _two_runs(tmp_path / "runs")
    path = JSON_FILES[which](damaged)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    _every_reader_survives(store, damaged, other)
    if which == "health":
        titles = [a.title for a in health.read(damaged)]
        assert len(titles) == 1 and ("damaged" in titles[0] or "Unknown alert" in titles[0])


@FUZZ
@given(which=st.sampled_from(["status.json", "config.json", "health.json", "metrics.csv", "eval.csv",
                              "trainer.lock"]),
       content=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_a_run_file_of_any_bytes_never_crashes_a_reader(which, content):
    with tempfile.TemporaryDirectory() as tmp:
        store, damaged, other = _two_runs(Path(tmp) / "runs")
        (damaged.dir / which).write_bytes(content)
        _every_reader_survives(store, damaged, other)


_REQUEST = st.dictionaries(st.sampled_from(["seq", "action", "n", "only", "slow", "x"]),
                           st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8))


@FUZZ
@given(content=st.binary(max_size=300) | st.text(max_size=300).map(str.encode)
       | (_REQUEST | st.lists(_REQUEST | st.integers(), max_size=4)).map(
           lambda d: json.dumps(d, allow_nan=True).encode()),
       seq=st.none() | st.integers() | st.floats() | st.text(max_size=5))
def test_teach_files_of_any_content_are_read_as_nothing_asked_or_a_valid_request(content, seq):
    """control.json (what a reader asks the trainer), status.json's answer, a grid's D scores: never a crash."""
    from gandash.explore import training_map
    from gandash.store import control

    with tempfile.TemporaryDirectory() as tmp:
        store, damaged, other = _two_runs(Path(tmp) / "runs")
        control.path(damaged).write_bytes(content)
        damaged.samples_dir.mkdir(exist_ok=True)
        training_map.scores_path(damaged, 3).write_bytes(content)
        damaged.write_status(control_seq=seq, control_error=seq, slow=seq, last_request=seq)
        req = control.read(damaged)
        assert req is None or (req.action in control.ACTIONS and req.only in control.ONLY and 0 <= req.slow)
        scores = training_map.read_scores(damaged, 3)
        assert scores is None or (scores["fake"].ndim == 1 and np.isfinite(scores["real"]).all())
        assert control.answered(damaged.status()) >= 0 and control.Inbox(damaged).pending() is None
        _every_reader_survives(store, damaged, other)


_JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                    max_size=4), max_leaves=12)


@FUZZ
@given(content=st.binary(max_size=300) | st.text(max_size=300).map(str.encode)
       | st.lists(st.dictionaries(st.sampled_from(["page", "params", "title", "anchor", "x"]), _JSONISH), max_size=4)
       .map(lambda views: json.dumps({"views": views}, allow_nan=True).encode()))
def test_a_deck_file_of_any_content_gives_views_that_open_as_plain_addresses(content):
    """A talk's deck (shared between machines, edited by hand): well-formed views or none, never a crash, and each
    view's address is a relative path and an encoded query, nothing else."""
    from urllib.parse import urlparse

    from gandash.talks import deck

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / deck.DECKS_DIR).mkdir()
        (Path(tmp) / deck.DECKS_DIR / "t.json").write_bytes(content)
        for v in deck.load(Path(tmp), "t"):
            url = urlparse(v.url("runs", slide="2"))
            assert not url.scheme and not url.netloc and url.path in ("./", f"./{v.page}") and v.page.isalpha()
            assert all(c.isalnum() or c in "%+=&._-~" for c in url.query) and "<" not in v.url("runs")


@FUZZ
@given(data=st.data())
def test_a_damaged_study_file_is_listed_as_damaged_and_never_crashes(data):
    from gandash.studies import study as S

    with tempfile.TemporaryDirectory() as tmp:
        store, damaged, other = _two_runs(Path(tmp) / "runs")
        studies = S.Studies(store)
        plan = studies.plan(["fast"], 1, "20s", name="s")
        plan["members"][0]["run"] = damaged.id
        studies.dir.mkdir(parents=True)
        value = _mutate(plan, data)
        if isinstance(value, dict) and data.draw(st.booleans()) and isinstance(value.get("members"), list):
            value["members"] = [_mutate(plan["members"][0], data)]
        studies.path(plan["id"]).write_text(json.dumps(value, allow_nan=True))
        code, out = _cli(store.root, "study", "list")
        assert code == 0 and plan["id"] in out
        for argv in (["show", plan["id"]], ["show", plan["id"], "--json"], ["show", plan["id"], "--csv"],
                     ["show", plan["id"], "--html", str(Path(tmp) / "r.html")]):
            code, _ = _cli(store.root, "study", *argv)
            assert code in (0, 2), argv
        _every_reader_survives(store, damaged, other)


# -- the parsers of what users type ---------------------------------------------------------------
@FUZZ
@example("1.2.3m")
@example("1" * 400)
@example("1e+06steps")
@given(text=st.text(max_size=60) | st.from_regex(r"\s*-?[0-9.e+]{1,30}\s*(s|m|h|min|steps?)?\s*", fullmatch=True))
def test_a_budget_is_parsed_or_refused_clearly(text):
    from gandash.studies.study import Budget, StudyError

    try:
        b = Budget.parse(text)
    except StudyError:
        return
    assert (0 < b.steps <= 10_000_000 and b.seconds == 0) or (b.steps == 0 and 0 < b.seconds <= 30 * 86400)


@FUZZ
@given(amount=st.floats(0.001, 1e7), unit=st.sampled_from(["s", "m", "steps"]))
def test_the_study_forms_budget_text_parses_to_the_amount_typed(amount, unit):
    from gandash.studies.study import Budget, StudyError, plain_number

    text = f"{plain_number(amount)}{unit}"
    try:
        b = Budget.parse(text)
    except StudyError as e:
        assert "whole number" in str(e) or "30 days" in str(e) or "steps up to" in str(e), text
        return
    got = b.steps if unit == "steps" else b.seconds / {"s": 1, "m": 60}[unit]
    assert got == pytest.approx(amount, rel=1e-6, abs=1e-6)


@FUZZ
@given(key=st.sampled_from(["d_lr", "batch_size", "architecture", "spectral_norm", "steps", "seed", "nope"])
       | st.text(max_size=12), value=st.text(max_size=30))
def test_a_setting_is_parsed_or_refused_clearly(key, value):
    from gandash.config import make_config, parse_value

    try:
        make_config("fast", {key: parse_value(key, value)})
    except GandashError:
        pass


@FUZZ
@given(vary=st.text(max_size=40) | st.builds(lambda f, v: f"{f}={v}", st.sampled_from(["d_lr", "seed", "width"]),
                                             st.text(max_size=30)))
def test_vary_is_parsed_or_refused_clearly(vary):
    from gandash.store.runs import RunStore
    from gandash.studies.study import Studies

    with tempfile.TemporaryDirectory() as tmp:
        try:
            plan = Studies(RunStore(tmp)).plan(["fast"], 1, "10s", vary=vary)
        except GandashError:
            return
        assert len(plan["members"]) == 1 if vary == "" else 2 <= len(plan["members"]) <= 5


# -- datasets and images --------------------------------------------------------------------------
DTYPES = st.sampled_from(["uint8", "int8", "int16", "int64", "float16", "float32", "float64", "bool",
                          "complex64", "U3", "V4"])


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


@FUZZ
@example(dtype="uint8", shape=[2, 28, 28], names=["images.npy", "images"], labels=None, junk=bytes(64))
@example(dtype="float64", shape=[3, 30, 30, 3], names=["images.npy", "labels.npy"], labels=[1, 2, 3], junk=b"")
@given(dtype=DTYPES, shape=st.lists(st.integers(0, 40), min_size=0, max_size=5),
       names=st.lists(st.sampled_from(["images.npy", "images", "labels.npy", "labels", "x.npy"]), min_size=1,
                      max_size=3),
       labels=st.none() | st.lists(st.integers(-3, 12), max_size=40), junk=st.binary(max_size=64))
def test_an_npz_loads_or_is_refused_clearly(dtype, shape, names, labels, junk):
    from gandash.engine.data import DataError, load_custom

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.npz"
        with zipfile.ZipFile(path, "w") as zf:
            for i, name in enumerate(names):
                if name.startswith("labels") and labels is not None:
                    zf.writestr(name, _npy(np.asarray(labels, np.int64)))
                elif i == len(names) - 1 and junk:
                    zf.writestr(name, junk)
                else:
                    try:
                        arr = (rng.random(shape) * 300).astype(dtype)
                    except (TypeError, ValueError):
                        arr = np.zeros(shape, "uint8")
                    zf.writestr(name, _npy(arr))
        try:
            ds = load_custom(path, 28)
        except DataError:
            return
    assert ds.images.dtype == np.uint8 and ds.images.shape[1:] == (28, 28) and len(ds.images) > 0
    assert ds.labels is None or (ds.labels.shape == (len(ds.images),) and ds.labels.min() >= 0
                                 and ds.labels.max() <= 9)


@FUZZ
@given(content=st.binary(max_size=400), mode=st.sampled_from(["L", "RGB", "RGBA", "1", "P", "I", "F"]),
       size=st.tuples(st.integers(1, 60), st.integers(1, 60)), fmt=st.sampled_from(["PNG", "JPEG", "GIF", "junk"]))
def test_an_image_or_folder_loads_or_is_refused_clearly(content, mode, size, fmt):
    from PIL import Image

    from gandash.engine.data import DataError, load_custom
    from gandash.explore.inversion import InversionError, read_image

    buf = io.BytesIO()
    if fmt == "junk":
        buf.write(content)
    else:
        try:
            Image.new(mode, size).save(buf, format=fmt)
        except (OSError, ValueError, KeyError):
            buf.write(content)
    data = buf.getvalue()
    try:
        gray = read_image(data)
        assert gray.ndim == 2
    except InversionError:
        pass
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "a.png").write_bytes(data)
        try:
            ds = load_custom(tmp, 28)
            assert ds.images.shape == (1, 28, 28)
        except DataError:
            pass


# -- the crafted files: each ends in one clear error, within a memory bound ------------------------
def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _zip_member(zf: zipfile.ZipFile, name: str, header: bytes, zeros: int) -> None:
    with zf.open(zipfile.ZipInfo(name), "w", force_zip64=True) as f:
        f.write(header)
        chunk = bytes(1 << 20)
        for _ in range(zeros >> 20):
            f.write(chunk)


def _npy_header(shape, dtype) -> bytes:
    from numpy.lib import format as npy

    buf = io.BytesIO()
    npy.write_array_header_1_0(buf, {"descr": npy.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                                     "shape": shape})
    return buf.getvalue()


@pytest.mark.parametrize("case", ["shadow member of zeros", "shadow npy declaring 0.8 GB", "int8 190000x64x64"])
def test_the_crafted_datasets_end_in_one_clear_error_without_the_memory_they_declare(tmp_path, case):
    from gandash.engine.data import DataError, load_custom

    path = tmp_path / "crafted.npz"
    small = _npy(np.zeros((4, 28, 28), np.uint8))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        if case == "shadow member of zeros":  # numpy reads the bare member, which nothing checked
            zf.writestr("images.npy", small)
            _zip_member(zf, "images", b"", 64 << 20)
        elif case == "shadow npy declaring 0.8 GB":
            zf.writestr("images", small)
            _zip_member(zf, "images.npy", _npy_header((200_000, 64, 64), "uint8"), 0)
        else:
            _zip_member(zf, "images.npy", _npy_header((190_000, 64, 64), "int8"), 0)
    before = _rss_mib()
    with pytest.raises(DataError) as e:
        load_custom(path, 28)
    assert _rss_mib() - before < 200, "the refusal must come before the memory is used"
    assert len(str(e.value).splitlines()) == 1
    assert ("would both load" in str(e.value)) == case.startswith("shadow")
