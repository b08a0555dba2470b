"""``python -m analysis meta FILE``: pooled meta-analysis of a study file, one JSON object on stdout.

The JSON is :meth:`analysis.meta.report.MetaReport.to_dict` (public contract; extend, never break).
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np

from analysis.errors import AnalysisError
from analysis.meta.dataset import DERIVATIONS, OUTCOMES
from analysis.meta.pooling import METHODS, PI_TYPES
from analysis.meta.tsa import TSASettings

TSA_FLAGS = ("rrr", "pc")


def cmd_meta(args) -> dict:
    from analysis.meta.report import run_meta

    # numerical libraries' warnings never reach stderr (the contract: one line, and only on an error); what
    # they would say is in the JSON's notes (undefined tests, estimates that do not exist)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        report = run_meta(
            args.file, args.outcome, measure=args.measure, method=args.method, hk=args.hk,
            hk_adhoc=args.hk_adhoc, mh=args.mh, pi=args.pi, derive=derive_setting(args), subgroup=args.subgroup,
            moderator=args.moderator, egger_model=args.egger, tsa=tsa_setting(args),
        )
        return report.to_dict()


def tsa_setting(args) -> TSASettings | None:
    """The TSA request from ``--tsa --rrr R [--alpha A] [--beta B] [--pc P] [--futility]``."""
    given = [f"--{name}" for name in TSA_FLAGS if getattr(args, name) is not None]
    given += [f"--{name}" for name in ("alpha", "beta") if getattr(args, name) is not None]
    if args.futility:
        given.append("--futility")
    if not args.tsa:
        if given:
            raise AnalysisError(f"{', '.join(given)} apply only to a trial sequential analysis: add --tsa")
        return None
    if args.rrr is None:
        raise AnalysisError("--tsa needs --rrr, the relative risk reduction to detect (e.g. --rrr 0.30)")
    return TSASettings(rrr=args.rrr, alpha=0.05 if args.alpha is None else args.alpha,
                       beta=0.20 if args.beta is None else args.beta, pc=args.pc, futility=bool(args.futility))


def derive_setting(args) -> bool | tuple[str, ...]:
    """``derive`` for :func:`run_meta` from the flags: both derivations unless ``--no-derive`` (none) or
    ``--no-se-from-p`` / ``--no-count-from-pct`` (that one off)."""
    if not args.derive:
        return False
    off = {name for name, flag in (("se_from_p", args.no_se_from_p), ("count_from_pct", args.no_count_from_pct))
           if flag}
    return True if not off else tuple(d for d in DERIVATIONS if d not in off)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``meta`` on the ``python -m analysis`` parser."""
    text = ("meta-analysis of study-level ratios (HR with CI, or RR/OR from event counts): fixed and random "
            "effects, heterogeneity, prediction interval, Egger's test, trim-and-fill, leave-one-out, "
            "subgroups, meta-regression (metafor-compatible)")
    p = sub.add_parser("meta", help=text, description=text)
    p.add_argument("file", help="study CSV: the 17-study layout (data/meta17.csv) or a generic file with "
                                "study,hr,lo,hi or study,events_exp,n_exp,events_ctrl,n_ctrl")
    p.add_argument("--outcome", choices=tuple(OUTCOMES), type=str.lower,
                   help="outcome of the 17-study layout (default os)")
    p.add_argument("--method", choices=METHODS, default="REML", type=str.upper,
                   help="FE (fixed effect only) or the tau^2 estimator DL, REML (default), PM")
    p.add_argument("--hk", action="store_true", help="Hartung-Knapp(-Sidik-Jonkman) CI (metafor test='knha')")
    p.add_argument("--hk-adhoc", action="store_true",
                   help="Hartung-Knapp with the ad hoc variance floor max(1, q) (implies --hk)")
    p.add_argument("--mh", action="store_true", help="Mantel-Haenszel fixed effect (event counts only)")
    p.add_argument("--measure", choices=("RR", "OR"), default="RR", type=str.upper,
                   help="ratio for event counts (default RR)")
    p.add_argument("--pi", choices=PI_TYPES, default="metafor",
                   help="prediction interval: metafor (z; t on k-1 with --hk; default), meta (t on k-1), "
                        "hts (t on k-2)")
    p.add_argument("--derive", dest="derive", action="store_true", default=True,
                   help="use derived values (the default): SE of a log HR from its p-value when no CI is "
                        "reported (Altman & Bland 2011), event counts computed from reported percentages; "
                        "derived studies are flagged")
    p.add_argument("--no-derive", dest="derive", action="store_false",
                   help="use reported numbers only (both derivations off)")
    p.add_argument("--no-se-from-p", action="store_true",
                   help="switch off the SE-from-p-value derivation only")
    p.add_argument("--no-count-from-pct", action="store_true",
                   help="switch off the counts-from-percentages derivation only")
    p.add_argument("--subgroup", metavar="COL", help="subgroup analysis by this column")
    p.add_argument("--moderator", metavar="COL",
                   help="meta-regression on this column (numeric, or text with two levels)")
    p.add_argument("--egger", choices=("lm", "rma"), default="lm",
                   help="Egger's test: lm (classical, default) or rma (metafor regtest default)")
    t = p.add_argument_group("trial sequential analysis (event counts, risk ratio; conventions of RTSA / the TSA "
                             "program: O'Brien-Fleming alpha spending, RIS adjusted by diversity D^2)")
    t.add_argument("--tsa", action="store_true",
                   help="add a trial sequential analysis ('tsa' in the JSON); the model follows --method: FE "
                        "fixed effect (Mantel-Haenszel with --mh, else inverse variance), otherwise random "
                        "effects (DerSimonian-Laird)")
    t.add_argument("--rrr", type=float, metavar="R", help="relative risk reduction to detect, e.g. 0.30")
    t.add_argument("--alpha", type=float, metavar="A", help="two-sided type I error (default 0.05)")
    t.add_argument("--beta", type=float, metavar="B", help="type II error, power = 1 - B (default 0.20)")
    t.add_argument("--pc", type=float, metavar="P",
                   help="control-arm event risk (default: pooled over the studies' control arms)")
    t.add_argument("--futility", action="store_true", help="add non-binding beta-spending futility boundaries")
    p.set_defaults(handler=cmd_meta)
