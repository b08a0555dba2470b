"""Tumour-board deliverables of a cohort view: a slide deck (.pptx), manuscript tables (.docx) and an R bundle
(.zip: an R script and the analysed data as CSV) that reproduces every number.

* :mod:`reports.spec` -- :class:`~reports.spec.ReportSpec`, the view a deliverable describes (dataset, endpoints,
  stratification, Cox covariates and selection rule, groupings, meta-analysis outcome), read from JSON or the
  command line;
* :mod:`reports.results` -- every number, computed by ``analysis`` (never here) for that view;
* :mod:`reports.figures` -- the pages' figure builders (``components``) rendered to PNG with kaleido and
  Debian's Chromium;
* :mod:`reports.deck`, :mod:`reports.manuscript`, :mod:`reports.rscript` -- the three files;
* ``python -m reports deck|docx|r FILE ... -o OUT`` -- the command line (README, "Reports").
"""
from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from pathlib import Path

__version__ = "0.14.0"
ROOT = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=1)
def app_version() -> str:
    """The app's version for a title slide or a script header: ``0.14.0`` and the commit when known
    (``HAIC_APP_COMMIT`` set by a deployment, else the git checkout's)."""
    commit = os.environ.get("HAIC_APP_COMMIT", "").strip()
    if not commit and (ROOT / ".git").exists():
        try:
            commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                    text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            commit = ""
    return f"{__version__} ({commit})" if commit else __version__


#: the deliverables: deck (.pptx), docx (manuscript tables), r (the R bundle, .zip)
KINDS = ("deck", "docx", "r")


def build(results, kind: str, progress=None) -> bytes:
    """The bytes of one deliverable of ``results`` (:func:`reports.results.compute`); ``progress(done, total)``
    while a deck's figures render."""
    if kind == "deck":
        from reports.deck import build_deck

        return build_deck(results, progress=progress)
    if kind == "docx":
        from reports.manuscript import build_manuscript

        if not results.has_cohort:
            from analysis.errors import AnalysisError

            raise AnalysisError("the manuscript tables are a cohort's (Tables 1-5): make the deck or the R bundle "
                                "of the meta-analysis")
        return build_manuscript(results)
    if kind == "r":
        from reports.rscript import build_bundle

        return build_bundle(results)
    raise ValueError(f"unknown deliverable {kind!r}")
