"""File format page: what a cohort file may hold and how the importer reads it, generated from
``analysis.schema`` (the one owner of columns, aliases, codings and units), so it cannot drift from the code."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html

from analysis import formats, schema

dash.register_page(__name__, path="/format", name="File format", title="File format - HAIC Cohort Analytics")

_MEANING = {
    "patient_id": "identifier (duplicates are warned about)",
    "sex": "Male / Female (m/f accepted)", "etiology": "HBV, HCV, Alcohol, Others",
    "child_pugh": "A / B / C, or scores A5 / B7 / 7", "cnlc_stage": "IA, IB, IIA, IIB, IIIA, IIIB, IV",
    "shunt": "0/1, yes/no, with/without, present/absent", "ehm": "0/1, yes/no, with/without, present/absent",
    "metabolic_comorbidity": "0/1, yes/no, with/without, present/absent", "treatment": "free text groups",
    "recist_best": "CR, PR, SD, PD, NE (or the words)", "mrecist_best": "CR, PR, SD, PD, NE (or the words)",
}


def _aliases(column: str) -> str:
    names = sorted(a for a, c in schema.ALIASES.items() if c == column)
    return ", ".join(names[:6]) + (" …" if len(names) > 6 else "")


def _known_columns() -> dbc.Table:
    rows = []
    for col in schema.CANONICAL_COLUMNS:
        if col in schema.TIME_COLUMNS or col in schema.EVENT_COLUMNS:
            continue
        if col in schema.NUMERIC_COLUMNS:
            info = schema.NUMERIC_COLUMNS[col]
            meaning = f"number{', ' + info['unit'] if info['unit'] else ''}"
        else:
            meaning = _MEANING.get(col, "")
        rows.append(html.Tr([html.Td(html.Code(col)), html.Td(schema.label(col)), html.Td(meaning),
                             html.Td(_aliases(col), className="text-muted")]))
    return dbc.Table([html.Thead(html.Tr([html.Th("column"), html.Th("meaning"), html.Th("coding / unit"),
                                          html.Th("also read from headers such as")])), html.Tbody(rows)],
                     size="sm", bordered=False, striped=True, className="small")


def layout(**_other):
    units = ", ".join(schema.TIME_UNIT_FACTORS)
    kinds = sorted({ext for ext in formats.EXTENSIONS})
    return html.Div([
        html.H2("Cohort file format", className="h4 mt-3"),
        html.P(["One row per patient, a header row first. Only one time/event pair is needed; every other column "
                "is optional, and columns the importer does not know are kept as your own variables (any numeric "
                "column can be cut or used as continuous, any column with a few categories can stratify). "
                "File types: CSV or TSV text (comma, semicolon or tab; UTF-8 or latin-1; decimal commas "
                "accepted), Excel workbooks (choose the sheet; the first by default) and SPSS .sav files (value "
                "labels become the categories). Accepted endings: ", ", ".join(kinds), ". Missing values: empty, ",
                ", ".join(repr(m) for m in schema.MISSING_MARKERS if m), "."], className="small"),
        html.H3("Endpoints: time and event", id="endpoints", className="h6 mt-3"),
        html.P(["Any number of time/event pairs, with your own names. The importer pairs ",
                html.Code("os_months"), " + ", html.Code("os_event"), " and ", html.Code("pfs_months"), " + ",
                html.Code("pfs_event"), " (also 'OS (days)', 'death', 'progression' …), a time and an event column "
                "with the same stem (", html.Code("rfs_time"), " + ", html.Code("rfs_status"), ", ",
                html.Code("futime"), " + ", html.Code("fustat"), "), and a lone ", html.Code("time"), " + ",
                html.Code("status"), ". Name any other pair on the Data page (or with ", html.Code("--time"),
                " and ", html.Code("--event"), " on the command line). Times: ", units,
                " -- from the header ('OS (days)', ", html.Code("ttr_days"), "), else the upload's time-unit "
                "setting; they are shown in months, and a unit that does not fit the values is warned about. "
                "Events: 1/0, yes/no, true/false, dead/alive, progressed/censored; 1/2 is read as R's Surv "
                "coding (2 = event). A column that means 1 = censored must be recoded."], className="small"),
        html.H3("Columns the importer knows", className="h6 mt-3"),
        _known_columns(),
        html.H3("Tumour response", id="response", className="h6 mt-3"),
        html.P(["Best overall response by RECIST 1.1 and/or mRECIST: columns ", html.Code("recist_best"), " and ",
                html.Code("mrecist_best"), " (headers such as 'RECIST', 'mRECIST best response'), codes CR, PR, "
                "SD, PD, NE or the words."], className="small"),
        html.H3("Adverse events", id="adverse-events", className="h6 mt-3"),
        html.P(["One column per adverse event named ", html.Code("ae_<term>"), " (e.g. ", html.Code("ae_fatigue"),
                ") holding each patient's worst CTCAE grade, 0-5."], className="small"),
    ])
