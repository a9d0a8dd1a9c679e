"""A study as one self-contained HTML file (figures, grids and table embedded) that opens offline."""
from __future__ import annotations

import base64
import html
import time
from typing import Any

from gandash.explore import plots
from gandash.studies import study as S

REPORT_METRICS = ("fd", "confidence", "rarest_share", "cond_acc")


def _png_uri(path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _table(rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t, _ in S.COLUMNS)
    best, body = S.best_by_column(rows), []
    for r in rows:
        cells = [f"<td class='{'best' if best.get(key) == r['variant'] else ''}'>{html.escape(S.cell(r, key))}</td>"
                 for key, _, _ in S.COLUMNS]
        body.append(f"<tr><th>{html.escape(r['variant'])}</th><td>{r['runs']}</td><td>{r['failed']}</td>"
                    f"{''.join(cells)}</tr>")
    return (f"<table><tr><th>variant</th><th>runs</th><th>failed</th>{head}</tr>{''.join(body)}</table>")


def _decisions(comparisons: list[dict[str, Any]]) -> str:
    from gandash.studies import compare

    rows = compare.table(comparisons)
    if not rows:
        return "<p>One variant, or no evaluations yet: nothing to decide.</p>"
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r.values()) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table><p>{html.escape(compare.TESTS_NOTE)}</p>"


def _grids(studies: S.Studies, study: dict[str, Any], seconds: float) -> str:
    """Each variant's first seed's grid at the same training time."""
    shown, parts = set(), []
    for member, run in studies.runs(study):
        if run is None or member["variant"] in shown:
            continue
        at = S.grid_at(run, seconds)
        if at is None:
            continue
        shown.add(member["variant"])
        parts.append(f"<figure><img src='{_png_uri(run.sample_path(at[0]))}' alt='samples'>"
                     f"<figcaption>{html.escape(member['variant'])}<br>step {at[0]:,} at {at[1]:.0f} s"
                     f"</figcaption></figure>")
    return "".join(parts) or "<p>No grids saved yet.</p>"


def study_html(studies: S.Studies, study: dict[str, Any]) -> str:
    """The report: verdict, fairness note, leaderboard, quality-over-time figures and grids."""
    rows, comparisons = S.analysis(studies, study)
    figures, first = [], True
    for metric in REPORT_METRICS:
        curves = S.quality_over_time(studies, study, metric)
        if curves:
            fig = plots.band_figure(curves, metric)
            figures.append(fig.to_html(full_html=False, include_plotlyjs=first))  # plotly.js inlined once
            first = False
    times = S.grid_times(studies, study)
    p = S.progress(studies, study)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(study['name'])} · gandash study</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9rem; }} th, td {{ border: 1px solid #ddd; padding: 4px 8px; }}
td.best {{ background: #c8f7c5; font-weight: bold; }} figure {{ display: inline-block; margin: 0.5rem; }}
figure img {{ width: 280px; image-rendering: pixelated; }} .verdict {{ font-size: 1.3rem; }}
</style></head><body>
<h1>{html.escape(study['name'])}</h1>
<p>Study <code>{html.escape(study['id'])}</code> on {html.escape(study.get('dataset', ''))}:
{len(study.get('presets', []))} preset(s) × {study.get('seeds')} seed(s){_vary_text(study)},
budget {html.escape(S.Budget.parse(study['budget']).describe())} per run; {p['done']} of {p['total']} runs done.
Created {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(study.get('created', 0)))}.</p>
<p class="verdict">{html.escape(S.verdict(rows, comparisons))}</p>
<p>{html.escape(S.fairness(studies, study))} Cells: mean over seeds ± the half-width of its 95 % interval
(min–max over seeds); best mean in green.</p>
{_table(rows)}
<h2>Which differences are real</h2>
{_decisions(comparisons)}
<h2>Quality against training time</h2>
{''.join(figures) or '<p>No in-training evaluations yet.</p>'}
<h2>Samples at {times[-1] if times else 0:.0f} s of training</h2>
{_grids(studies, study, times[-1] if times else 0.0)}
</body></html>
"""


def _vary_text(study: dict[str, Any]) -> str:
    return "".join(f" × {html.escape(k)} in {html.escape(', '.join(map(str, v)))}"
                   for k, v in (study.get("vary") or {}).items())
