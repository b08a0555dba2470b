"""Tables of the survival page: per-group n, events, median (95% CI) and landmark rates, with HR and p."""
from __future__ import annotations

import math

import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

from components.clinical_tables import group_text, p_text
from components.table_card import footnote_divs, table_card, table_card_update


#: what a landmark cell shows when the estimate is beyond the group's last follow-up (footnoted)
NOT_ESTIMABLE = "—"


def _num(x, digits=1, pct=False, missing="NR"):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return missing
    return f"{100 * x:.{digits}f}" if pct else f"{x:.{digits}f}"


def _landmark_cell(a: dict | None) -> str:
    """Survival % (95% CI) at a landmark; — when not estimable (after the group's last follow-up)."""
    if a is None or not a.get("estimable", True) or a["surv"] is None or not math.isfinite(a["surv"]):
        return NOT_ESTIMABLE
    return f"{_num(a['surv'], pct=True)} ({_num(a['lo'], pct=True, missing='–')}–{_num(a['hi'], pct=True, missing='–')})"


def km_summary_frame(result, landmarks) -> pd.DataFrame:
    """The summary as text cells: group, n, events, median (95% CI), survival % (95% CI) at each landmark."""
    rows = []
    for g in result.groups:
        row = {"Group": group_text(g.label), "n": g.n, "Events": g.events,
               "Median, months (95% CI)": f"{_num(g.median)} ({_num(g.median_lo)}–{_num(g.median_hi)})"}
        for t in landmarks:
            row[f"{t:g} mo, % (95% CI)"] = _landmark_cell(g.km.at_time(t))
        rows.append(row)
    return pd.DataFrame(rows)


def _not_estimable(result, landmarks) -> bool:
    return any(_landmark_cell(g.km.at_time(t)) == NOT_ESTIMABLE for g in result.groups for t in landmarks)


def km_test_caption(result) -> str:
    if result.logrank is None:
        return ""
    text = f"Log-rank χ² = {result.logrank.chisq:.2f}, df = {result.logrank.df}, {p_text(result.logrank.p)}"
    if result.hr is not None:
        r = result.hr.result
        text += (f" · {hr_label(result.hr)}: " +
                 (f"{r.hr:.2f} (95% CI {r.lo:.2f}–{r.hi:.2f}), Wald {p_text(r.p)}" if math.isfinite(r.hr)
                  else (r.note or "not estimable")))
    if result.trend is not None:
        text += f" · test for trend {p_text(result.trend.p)}"
    return text


KM_SUMMARY_TITLE = "Kaplan–Meier estimates"


def _comparison(group: str, reference: str) -> str:
    """``AST > 56.5`` vs ``AST <= 56.5`` -> ``AST > 56.5 vs ≤ 56.5``; ``Sex = Female`` vs ``Sex = Male`` ->
    ``Sex = Female vs Male`` (the shared words said once)."""
    group, reference = group_text(group), group_text(reference)
    g, r = group.split(" "), reference.split(" ")
    k = 0
    while k < min(len(g), len(r)) - 1 and g[k] == r[k]:
        k += 1
    return f"{group} vs {' '.join(r[k:])}" if k else f"{group} vs {reference}"


def hr_label(hr) -> str:
    """``HR ALP > 174.5 vs ≤ 174.5``: which group's hazard is compared with which (the reference)."""
    return f"HR {_comparison(hr.group, hr.reference)}"


def hr_text(result) -> str | None:
    """The HR line of the KM statistics box: ``HR ALP > 174.5 vs ≤ 174.5: 2.41 (1.69–3.43)``; None without one."""
    if result.hr is None:
        return None
    r = result.hr.result
    if not math.isfinite(r.hr):
        return f"{hr_label(result.hr)}: not estimable"
    return f"{hr_label(result.hr)}: {r.hr:.2f} ({r.lo:.2f}–{r.hi:.2f})"


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
        notes.append(f"Median follow-up {_num(f.median)} months (IQR {_num(f.q1, missing='–')}–"
                     f"{_num(f.q3, missing='–')}; reverse Kaplan–Meier).")
    notes += [n[:1].upper() + n[1:] + "." for n in result.notes]
    if result.excluded:
        notes.append(f"{result.excluded} patients without a value for the grouping or the endpoint are left out.")
    body = [html.Div(caption, id="km-stats-caption", className="small mb-2"), table]
    return {"body": body, "footnotes": notes, "frame": frame, "caption": f"{title}. {caption}"}


def km_summary_table(result, landmarks, title: str = KM_SUMMARY_TITLE) -> dbc.Card:
    """The summary table in an export card (CSV, copy as HTML), with the tests as its caption."""
    parts = km_summary_parts(result, landmarks, title)
    return table_card("km-summary", title, parts["body"], parts["frame"], footnotes=parts["footnotes"],
                      filename="km-summary", caption=parts["caption"])


def km_summary_update(result, landmarks, title: str = KM_SUMMARY_TITLE) -> tuple:
    """Values for ``table_card_outputs("km-summary")``: the card laid out once, its parts replaced on every cutoff
    move (no new buttons, clipboard or download components to mount each time)."""
    parts = km_summary_parts(result, landmarks, title)
    exports = table_card_update("km-summary", parts["frame"], caption=parts["caption"],
                                footnotes=parts["footnotes"], filename="km-summary")
    return (parts["body"], footnote_divs(parts["footnotes"]), exports["data"], exports["content"],
            exports["html_content"])
