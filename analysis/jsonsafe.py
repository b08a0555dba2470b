"""Plain JSON types for results' ``to_dict()``: NaN and infinities become ``None`` (JSON has neither), numpy
scalars Python numbers. The command line's :func:`analysis.cli.json_safe` adds objects with a ``to_dict``."""
from __future__ import annotations

import math
from typing import Any

import numpy as np


def json_num(x: Any) -> float | None:
    """A float, or None for None/NaN/inf."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def json_safe(obj: Any) -> Any:
    """Plain JSON types: NaN/inf -> None, numpy scalars -> Python numbers, tuples -> lists."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
