"""Tables of the survival page: per-group n, events, median (95% CI) and landmark rates, with HR and p."""
from __future__ import annotations

import math

import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

from components.format import (MISSING, NOT_REACHED, format_ci, format_group, format_hr_label, format_median,
                               format_number, format_p, format_percent, format_ratio)
from components.static_html import static_html
from components.table_card import footnote_divs, table_card_update


#: what a landmark cell shows when the estimate is beyond the group's last follow-up (footnoted)
NOT_ESTIMABLE = "—"


def _landmark_cell(a: dict | None) -> str:
    """Survival % (95% CI) at a landmark; — when not estimable (after the group's last follow-up)."""
    if a is None or not a.get("estimable", True) or a["surv"] is None or not math.isfinite(a["surv"]):
        return NOT_ESTIMABLE
    return f"{format_percent(a['surv'], sign=False)} ({format_ci(a['lo'], a['hi'], percent=True, limit_missing=MISSING)})"


def km_summary_frame(result, landmarks) -> pd.DataFrame:
    """The summary as text cells: group, n, events, median (95% CI), survival % (95% CI) at each landmark."""
    rows = []
    for g in result.groups:
        row = {"Group": format_group(g.label), "n": g.n, "Events": g.events,
               "Median, months (95% CI)": format_median(g.median, g.median_lo, g.median_hi)}
        for t in landmarks:
            row[f"{t:g} mo, % (95% CI)"] = _landmark_cell(g.km.at_time(t))
        rows.append(row)
    return pd.DataFrame(rows)


def _not_estimable(result, landmarks) -> bool:
    return any(_landmark_cell(g.km.at_time(t)) == NOT_ESTIMABLE for g in result.groups for t in landmarks)


def km_test_caption(result) -> str:
    if result.logrank is None:
        return ""
    text = (f"Log-rank χ² = {format_number(result.logrank.chisq)}, df = {result.logrank.df}, "
            f"{format_p(result.logrank.p, prefix='p')}")
    if result.hr is not None:
        r = result.hr.result
        text += (f" · {format_hr_label(result.hr)}: " +
                 (f"{format_ratio(r.hr)} (95% CI {format_ci(r.lo, r.hi)}), Wald {format_p(r.p, prefix='p')}"
                  if math.isfinite(r.hr) else (r.note or "not estimable")))
    if result.trend is not None:
        text += f" · test for trend {format_p(result.trend.p, prefix='p')}"
    return text


KM_SUMMARY_TITLE = "Kaplan–Meier estimates"


def km_summary_parts(result, landmarks, title: str = KM_SUMMARY_TITLE) -> dict:
    """The summary table's parts: ``body`` (tests caption and table), ``footnotes``, ``frame`` (the table as
    text, what is exported) and the export ``caption``."""
    frame = km_summary_frame(result, landmarks)
    caption = km_test_caption(result)
    table = dbc.Table([html.Thead(html.Tr([html.Th(c) for c in frame.columns])),
                       html.Tbody([html.Tr([html.Td(v) for v in row]) for row in frame.itertuples(index=False)])],
                      size="sm", bordered=True, className="small mb-0", id="km-summary")
    notes = ["Medians and survival with 95% CIs from the Kaplan–Meier estimate (Greenwood variance); "
             "NR: not reached. Low group: value ≤ cutoff (the HR reference)."]
    if _not_estimable(result, landmarks):
        notes.append(f"{NOT_ESTIMABLE}: not estimable, the landmark is after the group's last follow-up.")
    if result.followup is not None and result.followup.median is not None and math.isfinite(result.followup.median):
        f = result.followup
        notes.append(f"Median follow-up {format_number(f.median, 1)} months "
                     f"(IQR {format_ci(f.q1, f.q3, 1, limit_missing=NOT_REACHED)}; reverse Kaplan–Meier).")
    notes += [n[:1].upper() + n[1:] + "." for n in result.notes]
    if result.excluded:
        notes.append(f"{result.excluded} patients without a value for the grouping or the endpoint are left out.")
    body = static_html([html.Div(caption, id="km-stats-caption", className="small mb-2"), table])
    return {"body": body, "footnotes": notes, "frame": frame, "caption": f"{title}. {caption}"}


def km_summary_update(result, landmarks, title: str = KM_SUMMARY_TITLE) -> tuple:
    """Values for ``table_card_outputs("km-summary")``: the card laid out once, its parts replaced on every cutoff
    move (no new buttons, clipboard or download components to mount each time)."""
    parts = km_summary_parts(result, landmarks, title)
    exports = table_card_update("km-summary", parts["frame"], caption=parts["caption"],
                                footnotes=parts["footnotes"], filename="km-summary")
    return (parts["body"], footnote_divs(parts["footnotes"]), exports["data"], exports["content"],
            exports["html_content"])
