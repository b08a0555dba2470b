"""The importer's fast paths give exactly what the plain ones give."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import io as aio

# --- the absurd-exponent screen --------------------------------------------------------------------------------

_bytes = st.lists(st.sampled_from([b"e", b"E", b"1", b"0", b"+", b"-", b" ", b"\n", b"\t", b"x", b",", b'"', b"9"]),
                  max_size=60).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(raw=_bytes)
def test_exponent_screen_equals_the_regular_expression(raw):
    expected = bool(aio.HUGE_EXPONENT_BYTES.search(raw))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(aio, "_SCREEN_DIRECT", 0)
        mp.setattr(aio, "_SCREEN_BLOCK", 7)                  # matches across block boundaries
        assert aio.has_huge_exponent(raw) == expected
        mp.setattr(aio, "_SCREEN_MAX_TRIES", 1)              # the plain search taking over
        assert aio.has_huge_exponent(raw) == expected
