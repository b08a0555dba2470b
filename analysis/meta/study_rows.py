"""Every study of a table as the meta-analysis page, its figures and its exports list it, pooled or not.

* :class:`EffectSpec` -- the words for one outcome of a table: the measure, the arms, the "favours" sides
  (:func:`effect_spec`);
* :class:`ForestStudy` -- one study of the table: its estimate and weights when pooled, else why not
  (:func:`study_rows` merges a result's pooled studies with the table's other studies);
* :func:`study_frame` -- the per-study table behind the forest plot (what its CSV export holds);
* :func:`correlation_points` -- per study, its ORR risk ratio and OS hazard ratio (Lu et al. 2025, Fig. 5A).

Pure functions of a :class:`~analysis.meta.dataset.StudyTable` and the engine's results; nothing is computed here
that the engine does not compute.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.meta.dataset import OUTCOME_TITLES, OUTCOMES, StudyTable, outcome_effects
from analysis.meta.effects import EffectData
from analysis.meta.report import MetaReport


@dataclass
class EffectSpec:
    """Labels for one outcome: the measure (``short`` "HR", ``name`` "Hazard ratio"), the arms and the sides."""

    short: str
    name: str
    outcome: str
    exp_label: str
    ctrl_label: str
    counts: bool
    favours_left: str
    favours_right: str
    exp_header: str = ""          # column header, may hold <br> (default: exp_label)
    ctrl_header: str = ""
    comparison: str = ""          # "HAIC + systemic therapy vs systemic therapy alone"

    def __post_init__(self) -> None:
        self.exp_header = self.exp_header or self.exp_label
        self.ctrl_header = self.ctrl_header or self.ctrl_label
        self.comparison = self.comparison or f"{self.exp_label} vs {self.ctrl_label}"


@dataclass
class ForestStudy:
    """One study of the table as the forest plot lists it. ``status``: ``pooled``, ``excluded`` (no usable data
    for the outcome; ``reason`` says why) or ``left out`` (by the user). ``row`` is the 0-based table row."""

    row: int
    study: str
    status: str
    reason: str | None = None
    n_exp: str = ""
    n_ctrl: str = ""
    events_exp: str = ""
    events_ctrl: str = ""
    est: float | None = None
    lo: float | None = None
    hi: float | None = None
    weight_fixed: float | None = None
    weight_random: float | None = None
    derived: bool = False
    derivation: str | None = None
    group: str | None = None


def effect_spec(table: StudyTable, outcome: str | None, measure: str) -> EffectSpec:
    """Labels of the effect measure, the arms and the 'favours' sides for the figures."""
    if table.kind == "outcomes":
        spec = OUTCOMES[outcome]
        counts = spec["type"] == "counts"
        short = measure if counts else "HR"
        # a ratio < 1 favours HAIC for hazards and adverse events; for response, a ratio > 1 does
        lower_favours = outcome in ("os", "pfs", "ae")
        return EffectSpec(short=short, name=_measure_name(short), outcome=OUTCOME_TITLES[outcome],
                          exp_label="HAIC + systemic", ctrl_label="Systemic", counts=counts,
                          favours_left="Favours HAIC + systemic" if lower_favours else "Favours systemic",
                          favours_right="Favours systemic" if lower_favours else "Favours HAIC + systemic",
                          exp_header="HAIC +<br>systemic", ctrl_header="Systemic<br>alone",
                          comparison="HAIC + systemic therapy vs systemic therapy alone")
    if table.kind == "ratio":
        return EffectSpec(short="Ratio", name="Ratio", outcome="Study file", exp_label="Experimental",
                          ctrl_label="Control", counts=False, favours_left="Lower in experimental arm",
                          favours_right="Higher in experimental arm", exp_header="Experimental<br>arm",
                          ctrl_header="Control<br>arm", comparison="experimental vs control arm")
    return EffectSpec(short=measure, name=_measure_name(measure), outcome="Study file", exp_label="Experimental",
                      ctrl_label="Control", counts=True, favours_left="Fewer events, experimental arm",
                      favours_right="More events, experimental arm", exp_header="Experimental<br>arm",
                      ctrl_header="Control<br>arm", comparison="experimental vs control arm")


def _measure_name(short: str) -> str:
    return {"HR": "Hazard ratio", "RR": "Risk ratio", "OR": "Odds ratio"}.get(short, short)


def _arm_columns(table: StudyTable, outcome: str | None) -> tuple[str | None, str | None, str | None, str | None]:
    cols = table.frame.columns
    if table.kind == "outcomes":
        spec = OUTCOMES[outcome]
        ev = (spec.get("exp"), spec.get("ctrl")) if spec["type"] == "counts" else (None, None)
        return ("n_haic" if "n_haic" in cols else None, "n_ctrl" if "n_ctrl" in cols else None) + ev
    if table.kind == "counts":
        return "n_exp", "n_ctrl", "events_exp", "events_ctrl"
    return ("n_exp" if "n_exp" in cols else None, "n_ctrl" if "n_ctrl" in cols else None, None, None)


def study_rows(full: StudyTable, outcome: str | None, effects: EffectData, report: MetaReport | None,
               row_of: dict[str, int], exclude, se_from_p: bool) -> list[ForestStudy]:
    """Every study of ``full`` (the whole table), in its order: pooled ones with the estimate and weights of
    ``report`` (the analysis of the studies left in; ``row_of`` maps its study labels to rows of ``full``), the
    others with their own estimate where ``effects`` (the outcome's effects of the whole table) has one and the
    reason they are not pooled: left out by the user (``exclude``: 0-based rows) or excluded by the engine
    (``se_from_p``: whether that derivation was on, else a study "without CI" says it was off)."""
    full_row = {s: i for i, s in enumerate(full.studies)}
    own = {full_row[r["study"]]: r for r in effects.table()}
    why = {full_row[e.study]: e.reason for e in effects.excluded}
    left_out = set(exclude)
    n_e, n_c, ev_e, ev_c = _arm_columns(full, outcome)
    pooled = {}
    if report is not None:
        for s in report.analysis.studies:
            pooled[row_of[s.study]] = s
    group_col = report.subgroups.variable if report is not None and report.subgroups is not None else None
    rows = []
    for i, label in enumerate(full.studies):
        f = full.frame.iloc[i]
        r = ForestStudy(row=i, study=label, status="pooled", reason=None,
                        n_exp=f[n_e] if n_e else "", n_ctrl=f[n_c] if n_c else "",
                        events_exp=f[ev_e] if ev_e else "", events_ctrl=f[ev_c] if ev_c else "",
                        group=(str(f[group_col]).strip() or None) if group_col else None)
        if i in pooled:
            s = pooled[i]
            r.est, r.lo, r.hi = s.est, s.lo, s.hi
            r.weight_fixed, r.weight_random = s.weight_fixed, s.weight_random
            r.derived, r.derivation = bool(s.derived), s.derivation
        else:
            if i in own:
                o = own[i]
                r.est, r.lo, r.hi = o["est"], o["lo"], o["hi"]
                r.derived, r.derivation = bool(o["derived"]), o["derivation"]
            if i in left_out:
                r.status, r.reason = "left out", "left out by you" + ("" if i in own else f"; {why.get(i, '')}")
            else:
                r.status = "excluded"
                r.reason = why.get(i, "not pooled")
                if r.reason.endswith("without CI") and not se_from_p:
                    r.reason += " (derivation off)"
        rows.append(r)
    return rows


def correlation_points(table: StudyTable, derive) -> list[dict]:
    """Per study with both: ORR risk ratio and OS hazard ratio (the points of the paper's Fig. 5A)."""
    orr = outcome_effects(table, "orr", "RR", derive)
    row = {s: i for i, s in enumerate(table.studies)}
    out = []
    for s, y, d in zip(orr.studies, orr.yi, orr.derived):
        text = table.frame.iloc[row[s]].get("os_hr", "")
        try:
            hr = float(text)
        except (TypeError, ValueError):
            continue
        if math.isfinite(hr):
            out.append({"study": s, "orr_rr": math.exp(float(y)), "os_hr": hr, "derived": bool(d)})
    return out


def study_frame(rows: list[ForestStudy], spec: EffectSpec, report: MetaReport | None) -> pd.DataFrame:
    """The per-study table behind the forest plot (what the CSV export holds); a Subgroup column when a study
    has a group or ``report`` has subgroups."""
    subgroups = report is not None and report.subgroups is not None
    out = []
    for r in rows:
        d = {"#": r.row + 1, "Study": r.study,
             f"n {spec.exp_label}": r.n_exp, f"n {spec.ctrl_label}": r.n_ctrl}
        if spec.counts:
            d[f"Events {spec.exp_label}"] = r.events_exp
            d[f"Events {spec.ctrl_label}"] = r.events_ctrl
        d[spec.short] = _round(r.est)
        d["95% CI lower"] = _round(r.lo)
        d["95% CI upper"] = _round(r.hi)
        d["Weight fixed (%)"] = _round(r.weight_fixed, 1) if r.status == "pooled" else None
        d["Weight random (%)"] = _round(r.weight_random, 1) if r.status == "pooled" else None
        d["In pool"] = "yes" if r.status == "pooled" else "no"
        d["Reason not pooled"] = r.reason or ""
        d["Derived value"] = r.derivation or ""
        if r.group is not None or subgroups:
            d["Subgroup"] = r.group or ""
        out.append(d)
    return pd.DataFrame(out)


def _round(x, digits: int = 4):
    return None if x is None or not np.isfinite(x) else round(float(x), digits)
