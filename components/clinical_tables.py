"""Journal-style clinical tables (the layout of the seed paper's Tables 1, 2 and 5, gtsummary-like) built from
analysis results, and the adverse-event chart that goes with Table 5.

Every table is first a :class:`ClinicalTable` (columns, optional spanning headers, rows of :class:`Cell`,
footnotes). From it come the Dash component (``to_component``: booktabs rules, no vertical lines, tabular
figures, text only -- data are never rendered as HTML) and the export frame (``to_frame``: the same text, flat
column names, flags written as footnote marks) that feeds ``components.export``. Every number printed comes
from the analysis result; this module only formats.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from dash import html

from components.format import finite, format_ci, format_n_pct, format_number, format_p
from components.style import PALETTE

FONT_FAMILY = "Arial, Helvetica, sans-serif"
RULE = "1.5px solid #222"
THIN_RULE = "1px solid #222"

#: the tests the analysis layer names, as a footnote reads them
TEST_NAMES = {
    "fisher": "Fisher's exact test",
    "chi2": "Pearson's χ² test",
    "welch_t": "Welch two-sample t-test",
    "wilcoxon": "Wilcoxon rank-sum test",
    "anova": "One-way ANOVA",
    "kruskal": "Kruskal–Wallis rank-sum test",
}
MARKS = "abcdefghijklmnopqrstuvwxyz"
#: the same letters as superscript characters, for exported (plain-text) tables
SUPERSCRIPT = dict(zip("abcdefghijklmnoprstuvwxyz", "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻ"))


def plot_text(text: Any) -> str:
    """Text from data for a plotly label: plotly reads a subset of HTML in labels, so ``&``, ``<`` and ``>``
    become entities (shown as the characters, never read as tags)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class TestMarks:
    """Superscript letters for the tests used in a table, in order of first use, and their footnote."""

    def __init__(self) -> None:
        self.order: list[str] = []

    def mark(self, test: str | None) -> str:
        if not test:
            return ""
        if test not in self.order:
            self.order.append(test)
        return MARKS[self.order.index(test) % len(MARKS)]

    def footnote(self) -> str | None:
        if not self.order:
            return None
        return "; ".join(f"{MARKS[i]} {TEST_NAMES.get(t, t)}" for i, t in enumerate(self.order))


# ---------------------------------------------------------------------------------------------------------
# the table model
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Cell:
    """One cell: text, an optional superscript mark (test letter), an optional flag badge with a tooltip."""

    text: str = ""
    mark: str = ""
    flag: str | None = None
    flag_title: str | None = None
    flag_export: str = ""        # what the flag becomes in an exported table (a footnote symbol)

    @property
    def export_text(self) -> str:
        mark = "".join(SUPERSCRIPT.get(ch, ch) for ch in self.mark)
        return f"{self.text}{mark}{self.flag_export}"


@dataclass
class Row:
    """``kind``: ``data`` (a plain row), ``heading`` (a variable's name line), ``level`` (indented under a
    heading), ``missing`` (indented, muted), ``summary`` (bold, e.g. "Any adverse event")."""

    cells: list[Cell]
    kind: str = "data"


