"""How many cases a property-based (Hypothesis) test draws, per profile.

``HAIC_HYPOTHESIS_PROFILE=ci`` (set by ``.ci/run``): the same cases on every run (``derandomize``), each test's
own number of them, no example database -- a CI run is reproducible and its time fixed. Locally (``dev``, the
default): new random cases on every run, twice as many, and failures remembered in ``.hypothesis/`` -- the
search goes on where CI does not look. ``tests/conftest.py`` registers and loads the profiles.
"""
from __future__ import annotations

import os

PROFILE = os.environ.get("HAIC_HYPOTHESIS_PROFILE", "dev")
#: how many times a test's own number of cases the dev profile draws
DEV_FACTOR = 2


def examples(n: int) -> int:
    """A test's number of cases under the current profile: ``n`` in CI, :data:`DEV_FACTOR` x ``n`` locally."""
    return n if PROFILE == "ci" else DEV_FACTOR * n
