"""Studies: compare architectures at equal compute — the form, the live view, the leaderboard, exports."""
from __future__ import annotations

import math
from typing import Any

import streamlit as st

from gandash import backends
from gandash.config import DEFAULT_PRESET, FIELD_TYPES, PRESETS
from gandash.explore import plots
from gandash.store.runs import ACTIVE_STATES, RunError
from gandash.studies import study as S
from gandash.ui import common, quality

UNITS = {"minutes": "m", "seconds": "s", "steps": "steps"}
CURVE_METRICS = ("confidence", "fd", "rarest_share", "cond_acc", "precision", "recall")
NO_VARY = "(none)"


def render() -> None:
    st.title("Compare architectures")
    studies = S.Studies(common.store())
    items = studies.list()
    flash = st.session_state.pop("study_flash", None)
    if flash:
        st.success(flash)
    for study_id, why in studies.damaged():
        st.warning(f"Study {study_id} cannot be shown: its file is damaged ({why}).", icon=":material/warning:")
    if not common.presenting():
        with st.expander("New study: the same budget for each preset, repeated over seeds", expanded=not items,
                         icon=":material/add_chart:"):
            new_study(studies)
    if not items:
        st.info("No study yet. Tick two or more presets above, choose seeds and a budget, and press Start: "
                "the runs queue up, train one slot at a time, and are ranked here.")
        return
    study = pick_study(items)
    if study is not None:
        study_view(studies, study["id"])


def new_study(studies: S.Studies) -> None:
    st.markdown("**Presets** (1 to 6)")
    cols = st.columns(4)
    ticked = [name for i, name in enumerate(PRESETS)
              if cols[i % 4].checkbox(name, value=name in (DEFAULT_PRESET, "acgan"), key=f"st_p_{name}")]
    c = st.columns(4)
    seeds = c[0].number_input("Seeds per preset", 1, S.MAX_SEEDS, 3, key="st_seeds",
                              help="Each preset is trained with seeds 0, 1, …: one lucky run cannot decide.")
    amount = c[1].number_input("Budget", min_value=0.0, value=5.0, step=1.0, format="%g", key="st_amount",
                               help="The same for every run: training time (the queue's seconds in a slot, "
                                    "not counting start-up and evaluation) or steps.")
    unit = c[2].selectbox("Unit", list(UNITS), key="st_unit")
    dataset = c[3].selectbox("Dataset", list(quality.BUILT_IN), key="st_dataset")
    c = st.columns([1, 2, 2])
    field = c[0].selectbox("Vary one setting (optional)", [NO_VARY] + sorted(set(FIELD_TYPES) - set(S.VARIED)),
                           key="st_vary_field")
    values = c[1].text_input("Its values, comma-separated (2 to 5)", key="st_vary_values",
                             placeholder="e.g. 1e-4, 2e-4", disabled=field == NO_VARY)
    name = c[2].text_input("Study name (optional)", key="st_name", max_chars=80)
    budget = f"{S.plain_number(amount)}{UNITS[unit]}"
    vary = f"{field}={values}" if field != NO_VARY else ""
    try:
        plan = studies.plan(ticked, int(seeds), budget, vary=vary, name=name, dataset=dataset)
    except S.StudyError as e:
        st.warning(f"Cannot start yet: {e}")
        plan = None
    backend = common.backend_choice("st_backend")
    if plan:
        slots = S.study_slots(studies, {**plan, "backend": backend}, [])
        where = (f"in a queue of {slots} slot(s)" if backend == "local"
                 else f"on the {backends.LABELS[backend]}, which has room for {slots} at once")
        n = len(plan["members"])
        total = S.estimate_seconds(plan, slots)
        when = (f"about {common.fmt_duration(total)} in all" if math.isfinite(total)
                else "a time that depends on each preset's speed (a budget in steps)")
        st.markdown(f"**{n} runs** of {S.Budget.parse(budget).describe()} each, {where}: "
                    f"{when}, counting each run's start-up (~{S.STARTUP_S:.0f} s) and its evaluations: "
                    f"{S.Budget.parse(budget).describe_evaluations()}.")
    ready = quality.evaluator_notice(dataset, "study")
    if st.button("Start the study", type="primary", icon=":material/play_arrow:", key="st_start",
                 disabled=plan is None or not ready):
        try:
            started = studies.start(plan, backend=backend)
        except (S.StudyError, RunError, OSError) as e:
            st.error(f"The study could not be started: {e}")
            return
        st.session_state["study_flash"] = f"Study {started['id']} started: {len(started['members'])} runs queued."
        st.session_state["st_pick"] = started["id"]
        st.query_params["study"] = started["id"]
        st.rerun()


