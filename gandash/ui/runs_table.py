"""The Runs page's compact table: sortable columns, a row per run, several runs compared, stopped or deleted at once."""
from __future__ import annotations

import math
from typing import Any

import streamlit as st

from gandash.backends import launcher
from gandash.quality import health
from gandash.store.runs import ACTIVE_STATES, Run, RunError
from gandash.ui import common
from gandash.ui.nav import page


def row_of(run: Run) -> dict[str, Any]:
    """One run as table cells: numbers stay numbers, so the columns sort as numbers."""
    status = run.status()
    try:
        cfg = run.config()
        name, arch, study = cfg.name, cfg.architecture, cfg.study
    except RunError:
        name, arch, study = "(damaged config)", "?", ""
    evals = run.eval_rows()
    last = evals[-1] if evals else {}
    state = "lost" if status.get("lost") else str(status.get("state", "?"))
    if state == "queued" and status.get("queue_position"):
        state = f"queued #{status['queue_position']}"
    ips = status.get("images_per_sec")
    alerts = health.read(run, status)
    return {"state": state, "health": "⚠ " + ", ".join(a.title.lower() for a in alerts) if alerts else "ok",
            "study": study or "", "name": name, "architecture": arch,
            "steps": int(status.get("step") or 0),
            "images/s": float(ips) if isinstance(ips, (int, float)) and math.isfinite(ips) else None,
            "FD": last.get("fd"), "confidence": last.get("confidence"),
            "device": status.get("device", ""), "run": run.id}


def runs_table(runs: list[Run]) -> None:
    """The table, then what can be done with the selected rows."""
    import pandas as pd

    if not runs:
        st.info("No run matches these filters.")
        return
    df = pd.DataFrame([row_of(r) for r in runs])
    picked = st.dataframe(
        df, key="runs_table", on_select="rerun", selection_mode="multi-row", hide_index=True,
        column_config={"steps": st.column_config.NumberColumn(format="%d"),
                       "images/s": st.column_config.NumberColumn(format="%.0f"),
                       "FD": st.column_config.NumberColumn(format="%.2f"),
                       "confidence": st.column_config.NumberColumn(format="%.3f")})
    st.caption("Click a column's header to sort by it; tick rows to act on several runs at once.")
    chosen = [df.iloc[i]["run"] for i in picked.selection.rows if i < len(df)]
    if common.presenting() or not chosen:
        return
    by_id = {r.id: r for r in runs}
    selected = [by_id[i] for i in chosen if i in by_id]
    active = [r for r in selected if r.status().get("state") in ACTIVE_STATES]
    row = st.container(horizontal=True)
    if row.button(f"Compare {len(selected)}", icon=":material/compare:", key="tbl_compare",
                  disabled=len(selected) < 2, help="Open these runs side by side on the Compare page."):
        st.switch_page(page("compare"), query_params={"runs": ",".join(r.id for r in selected)})
    if active and row.button(f"Stop {len(active)} active", icon=":material/stop:", key="tbl_stop"):
        st.session_state["tbl_confirm"] = ("stop", [r.id for r in active])
    if row.button(f"Delete {len(selected)}", icon=":material/delete:", key="tbl_delete"):
        st.session_state["tbl_confirm"] = ("delete", [r.id for r in selected])
    confirm()


def confirm() -> None:
    """One confirmation for a bulk action; nothing happens before it."""
    pending = st.session_state.get("tbl_confirm")
    if not pending:
        return
    action, ids = pending
    store = common.store()
    if action == "stop":
        st.warning(f"Stop {len(ids)} run(s)? Each saves a checkpoint first; queued ones leave the queue.")
    else:
        training = sum(1 for i in ids if _trainer(store, i))
        extra = f" {training} of them still train and will be stopped first." if training else ""
        st.warning(f"Delete {len(ids)} run(s) with their checkpoints, samples and metrics?{extra} "
                   "This cannot be undone.")
    row = st.container(horizontal=True)
    if row.button(f"Yes, {action} {len(ids)}", type="primary", key="tbl_yes"):
        st.session_state.pop("tbl_confirm", None)
        done, errors = 0, []
        with st.spinner(f"{action.capitalize()}ping {len(ids)} run(s)…" if action == "stop" else "Deleting…"):
            for run_id in ids:
                try:
                    run = store.get(run_id)
                    if action == "stop":
                        launcher.stop(run, wait=0)
                    elif run.trainer() is not None:
                        launcher.stop_then_delete(store, run)
                    else:
                        store.delete(run_id)
                    done += 1
                except (RunError, OSError) as e:
                    errors.append(f"{run_id}: {e}")
        verb = "Stop requested for" if action == "stop" else "Deleted"
        st.session_state["runs_flash"] = ("err", "; ".join(errors)) if errors else ("ok", f"{verb} {done} run(s).")
        st.rerun(scope="app")
    if row.button("Cancel", key="tbl_no"):
        st.session_state.pop("tbl_confirm", None)
        st.rerun(scope="app")


def _trainer(store, run_id: str) -> bool:
    try:
        return store.get(run_id).trainer() is not None
    except RunError:
        return False