@dataclass
class ClinicalTable:
    columns: list[str]
    rows: list[Row]
    spanners: list[tuple[str, int]] = field(default_factory=list)   # (label, number of columns)
    align: list[str] | None = None
    footnotes: list[str] = field(default_factory=list)
    title: str = ""
    nowrap_first: bool = False     # keep first-column labels on one line (short labels such as Table 2's)

    def export_columns(self) -> list[str]:
        """Flat column names: a spanner's label is prefixed to the columns under it (``Univariable HR``)."""
        if not self.spanners:
            return [c.replace("\n", " ") for c in self.columns]
        names, i = [], 0
        for label, span in self.spanners:
            for col in self.columns[i:i + span]:
                names.append(f"{label} {col}".strip() if label else col)
            i += span
        names += self.columns[i:]
        return [n.replace("\n", " ") for n in names]

    def to_frame(self) -> pd.DataFrame:
        """The table as text, one row per displayed line (what CSV and the copied HTML table hold)."""
        names = self.export_columns()
        seen: dict[str, int] = {}
        unique = []
        for n in names:  # a frame needs distinct column names
            seen[n] = seen.get(n, 0) + 1
            unique.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
        return pd.DataFrame([[c.export_text for c in r.cells] for r in self.rows], columns=unique)

    def to_component(self, table_id: str | None = None, font_size: str = "0.95rem") -> html.Table:
        align = self.align or (["left"] + ["center"] * (len(self.columns) - 1))
        head_rows = []
        if self.spanners:
            cells = []
            for label, span in self.spanners:
                style = {"textAlign": "center", "padding": "6px 10px 2px", "fontWeight": 600,
                         "borderBottom": THIN_RULE if label else "none"}
                cells.append(html.Th(label, colSpan=span, style=style))
            used = sum(s for _l, s in self.spanners)
            cells += [html.Th("", style={"borderBottom": "none"}) for _ in self.columns[used:]]
            head_rows.append(html.Tr(cells, style={"borderTop": RULE}))
        head_rows.append(html.Tr(
            [html.Th(_lines(col), style={"textAlign": a, "padding": "6px 10px", "fontWeight": 600, "verticalAlign": "bottom",
                                 "whiteSpace": "normal"})
             for col, a in zip(self.columns, align)],
            style={"borderBottom": THIN_RULE, **({} if self.spanners else {"borderTop": RULE})}))
        body = []
        for row in self.rows:
            tds = []
            for j, cell in enumerate(row.cells):
                style = {"textAlign": align[j], "padding": "3px 10px", "verticalAlign": "top"}
                if (j > 0 and align[j] != "left") or (j == 0 and self.nowrap_first):
                    style["whiteSpace"] = "nowrap"     # a number and its CI stay on one line
                if j == 0 and row.kind in ("level", "missing"):
                    style["paddingLeft"] = "28px"
                if row.kind in ("heading", "summary") and j == 0:
                    style["fontWeight"] = 600
                if row.kind == "missing":
                    style["color"] = "#555"
                    style["fontStyle"] = "italic"
                content: list[Any] = [cell.text]
                if cell.mark:
                    content.append(html.Sup(cell.mark, style={"fontStyle": "normal"}))
                if cell.flag:
                    content.append(html.Span(cell.flag, title=cell.flag_title, className="ph-flag",
                                             style={"marginLeft": "4px", "fontSize": "0.72em", "fontWeight": 700,
                                                    "color": "#5b3a00", "background": "#ffd48a",
                                                    "borderRadius": "3px", "padding": "0 3px", "cursor": "help",
                                                    "verticalAlign": "super"}))
                tds.append(html.Td(content, style=style))
            body.append(html.Tr(tds, className=f"row-{row.kind}"))
        return html.Table(
            # the closing rule under the body, not under its last row: a sorted table keeps it at the bottom
            [html.Thead(head_rows), html.Tbody(body, style={"borderBottom": RULE})], id=table_id,
            className="clinical-table",
            style={"borderCollapse": "collapse", "fontFamily": FONT_FAMILY, "fontSize": font_size,
                   "fontVariantNumeric": "tabular-nums", "lineHeight": 1.35, "width": "100%",
                   "color": "#111"})


def _lines(text: str) -> list:
    """Header text with ``\n`` as line breaks (text only)."""
    parts = str(text).split("\n")
    out: list[Any] = []
    for i, part in enumerate(parts):
        if i:
            out.append(html.Br())
        out.append(part)
    return out


# ---------------------------------------------------------------------------------------------------------
# Table 2: tumour response
# ---------------------------------------------------------------------------------------------------------
def response_summary_table(result) -> ClinicalTable:
    """RECIST 1.1 vs mRECIST best response (the paper's Table 2) from ``analysis.response.ResponseTable``.

    Rows CR, PR, SD, PD, NE with n (%), then ORR and DCR with n (%) and the exact 95% CI.
    """
    from analysis.response import CATEGORIES

    labels = list(result.criteria)
    columns = ["Tumour response"]
    spanners = [("", 1)]
    for label in labels:
        s = result.criteria[label]
        columns += ["n (%)", "95% CI"]
        spanners.append((f"{_criterion_title(label)} (n = {s.n})", 2))
    rows = []
    for cat in CATEGORIES:
        cells = [Cell(cat)]
        for label in labels:
            s = result.criteria[label]
            cells += [Cell(format_n_pct(s.counts[cat], s.pct[cat], sign=True)), Cell("")]
        rows.append(Row(cells))
    for name, attr in (("ORR", "orr"), ("DCR", "dcr")):
        cells = [Cell(name)]
        for label in labels:
            prop = getattr(result.criteria[label], attr)
            cells += [Cell(format_n_pct(prop.n, prop.pct, sign=True)), Cell(format_ci(prop.lo, prop.hi, 1))]
        rows.append(Row(cells, kind="summary"))
    notes = ["CR, complete response; PR, partial response; SD, stable disease; PD, progressive disease; NE, not "
             "evaluable; ORR, objective response rate (CR + PR); DCR, disease control rate (CR + PR + SD). 95% CI: "
             "exact (Clopper–Pearson). Percentages of the patients with an assessment (NE counts as non-response)."]
    for label in labels:
        s = result.criteria[label]
        extra = []
        if s.missing:
            extra.append(f"{s.missing} without an assessment")
        if s.unknown:
            extra.append(f"{s.unknown} with a code other than CR/PR/SD/PD/NE (not counted)")
        if extra:
            notes.append(f"{_criterion_title(label)}: " + "; ".join(extra) + ".")
    return ClinicalTable(columns, rows, spanners=spanners, footnotes=notes,
                         align=["left"] + ["center"] * (len(columns) - 1), nowrap_first=True)