def pick_study(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    ids = [s["id"] for s in items]
    wanted = st.query_params.get("study")
    if wanted in ids and st.session_state.get("st_pick") != wanted and "st_pick_synced" not in st.session_state:
        st.session_state["st_pick"] = wanted
    st.session_state["st_pick_synced"] = True
    if st.session_state.get("st_pick") not in ids:
        st.session_state["st_pick"] = ids[0]
    names = {s["id"]: s.get("name", s["id"]) for s in items}
    where = st.sidebar if common.presenting() else st
    chosen = where.selectbox("Study", ids, key="st_pick", format_func=lambda i: f"{names[i]} · {i}")
    if st.query_params.get("study") != chosen:
        st.query_params["study"] = chosen
    return next(s for s in items if s["id"] == chosen)


def study_view(studies: S.Studies, study_id: str) -> None:
    try:
        study = studies.get(study_id)
    except S.StudyError as e:
        st.error(str(e))
        return
    live = S.progress(studies, study)["done"] < len(study.get("members", []))

    @st.fragment(run_every=common.LIVE_REFRESH_S * 2 if live else None)
    def body() -> None:
        try:
            current = studies.get(study_id)
        except S.StudyError as e:
            st.error(str(e))
            return
        p = S.progress(studies, current)
        if live and p["done"] >= p["total"]:
            st.rerun()  # finished: redraw once without the timer
        header(current, p)
        rows, comparisons = S.analysis(studies, current)
        st.markdown(f"### {common.plain(S.verdict(rows, comparisons))}")
        st.caption(common.plain(S.fairness(studies, current)))
        leaderboard_table(rows)
        decisions(comparisons)
        curves(studies, current)
        grids(studies, current)
        if not common.presenting():
            exports(studies, current, rows)
            members(studies, current)

    body()


def header(study: dict[str, Any], p: dict[str, Any]) -> None:
    budget = S.Budget.parse(study["budget"]).describe()
    vary = "".join(f" × {k} in {', '.join(map(str, v))}" for k, v in (study.get("vary") or {}).items())
    st.markdown(f"**{common.plain(study['name'])}** on {study.get('dataset')}: "
                f"{len(study.get('presets', []))} preset(s) × {study.get('seeds')} seed(s){common.plain(vary)}, "
                f"{budget} per run")
    frac = p["done"] / max(1, p["total"])
    text = f"{p['done']} of {p['total']} runs done"
    if p["done"] < p["total"]:
        eta = p["eta_seconds"]
        if p["paused"]:
            text += f" · {p['paused']} paused: no ETA until {'it continues' if p['paused'] == 1 else 'they continue'}"
        elif math.isfinite(eta):
            text += f" · about {common.fmt_duration(eta)} to go"
        else:
            text += " · ETA unknown (steps budget)"
    st.progress(frac, text=text)


def leaderboard_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        st.info("No member run exists any more.")
        return
    import pandas as pd

    table = pd.DataFrame([{"variant": r["variant"], "runs": f"{r['done']}/{r['runs']} done",
                           "failed or diverged": r["failed"],
                           **{title: S.cell(r, key) for key, title, _ in S.COLUMNS}} for r in rows])
    table = table.set_index("variant")
    table = table[[c for c in table.columns if not (table[c] == "–").all()]]  # e.g. per-digit acc for none
    titles = {key: title for key, title, _ in S.COLUMNS}
    best = {titles[key]: variant for key, variant in S.best_by_column(rows).items()}

    def mark(col):
        return ["background-color: #c8f7c5; font-weight: bold" if best.get(col.name) == v else "" for v in col.index]

    st.dataframe(table.style.apply(mark), key="st_table")
    st.caption("Mean over seeds ± the half-width of its 95 % interval (Student's t; with one seed, the run's "
               "sampling error), then (min–max). Best mean of each column in green: lowest FD, KID and time, "
               f"highest for the rest. Time to confidence {S.REACH_CONFIDENCE} is the training time of the first "
               "in-training evaluation that reached it. FD and KID: the last evaluation's samples (2,000) in the "
               "evaluator's features; real test digits score FD about 1.")


def decisions(comparisons: list[dict[str, Any]]) -> None:
    """Which variant is better on each headline metric, only where the data can tell."""
    if not comparisons:
        return
    from gandash.studies import compare

    st.markdown("**Which differences are real**")
    st.dataframe(compare.table(comparisons), hide_index=True, key="st_decisions")
    st.caption(compare.TESTS_NOTE)


def curves(studies: S.Studies, study: dict[str, Any]) -> None:
    metric = st.selectbox("Quality against training time", CURVE_METRICS, format_func=plots.label,
                          key=f"st_metric_{study['id']}")
    data = S.quality_over_time(studies, study, metric)
    common.chart(plots.band_figure(data, metric, big=common.presenting()), f"st_curve_{study['id']}")


def grids(studies: S.Studies, study: dict[str, Any]) -> None:
    st.subheader("Samples at the same training time")
    times = S.grid_times(studies, study)
    if not times:
        st.info("No grids saved yet: the first appear when a run starts training.")
        return
    at = times[-1] if len(times) == 1 else st.select_slider(
        "Training time", times, value=times[-1], key=f"st_time_{study['id']}", format_func=lambda t: f"{t:.0f} s")
    firsts: dict[str, Any] = {}
    for member, run in studies.runs(study):
        if run is not None:
            firsts.setdefault(member["variant"], run)  # the lowest seed of each variant
    shown = list(firsts.items())[:6]
    cols = st.columns(len(shown))
    for col, (variant, run) in zip(cols, shown):
        with col:
            st.markdown(f"**{common.plain(variant)}**")
            found = S.grid_at(run, at)
            if found is None:
                st.caption("no grid by this time yet")
                continue
            common.show_image(common.read_png(run.sample_path(found[0])),
                              caption=f"step {found[0]:,} at {found[1]:.0f} s", scale=1 if len(shown) > 3 else 2)


def exports(studies: S.Studies, study: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    from gandash.studies.report import study_html

    row = st.container(horizontal=True)  # buttons take the width of their labels
    row.download_button("Table as CSV", S.to_csv(rows), file_name=f"{study['id']}.csv", mime="text/csv",
                         icon=":material/download:", key="st_csv", on_click="ignore")
    row.download_button("Report (HTML, offline)", lambda: study_html(studies, study), file_name=f"{study['id']}.html",
                         mime="text/html", icon=":material/description:", key="st_html", on_click="ignore",
                         help="One file with the table, the curves and the grids embedded; opens without a network.")
    active = [run for _, run in studies.runs(study) if run is not None and run.status().get("state") in ACTIVE_STATES]
    if active and row.button(f"Stop the study ({len(active)} active)", icon=":material/stop:", key="st_stop"):
        n = studies.stop(study["id"])
        st.session_state["study_flash"] = f"Stopped or cancelled {n} run(s) of {study['id']}."
        st.rerun(scope="app")
    if not active:
        if row.button("Delete the study and its runs", icon=":material/delete:", key="st_delete"):
            st.session_state["st_confirm_delete"] = study["id"]
        if st.session_state.get("st_confirm_delete") == study["id"]:
            st.warning(f"Delete {study['id']} and its {len(study.get('members', []))} runs? This cannot be undone.")
            if st.button("Yes, delete", type="primary", key="st_delete_yes"):
                try:
                    studies.delete(study["id"])
                except (S.StudyError, OSError) as e:
                    st.error(str(e))
                    return
                st.session_state.pop("st_confirm_delete", None)
                st.session_state["study_flash"] = f"Deleted study {study['id']}."
                st.query_params.pop("study", None)
                st.rerun(scope="app")


def members(studies: S.Studies, study: dict[str, Any]) -> None:
    with st.expander(f"Runs of this study ({len(study.get('members', []))})"):
        for member, run in studies.runs(study):
            if run is None:
                st.markdown(f"{common.plain(member['variant'])} seed {member['seed']}: deleted")
                continue
            status = run.status()
            device = f" · {common.plain(status['device'])}" if status.get("device") else ""
            st.markdown(f"{common.state_badge(status)} **{common.plain(member['variant'])}** seed {member['seed']} · "
                        f"step {int(status.get('step') or 0):,} · {common.fmt_duration(status.get('wall_time'))} "
                        f"trained{device} · `{run.id}`")
