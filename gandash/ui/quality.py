"""Quality metrics from the evaluator classifier, and a plain word when they are not there yet."""
from __future__ import annotations

from typing import Any

import streamlit as st

from gandash.explore import plots
from gandash.quality.evaluate import PROBE_N
from gandash.store.runs import Run
from gandash.ui import common

BUILT_IN = ("mnist", "fashion_mnist")
HOW_TO = ("Quality metrics come from a small digit classifier (the evaluator). To get them, start a run "
          "with `eval_every` > 0 (Schedule group on the Train page) or run `python -m gandash eval RUN_ID`.")


def evaluator_state(dataset: str) -> dict[str, Any]:
    """``{state, accuracy, error}``; state ``unavailable`` when the evaluator code is missing or fails."""
    ev = common.evaluator()
    if ev is None or not hasattr(ev, "evaluator_status"):
        return {"state": "unavailable", "error": "the evaluation module is not part of this installation yet"}
    try:
        status = ev.evaluator_status(dataset, common.store().root)
        return dict(status) if isinstance(status, dict) else {"state": "unavailable", "error": "no status"}
    except Exception as e:  # noqa: BLE001 - a broken evaluator must not break the page
        return {"state": "unavailable", "error": f"{type(e).__name__}: {e}"}


def evaluator_notice(dataset: str, key: str) -> bool:
    """Explain the evaluator's state and offer to train it; True when it is ready to use."""
    if dataset not in BUILT_IN:
        st.info("Quality metrics need the evaluator classifier, which exists for MNIST and Fashion-MNIST only.")
        return False
    status = evaluator_state(dataset)
    state = status.get("state")
    if state == "ready":
        acc = status.get("accuracy")
        if isinstance(acc, (int, float)):
            origin = "the one shipped with gandash" if status.get("shipped") else "trained in this runs folder"
            st.caption(f"Evaluator for {dataset} ready: {origin} (test accuracy {acc:.1%}).")
        return True
    if state == "unavailable":
        st.info(f"Quality metrics are not available yet: {status.get('error')}. {HOW_TO}")
    elif state == "training":
        training_progress(dataset)
    elif state == "failed":
        st.error(f"Training the evaluator for {dataset} failed: {status.get('error') or 'unknown error'}")
    if state in ("missing", "failed") and not common.presenting():
        st.info(f"The evaluator classifier for {dataset} has not been trained yet (a few minutes on a laptop CPU, "
                "once per runs folder).")
        if st.button("Train the evaluator", key=f"train_eval_{key}", icon=":material/school:"):
            try:
                pid = common.evaluator().start_evaluator_training(dataset, common.store().root)
                st.success(f"Evaluator training started (process {pid}).")
            except Exception as e:  # noqa: BLE001 - report, never crash the page
                st.error(f"Could not start the evaluator training: {e}")
    return False


def training_progress(dataset: str) -> None:
    """The evaluator's training progress, refreshed until it is ready (then the page redraws)."""

    @st.fragment(run_every=3.0)
    def bar() -> None:
        status = evaluator_state(dataset)
        if status.get("state") != "training":
            st.rerun()
        frac = float(status.get("progress") or 0.0)
        st.progress(min(max(frac, 0.0), 1.0),
                    text=f"Training the evaluator classifier for {dataset}: {status.get('message') or '…'}")

    bar()


def evaluate_now(run: Run) -> None:
    """Score the run's latest checkpoint right away (a few seconds for 2,000 samples)."""
    if common.presenting() or not run.generator_path.exists():
        return
    if st.button("Evaluate the latest checkpoint now (2,000 samples)", key=f"eval_now_{run.id}",
                 icon=":material/analytics:"):
        try:
            with st.spinner("Generating and scoring 2,000 samples…"):
                common.evaluator().evaluate_run(run, n=2000)
        except Exception as e:  # noqa: BLE001 - an evaluation failure is reported, never a crash
            st.error(f"Evaluation failed: {e}")
        else:
            st.rerun()


def eval_panel(run: Run, dataset: str) -> None:
    """Metric curves and the latest digit histogram of one run, or why there are none."""
    rows = run.eval_rows()
    big = common.presenting()
    if not rows:
        if evaluator_notice(dataset, run.id):
            st.info("No quality metrics for this run yet. " + HOW_TO)
            evaluate_now(run)
        return
    if all(r.get("n") == PROBE_N for r in rows) and not big:
        st.caption(f"These are the health probe's quick looks at the images ({PROBE_N} samples every `probe_every` "
                   f"steps, for the health alerts): FD from {PROBE_N} samples reads higher than from 2,000, and "
                   f"real data's column is scored on more. Evaluate now for a full figure, or set `eval_every`.")
    if len(rows) > 1:  # one evaluation is a table, not a curve
        common.chart(plots.eval_figure(rows, big=big), f"eval_{run.id}")
    last = rows[-1]
    ref = reference(dataset)
    c1, c2 = st.columns([3, 2])
    title = f"Digits generated at step {int(last.get('step', 0)):,}"
    ref_hist = plots.eval_histogram(ref) if ref and any(f"hist_{d}" in ref for d in range(10)) else None
    common.chart(plots.digit_histogram_figure(plots.eval_histogram(last), title=title, reference=ref_hist,
                                              big=big), f"hist_{run.id}", c1)
    with c2:
        st.markdown(metrics_table(last, ref))
        evaluate_now(run)


def metrics_table(row: dict, ref: dict | None) -> str:
    """The latest metrics next to what real images score (a markdown table)."""
    lines = ["| metric | this run | real data |", "|---|---:|---:|"]
    for name in plots.EVAL_COLUMNS:
        value = row.get(name)
        if not isinstance(value, float) or value != value:
            continue
        better = "↓" if name in plots.LOWER_IS_BETTER else "↑"
        real = ref.get(name) if ref else None
        real_text = f"{real:.3g}" if isinstance(real, (int, float)) else "–"
        lines.append(f"| {plots.label(name)} {better} | {value:.3g} | {real_text} |")
    return "\n".join(lines) + f"\n\n{int(row.get('n', 0)):,} samples; ↓ lower is better, ↑ higher is better."


@st.cache_data(ttl=3600, show_spinner=False)
def _reference(dataset: str, root: str) -> dict[str, float]:
    return dict(common.evaluator().reference_metrics(dataset, root))


def reference(dataset: str) -> dict[str, float] | None:
    """Real data's metrics, once the evaluator is ready (never trains it from here)."""
    if evaluator_state(dataset).get("state") != "ready" or not hasattr(common.evaluator(), "reference_metrics"):
        return None
    try:
        return _reference(dataset, str(common.store().root))
    except Exception:  # noqa: BLE001 - the reference is a nice-to-have next to the run's numbers
        return None