def _criterion_title(label: str) -> str:
    return {"RECIST1.1": "RECIST 1.1"}.get(label, label)


def response_by_group_table(result) -> ClinicalTable:
    """ORR and DCR per group of ``result.by`` with the group test (Fisher / chi-square) for each criterion."""
    marks = TestMarks()
    columns = ["Criterion", "Rate"] + [f"{g.level} (n = {g.n})" for g in result.groups] + ["p"]
    rows = []
    for label in result.criteria:
        first = True
        for name, attr in (("ORR", "orr"), ("DCR", "dcr")):
            cells = [Cell(_criterion_title(label) if first else ""), Cell(name)]
            for g in result.groups:
                prop = getattr(g.criteria[label], attr)
                cells.append(Cell(format_n_pct(f"{prop.n}/{prop.total}", prop.pct, sign=True)))
            test = result.tests[label][name]
            cells.append(Cell(format_p(test.p), mark=marks.mark(test.test) if test.p is not None else ""))
            rows.append(Row(cells))
            first = False
    notes = []
    if marks.footnote():
        notes.append("p: " + marks.footnote() + " (Fisher's exact test for two groups; with more groups "
                     "Pearson's χ² when every expected count is ≥ 5, else the exact test).")
    if result.by_missing:
        notes.append(f"{result.by_missing} patients without a value of the grouping column are left out.")
    return ClinicalTable(columns, rows, footnotes=notes,
                         align=["left", "left"] + ["center"] * (len(columns) - 2))


def response_crosstab_table(crosstab: pd.DataFrame, row_label: str = "RECIST 1.1",
                            col_label: str = "mRECIST") -> ClinicalTable:
    """The cross-tabulation of best response by two criteria (``analysis.response.response_crosstab``)."""
    cols = [str(c) for c in crosstab.columns]
    columns = [f"{row_label} \\ {col_label}"] + cols
    rows = []
    for idx, values in crosstab.iterrows():
        kind = "summary" if str(idx) == "Total" else "data"
        rows.append(Row([Cell(str(idx))] + [Cell(str(int(v))) for v in values.tolist()], kind=kind))
    agreement = crosstab.attrs.get("agreement") or {}
    notes = ["Patients with a valid best response in both criteria; rows: " + row_label + ", columns: "
             + col_label + "."]
    if agreement.get("n"):
        text = (f"Agreement {agreement['agree']}/{agreement['n']} "
                f"({format_number(agreement['percent_agreement'], 1)}%)")
        if finite(agreement.get("kappa")):
            text += (f"; Cohen's κ = {format_number(agreement['kappa'])} "
                     f"(95% CI {format_ci(agreement['lo'], agreement['hi'], 2)}), "
                     f"{format_p(agreement['p'], prefix='p')} (test of κ = 0)")
        notes.append(text + ".")
    return ClinicalTable(columns, rows, spanners=[("", 1), (col_label, len(cols))], footnotes=notes,
                         align=["left"] + ["center"] * len(cols), nowrap_first=True)


# ---------------------------------------------------------------------------------------------------------
# Table 1: baseline characteristics
# ---------------------------------------------------------------------------------------------------------
NUMERIC_STATS = {"both": ("Mean ± SD", "Median (Q1, Q3)"), "mean": ("Mean ± SD",),
                 "median": ("Median (Q1, Q3)",)}


