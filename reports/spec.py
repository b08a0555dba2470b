"""The view a deliverable describes: :class:`ReportSpec`, a plain, frozen description that the pages and the command
line both build (from a JSON object, :meth:`ReportSpec.from_dict`) and that the generators read.

JSON form (every key optional; ``python -m reports ... --spec view.json`` reads it)::

    {"dataset":   {"name": "demo_cohort.csv", "synthetic": true, "file": "data/demo_cohort.csv",
                   "time_unit": null, "sheet": null},
     "cohort":    true,
     "endpoints": [{"time": "pfs_months", "event": "pfs_event", "label": "Progression-free survival"}, ...],
     "km":        {"by": "ast", "cutoff": 56.5, "cutoff_source": null, "ci": "log-log",
                   "landmarks": [6, 12, 24], "risk_times": [0, 6, 12, 18, 24, 30, 36]},
     "cox":       {"covariates": ["age:58", "ast", "albumin*10", "child_pugh", "grade=1"],
                   "paper_groups": true, "cutoffs": {"ast": 80},
                   "selection": "p", "alpha": 0.05, "manual": []},
     "grid":      ["ast:56.5", "child_pugh"],
     "groupings": {"cnlc_stage": {"IIA": "IIA/IIB", "IIB": "IIA/IIB", "IIIA": "IIIA/IIIB", "IIIB": "IIIA/IIIB"}},
     "group_by":  {"response": null, "ae": null, "baseline": "treatment"},
     "meta":      {"outcome": "os", "method": "REML", "hk": false, "mh": false, "measure": "RR",
                   "derive": ["se_from_p", "count_from_pct"], "exclude": [], "subgroup": null},
     "title":     ""}

* ``cohort``: false for a deliverable of the meta-analysis alone (the meta page's): no cohort analyses.
* ``endpoints``: time/event column pairs (a file's header or the canonical name); none = every endpoint the
  importer found. The first is the view's endpoint (the KM figure); each gets a Cox table and a figure grid.
* ``km``: the stratifying column (``by``) and its ``cutoff`` (low group: value <= cutoff, the HR reference;
  default for a column the Survival page cuts: its default cutoff); ``cutoff_source`` ``"optimal"`` when the
  cutoff is the cutpoint search's optimum (the R bundle then adds maxstat); ``ci`` the CI transform of survfit
  (``log-log``, ``log``, ``plain``); landmark and number-at-risk times in months (default: the Survival page's,
  from the follow-up).
* ``cox``: the candidate covariates as the Cox page has them (``services.cohort_views.cox_variables``): a column
  name takes the page's default form (the paper's cutoff for a column the paper cut, in a cohort like the
  paper's -- or the Survival page's cutoff of ``cutoffs`` --; continuous per N units for other numeric columns;
  categorical for text and numeric columns with a few values; the paper's grouping of etiology and CNLC stage
  with ``paper_groups``); a text form of :class:`analysis.cox.CovariateSpec` chooses the form (``col*N`` per N
  units, ``col*1`` per unit, ``col:X`` cut at X, ``col=LEVEL`` categorical with reference LEVEL). Default:
  every usable column (the paper's candidates first). ``selection`` ``"p"`` (univariable p < ``alpha`` enters
  the multivariable model, the paper's rule) or ``"manual"`` (the covariates listed in ``manual``).
* ``grid``: the panels of the paper's Figure 3/4 (a cut or categorical covariate each); default: the
  multivariable model's covariates of each endpoint.
* ``groupings``: levels of a categorical column collapsed into groups, as a new column ``<column>_grouped``
  (e.g. CNLC IIA/IIB vs IIIA/IIIB); covariates and grid panels may use it. Given groupings replace the paper's.
* ``group_by``: the column comparing groups in the response, adverse-event and baseline tables.
* ``meta``: the meta-analysis for the meta slides, as the meta page sets it: outcome, model, Hartung-Knapp,
  Mantel-Haenszel, the count measure, the derivations allowed, the studies left out (0-based rows of the study
  table) and the forest plot's subgroups (none: no meta slides).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from analysis.cox import CovariateSpec, parse_covariate
from analysis.errors import AnalysisError
from analysis.meta import DERIVATIONS
from analysis.survival import CI_TYPES
from services.cohort_views import grouped_name

__all__ = ["ReportSpec", "EndpointSpec", "MetaSpec", "grouped_name", "covariate_item", "candidate_text"]

SELECTION_RULES = ("p", "manual")
META_OUTCOMES = ("os", "pfs", "orr", "dcr", "ae")
META_METHODS = ("REML", "DL", "PM", "FE")


def covariate_item(item: str) -> tuple[str, str | None]:
    """(column, form) of a Cox candidate as the spec writes it: ``ast`` -> (``ast``, None: the page's default
    form); ``age*10`` -> (``age``, ``age*10``); ``age*1`` -> (``age``, ``age``: continuous per unit, the Cox page's
    form text); ``ast:56.5``, ``grade=1`` likewise. Raises :class:`AnalysisError` for an unreadable item."""
    spec = parse_covariate(item)
    if not any(op in item for op in ":=*"):
        return spec.column, None
    return spec.column, spec.label


def candidate_text(column: str, form: str | None) -> str:
    """The spec's text of a Cox candidate (:func:`covariate_item` reads it back): its column (the page's default
    form), or its form as the Cox page's ``cox-forms`` store writes it (continuous per unit written ``col*1``)."""
    if form is None:
        return column
    return form if form != column else f"{column}*1"


