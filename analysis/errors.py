"""Errors the analysis layer raises for input a user can fix.

Every function in :mod:`analysis` raises :class:`AnalysisError` (a ``ValueError``) with a message that a
clinician can act on -- naming the column and, where it applies, the rows -- and never containing patient
values.  The command line turns it into ``{"error": ...}`` with exit code 2; the pages turn it into an alert.
"""


class AnalysisError(ValueError):
    """A problem with the input data or parameters, described in words fit to show a user."""