def baseline_view_table(result, numeric: str = "both") -> ClinicalTable:
    """gtsummary-style Table 1 from ``analysis.baseline.BaselineTable``: a heading line per variable, then
    levels (n (%)) or the numeric summaries, the missing count, and the p-value with its test as a footnote
    letter. ``numeric`` picks the numeric summaries shown: ``both``, ``mean`` (mean ± SD) or ``median``."""
    keep = NUMERIC_STATS.get(numeric, NUMERIC_STATS["both"])
    marks = TestMarks()
    grouped = result.by is not None
    columns = ["Characteristic"] + [f"{c}\n(N = {result.column_n[c]})" for c in result.columns]
    if grouped:
        columns.append("p")
    kinds = {v["variable"]: v["type"] for v in result.variables}
    rows: list[Row] = []
    by_var: dict[str, list[dict]] = {}
    for r in result.rows:
        by_var.setdefault(r["variable"], []).append(r)
    for var, lines in by_var.items():
        numeric_var = kinds.get(var) == "numeric"
        shown = [r for r in lines if r["level"] is not None and (not numeric_var or r["level"] in keep
                                                                    or r["level"] == "Missing")]
        heading = lines[0]
        if numeric_var and len([r for r in shown if r["level"] != "Missing"]) == 1:
            # one summary: print it on the variable's line, as Table 1 of the paper does
            stat = shown[0]
            cells = [Cell(f"{heading['label']}, {stat['level'].lower().replace('sd', 'SD')}")]
            cells += [Cell(stat["stats"].get(c, "")) for c in result.columns]
            if grouped:
                cells.append(_p_cell(stat, marks))
            rows.append(Row(cells, kind="heading"))
            shown = shown[1:]
        else:
            cells = [Cell(heading["label"])] + [Cell("") for _ in result.columns]
            if grouped:
                cells.append(_p_cell(heading, marks) if not numeric_var else Cell(""))
            rows.append(Row(cells, kind="heading"))
        for r in shown:
            kind = "missing" if r["level"] == "Missing" else "level"
            cells = [Cell(str(r["level"]))] + [Cell(r["stats"].get(c, "")) for c in result.columns]
            if grouped:
                cells.append(_p_cell(r, marks) if numeric_var and kind != "missing" else Cell(""))
            rows.append(Row(cells, kind=kind))
    shown = {"both": "mean ± SD; median (Q1, Q3), quartiles of R's type 7", "mean": "mean ± SD",
             "median": "median (Q1, Q3), quartiles of R's type 7"}[numeric if numeric in NUMERIC_STATS else "both"]
    notes = [f"n (%) of patients with a known value; {shown}."]
    if grouped:
        if marks.footnote():
            notes.append("p: " + marks.footnote() + ". Categorical: χ² without continuity correction when every "
                         "expected count is ≥ 5, otherwise Fisher's exact test.")
        if result.by_missing:
            notes.append(f"{result.by_missing} patients without a value of the grouping column are left out.")
        for r in result.rows:
            if r.get("note") and r["p"] is not None:
                notes.append(f"{r['label']}: {r['note']}.")
    note = skipped_note(result.skipped)
    if note:
        notes.append(note)
    return ClinicalTable(columns, rows, footnotes=notes,
                         align=["left"] + ["center"] * (len(columns) - 1))


def skipped_note(skipped: list[dict]) -> str | None:
    """Table 1's "Not shown" footnote: the columns with a role in the file (identifier, endpoints, responses,
    adverse events) counted by role, the others named by their labels with the reason."""
    from analysis.baseline import NOT_BASELINE
    from analysis.schema import label

    roles = {reason: kind for kind, reason in NOT_BASELINE.items()}
    counted: dict[str, int] = {}
    listed: dict[str, list[str]] = {}
    for s in skipped:
        if s["reason"] in roles:
            counted[s["reason"]] = counted.get(s["reason"], 0) + 1
        else:
            listed.setdefault(s["reason"], []).append(label(str(s["variable"])))
    parts = [f"{reason} ({n} column{'s' if n != 1 else ''})" for reason, n in counted.items()]
    parts += [f"{', '.join(cols)} ({reason})" for reason, cols in listed.items()]
    return ("Not shown: " + "; ".join(parts) + ".") if parts else None


def _p_cell(row: dict, marks: TestMarks) -> Cell:
    if row.get("p") is None:
        return Cell("–" if row.get("test") or row.get("note") else "")
    return Cell(format_p(row["p"]), mark=marks.mark(row.get("test")))