@dataclass(frozen=True)
class EndpointSpec:
    """A time/event pair: columns as the file names them (or canonical names), and the label for titles."""

    time: str
    event: str
    label: str = ""

    def to_dict(self) -> dict:
        return {"time": self.time, "event": self.event, "label": self.label}


@dataclass(frozen=True)
class MetaSpec:
    """The meta page's parameters (``services.meta_views.MetaParams``) that a deliverable repeats."""

    outcome: str = "os"
    method: str = "REML"
    hk: bool = False
    mh: bool = False
    measure: str = "RR"
    derive: tuple[str, ...] = DERIVATIONS
    exclude: tuple[int, ...] = ()
    subgroup: str | None = None

    def to_dict(self) -> dict:
        return {"outcome": self.outcome, "method": self.method, "hk": self.hk, "mh": self.mh,
                "measure": self.measure, "derive": list(self.derive), "exclude": list(self.exclude),
                "subgroup": self.subgroup}


@dataclass(frozen=True)
class ReportSpec:
    """What a deck, a manuscript or an R bundle shows. See the module docstring for the JSON form."""

    dataset_name: str = ""
    synthetic: bool = False
    cohort: bool = True
    dataset_file: str | None = None
    time_unit: str | None = None
    sheet: str | None = None
    endpoints: tuple[EndpointSpec, ...] = ()
    by: str | None = None
    cutoff: float | None = None
    cutoff_source: str | None = None
    ci: str = "log-log"
    landmarks: tuple[float, ...] | None = None
    risk_times: tuple[float, ...] | None = None
    covariates: tuple[str, ...] = ()                     # candidates: a column, or a column's form
    paper_groups: bool = True
    cutoffs: tuple[tuple[str, float], ...] = ()          # the Survival page's cutoffs (defaults of cut columns)
    selection: str = "p"
    alpha: float = 0.05
    manual: tuple[str, ...] = ()
    grid: tuple[CovariateSpec, ...] | None = None
    groupings: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    response_by: str | None = None
    ae_by: str | None = None
    baseline_by: str | None = None
    meta: MetaSpec | None = None
    title: str = ""

    # --- JSON ------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict | None) -> "ReportSpec":
        """A spec from its JSON object; a value that cannot be read raises :class:`AnalysisError` naming it."""
        d = dict(d or {})
        if not isinstance(d, dict):
            raise AnalysisError("the report view must be a JSON object")
        ds = _section(d, "dataset")
        km = _section(d, "km")
        cox = _section(d, "cox")
        group_by = _section(d, "group_by")
        meta = d.get("meta")
        endpoints = tuple(_endpoint(e, i) for i, e in enumerate(_list(d.get("endpoints"), "endpoints")))
        ci = str(km.get("ci") or "log-log")
        if ci not in CI_TYPES:
            raise AnalysisError(f"km.ci must be one of {', '.join(CI_TYPES)}")
        selection = str(cox.get("selection") or "p")
        if selection not in SELECTION_RULES:
            raise AnalysisError("cox.selection must be 'p' (univariable p < alpha) or 'manual'")
        alpha = _number(cox.get("alpha", 0.05), "cox.alpha")
        if not 0 < alpha < 1:
            raise AnalysisError("cox.alpha must be between 0 and 1")
        cutoff = km.get("cutoff")
        spec = cls(
            dataset_name=str(ds.get("name") or ""),
            synthetic=bool(ds.get("synthetic", False)),
            cohort=bool(d.get("cohort", True)),
            dataset_file=_text(ds.get("file")),
            time_unit=_text(ds.get("time_unit")),
            sheet=_text(ds.get("sheet")),
            endpoints=endpoints,
            by=_text(km.get("by")),
            cutoff=None if cutoff is None else _number(cutoff, "km.cutoff"),
            cutoff_source=_text(km.get("cutoff_source")),
            ci=ci,
            landmarks=_times(km.get("landmarks"), "km.landmarks"),
            risk_times=_times(km.get("risk_times"), "km.risk_times"),
            covariates=_candidates(cox.get("covariates"), "cox.covariates"),
            paper_groups=bool(cox.get("paper_groups", True)),
            cutoffs=_cutoffs(cox.get("cutoffs")),
            selection=selection,
            alpha=alpha,
            manual=tuple(str(m).strip() for m in _list(cox.get("manual"), "cox.manual") if str(m).strip()),
            grid=None if d.get("grid") is None else _covariates(d.get("grid"), "grid"),
            groupings=_groupings(d.get("groupings")),
            response_by=_text(group_by.get("response")),
            ae_by=_text(group_by.get("ae")),
            baseline_by=_text(group_by.get("baseline")),
            meta=_meta(meta),
            title=str(d.get("title") or ""),
        )
        if spec.cutoff is not None and spec.by is None:
            raise AnalysisError("km.cutoff needs km.by (the column it cuts)")
        if not spec.cohort and spec.meta is None:
            raise AnalysisError("a view without the cohort ('cohort': false) needs 'meta'")
        return spec

    @classmethod
    def from_json(cls, text: str) -> "ReportSpec":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise AnalysisError(f"the report view is not valid JSON ({exc.msg}, line {exc.lineno})") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict:
        """The JSON object :meth:`from_dict` reads back to an equal spec."""
        return {
            "dataset": {"name": self.dataset_name, "synthetic": self.synthetic, "file": self.dataset_file,
                        "time_unit": self.time_unit, "sheet": self.sheet},
            "cohort": self.cohort,
            "endpoints": [e.to_dict() for e in self.endpoints],
            "km": {"by": self.by, "cutoff": self.cutoff, "cutoff_source": self.cutoff_source, "ci": self.ci,
                   "landmarks": None if self.landmarks is None else list(self.landmarks),
                   "risk_times": None if self.risk_times is None else list(self.risk_times)},
            "cox": {"covariates": list(self.covariates), "paper_groups": self.paper_groups,
                    "cutoffs": dict(self.cutoffs), "selection": self.selection, "alpha": self.alpha,
                    "manual": list(self.manual)},
            "grid": None if self.grid is None else [c.label for c in self.grid],
            "groupings": {col: dict(pairs) for col, pairs in self.groupings},
            "group_by": {"response": self.response_by, "ae": self.ae_by, "baseline": self.baseline_by},
            "meta": None if self.meta is None else self.meta.to_dict(),
            "title": self.title,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    @property
    def cox_items(self) -> list[tuple[str, str | None]]:
        """The Cox candidates as (column as written, form or None for the page's default form)."""
        return [covariate_item(c) for c in self.covariates]

    def replace(self, **changes: Any) -> "ReportSpec":
        from dataclasses import replace

        return replace(self, **changes)


# --- readers of the JSON parts ----------------------------------------------------------------------------
def _section(d: dict, key: str) -> dict:
    value = d.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AnalysisError(f"'{key}' must be a JSON object")
    return value


def _list(value, what: str) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.split(",")]
    if not isinstance(value, (list, tuple)):
        raise AnalysisError(f"'{what}' must be a list")
    return list(value)


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _number(value, what: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise AnalysisError(f"'{what}' must be a number") from None
    if not math.isfinite(x):
        raise AnalysisError(f"'{what}' must be a finite number")
    return x


def _times(value, what: str) -> tuple[float, ...] | None:
    if value is None:
        return None
    times = tuple(_number(v, what) for v in _list(value, what) if str(v).strip() != "")
    if any(t < 0 for t in times):
        raise AnalysisError(f"'{what}' must be times >= 0 (months)")
    return tuple(sorted(set(times)))


def _endpoint(e, i: int) -> EndpointSpec:
    if isinstance(e, (list, tuple)) and len(e) in (2, 3):
        e = dict(zip(("time", "event", "label"), e))
    if not isinstance(e, dict) or not e.get("time") or not e.get("event"):
        raise AnalysisError(f"endpoint {i + 1} needs a 'time' and an 'event' column")
    return EndpointSpec(str(e["time"]).strip(), str(e["event"]).strip(), str(e.get("label") or "").strip())


def _covariates(value, what: str) -> tuple[CovariateSpec, ...]:
    items = [str(v).strip() for v in _list(value, what)]
    specs = tuple(parse_covariate(item) for item in items if item)
    labels = [s.label for s in specs]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise AnalysisError(f"'{what}' names a covariate more than once: {', '.join(dup)}")
    return specs


def _candidates(value, what: str) -> tuple[str, ...]:
    """Cox candidates (see :func:`covariate_item`), each column once."""
    items = [str(v).strip() for v in _list(value, what)]
    out, columns = [], []
    for item in items:
        if item:
            column, form = covariate_item(item)
            out.append(candidate_text(column, form))
            columns.append(column)
    dup = sorted({c for c in columns if columns.count(c) > 1})
    if dup:
        raise AnalysisError(f"'{what}' names a covariate more than once: {', '.join(dup)}")
    return tuple(out)


def _cutoffs(value) -> tuple[tuple[str, float], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise AnalysisError("'cox.cutoffs' must map a column to its cutoff")
    return tuple((str(k), _number(v, f"cox.cutoffs.{k}")) for k, v in value.items())


def _groupings(value) -> tuple:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise AnalysisError("'groupings' must map a column to {level: group}")
    out = []
    for col, mapping in value.items():
        if not isinstance(mapping, dict) or not mapping:
            raise AnalysisError(f"grouping of '{col}' must map its levels to groups")
        groups = {str(g).strip() for g in mapping.values()}
        if len(groups) < 2 or "" in groups:
            raise AnalysisError(f"grouping of '{col}' must make at least two named groups")
        out.append((str(col), tuple((str(k).strip(), str(v).strip()) for k, v in mapping.items())))
    return tuple(out)


def _meta(value) -> MetaSpec | None:
    if value is None or value is False:
        return None
    if isinstance(value, str):
        value = {"outcome": value}
    if not isinstance(value, dict):
        raise AnalysisError("'meta' must be a JSON object such as {\"outcome\": \"os\", \"method\": \"REML\"}")
    outcome = str(value.get("outcome") or "os").lower()
    method = str(value.get("method") or "REML").upper()
    measure = str(value.get("measure") or "RR").upper()
    if outcome not in META_OUTCOMES:
        raise AnalysisError(f"meta.outcome must be one of {', '.join(META_OUTCOMES)}")
    if method not in META_METHODS:
        raise AnalysisError(f"meta.method must be one of {', '.join(META_METHODS)}")
    if measure not in ("RR", "OR"):
        raise AnalysisError("meta.measure must be RR or OR")
    derive = value.get("derive")
    derive = DERIVATIONS if derive is None else tuple(str(x) for x in _list(derive, "meta.derive"))
    unknown = sorted(set(derive) - set(DERIVATIONS))
    if unknown:
        raise AnalysisError(f"meta.derive: unknown derivation(s) {', '.join(unknown)} "
                            f"(known: {', '.join(DERIVATIONS)})")
    rows = []
    for x in _list(value.get("exclude"), "meta.exclude"):
        row = _number(x, "meta.exclude")
        if row < 0 or row != int(row):
            raise AnalysisError("meta.exclude must list study rows (0-based whole numbers)")
        rows.append(int(row))
    return MetaSpec(outcome, method, bool(value.get("hk", False)), bool(value.get("mh", False)), measure,
                    tuple(d for d in DERIVATIONS if d in derive), tuple(sorted(set(rows))),
                    _text(value.get("subgroup")))