# ---------------------------------------------------------------------------------------------------------
# Table 5: adverse events
# ---------------------------------------------------------------------------------------------------------
def _ae_np(n: int, pct: Any) -> str:
    return format_n_pct(n, pct, zero_plain=True)


def _ae_has_grade5(table) -> bool:
    return any(r.counts["grade_5"] for r in table.events + table.summary)


def ae_clinical_table(table) -> ClinicalTable:
    """The paper's Table 5 from ``analysis.adverse_events.AETable``: term, any grade, grade 1-2, grade 3-4 (and
    grade 5 when any patient had one), n (%); with a grouping column, any grade and grade >= 3 per group and
    the per-term tests."""
    grade5 = _ae_has_grade5(table)
    marks = TestMarks()
    columns = ["Adverse event", "Any grade", "Grade 1–2", "Grade 3–4"] + (["Grade 5"] if grade5 else [])
    spanners = [("", 1), (f"All patients (N = {table.n}), n (%)", len(columns) - 1)]
    if table.by is not None:
        for lv in table.levels:
            columns += ["Any grade", "Grade ≥3"]
            spanners.append((f"{lv} (N = {table.level_n[lv]}), n (%)", 2))
        columns += ["p, any grade", "p, grade ≥3"]
        spanners.append(("", 2))
    rows = []
    for kind, items in (("summary", table.summary), ("data", table.events)):
        for r in items:
            c = r.counts
            cells = [Cell(r.label), Cell(_ae_np(c["any"], c["pct_any"])),
                     Cell("" if r.term == "any_grade_3_plus" else _ae_np(c["grade_1_2"], c["pct_grade_1_2"])),
                     Cell(_ae_np(c["grade_3_4"], c["pct_grade_3_4"]))]
            if grade5:
                cells.append(Cell(_ae_np(c["grade_5"], c["pct_grade_5"])))
            if table.by is not None:
                if r.term == "any_grade_3_plus":   # any grade of the ">= 3" row is grade >= 3 itself
                    for g in r.groups:
                        cells += [Cell(_ae_np(g["grade_3_plus"], g["pct_grade_3_plus"])), Cell("")]
                else:
                    for g in r.groups:
                        cells += [Cell(_ae_np(g["any"], g["pct_any"])),
                                  Cell(_ae_np(g["grade_3_plus"], g["pct_grade_3_plus"]))]
                for name in ("any", "grade_3_plus"):
                    t = r.tests.get(name)
                    if t is None or (r.term == "any_grade_3_plus" and name == "grade_3_plus"):
                        cells.append(Cell(""))
                    else:
                        cells.append(Cell(format_p(t.p), mark=marks.mark(t.test) if t.p is not None else ""))
            rows.append(Row(cells, kind=kind))
    notes = ["Worst CTCAE 5.0 grade per patient and term; percentages of the patients assessed for the term."]
    if table.by is not None:
        if marks.footnote():
            notes.append("p: " + marks.footnote() + " (per term, any grade and grade ≥3; two groups: Fisher's "
                         "exact test; more groups: χ² when every expected count is ≥ 5, else the exact test). "
                         "Not adjusted for multiple testing.")
        if table.by_missing:
            notes.append(f"{table.by_missing} patients without a value of the grouping column are counted in "
                         f"'All patients' only.")
    missing = [r.label for r in table.events if r.missing]
    if missing:
        notes.append("Not assessed in some patients: " + ", ".join(missing) + ".")
    return ClinicalTable(columns, rows, spanners=spanners, footnotes=notes,
                         align=["left"] + ["center"] * (len(columns) - 1))


def ae_figure(table, top: int | None = 20, presentation: bool = False) -> go.Figure:
    """Diverging bars per term, most frequent at the top: grade 1-2 to the left, grade >= 3 to the right (so
    the whole bar is the any-grade rate and severity reads as the right-hand part).

    Overall: grade 3-4 and grade 5 (when present) stack on the right. With a grouping column, one bar pair per
    group (Okabe-Ito colour per group; grade 1-2 lighter) so arms compare term by term. Percentages of the
    patients assessed for each term (group).
    """
    events = [r for r in table.events if r.counts["any"] > 0]
    if top:
        events = events[:top]
    events = events[::-1]                     # plotly draws the first category at the bottom
    labels = [plot_text(r.label) for r in events]
    font = 17 if presentation else 13
    fig = go.Figure()
    hover = "%{y}: %{customdata[0]} of %{customdata[1]} (%{customdata[2]:.1f}%)<extra>%{fullData.name}</extra>"
    if table.by is None:
        g12 = [r.counts["pct_grade_1_2"] for r in events]
        g34 = [r.counts["pct_grade_3_4"] for r in events]
        g5 = [r.counts["pct_grade_5"] for r in events]
        fig.add_trace(go.Bar(y=labels, x=[-v for v in g12], orientation="h", name="Grade 1–2",
                             marker_color="#56B4E9",
                             customdata=[[r.counts["grade_1_2"], r.counts["n"], r.counts["pct_grade_1_2"]]
                                         for r in events], hovertemplate=hover))
        fig.add_trace(go.Bar(y=labels, x=g34, orientation="h", name="Grade 3–4", marker_color="#D55E00",
                             customdata=[[r.counts["grade_3_4"], r.counts["n"], r.counts["pct_grade_3_4"]]
                                         for r in events], hovertemplate=hover))
        if any(v > 0 for v in g5):
            fig.add_trace(go.Bar(y=labels, x=g5, base=g34, orientation="h", name="Grade 5", marker_color="#000000",
                                 customdata=[[r.counts["grade_5"], r.counts["n"], r.counts["pct_grade_5"]]
                                             for r in events], hovertemplate=hover))
        extent = max([*g12, *[a + b for a, b in zip(g34, g5)], 1.0])
        fig.update_layout(barmode="overlay")
    else:
        extent = 1.0
        for i, lv in enumerate(table.levels):
            color = PALETTE[i % len(PALETTE)]
            left = [r.groups[i]["pct_grade_1_2"] if finite(r.groups[i]["pct_grade_1_2"]) else 0 for r in events]
            right = [r.groups[i]["pct_grade_3_plus"] if finite(r.groups[i]["pct_grade_3_plus"]) else 0
                     for r in events]
            extent = max([extent, *left, *right])
            fig.add_trace(go.Bar(y=labels, x=[-v for v in left], orientation="h", name=f"{plot_text(lv)}: grade 1–2",
                                 marker={"color": color, "opacity": 0.45}, offsetgroup=str(i), legendgroup=str(i),
                                 customdata=[[r.groups[i]["grade_1_2"], r.groups[i]["n"], v]
                                             for r, v in zip(events, left)], hovertemplate=hover))
            fig.add_trace(go.Bar(y=labels, x=right, orientation="h", name=f"{plot_text(lv)}: grade ≥3",
                                 marker={"color": color}, offsetgroup=str(i), legendgroup=str(i),
                                 customdata=[[r.groups[i]["grade_3_plus"], r.groups[i]["n"], v]
                                             for r, v in zip(events, right)], hovertemplate=hover))
        fig.update_layout(barmode="group", bargap=0.25, bargroupgap=0.05)
    step = _nice_tick(extent)
    limit = math.ceil(extent / step) * step
    ticks = [k * step for k in range(-int(round(limit / step)), int(round(limit / step)) + 1)]
    fig.add_vline(x=0, line={"color": "#222", "width": 1})
    per_row = (30 if table.by is not None else 24) * (1.2 if presentation else 1.0)
    fig.update_xaxes(range=[-limit * 1.02, limit * 1.02], tickvals=ticks, ticktext=[f"{abs(t):g}%" for t in ticks],
                     gridcolor="#e5e5e5", zeroline=False, title_text="← grade 1–2   ·   patients (%)   ·   grade ≥3 →")
    fig.update_yaxes(automargin=True, tickfont={"size": font})
    fig.update_layout(template="plotly_white", font={"family": FONT_FAMILY, "size": font, "color": "#111"},
                      height=max(320, int(140 + per_row * len(events) * (len(table.levels) if table.by else 1)
                                          ** 0.5)),
                      margin={"l": 10, "r": 20, "t": 40, "b": 60},
                      legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
                      uirevision="ae")
    return fig


def _nice_tick(extent: float) -> float:
    for step in (1, 2, 5, 10, 20, 25):
        if extent / step <= 6:
            return float(step)
    return 50.0


def ae_figure_top_options() -> list[dict]:
    return [{"label": "Top 10", "value": "10"}, {"label": "Top 20", "value": "20"}, {"label": "All", "value": "all"}]


def parse_top(value: str | None) -> int | None:
    return None if value == "all" else (int(value) if value in ("10", "20") else 20)
