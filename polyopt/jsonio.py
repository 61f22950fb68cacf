"""Strict JSON for result objects: no bare NaN or Infinity, numpy values as Python values.

Non-finite floats are written as the strings ``"nan"``, ``"inf"`` and ``"-inf"`` (strict JSON
has no literal for them) and read back by :func:`from_strict` where a float is expected.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def to_strict(obj: Any) -> Any:
    """``obj`` with numpy scalars and arrays as Python values and non-finite floats as
    strings; dict keys become strings. Values JSON cannot hold raise ``TypeError``."""
    if isinstance(obj, dict):
        return {str(k): to_strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_strict(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_strict(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    if obj is None or isinstance(obj, str):
        return obj
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def from_strict(value: Any) -> Any:
    """A float written by :func:`to_strict` (the non-finite strings included)."""
    if isinstance(value, str) and value in NONFINITE:
        return NONFINITE[value]
    return value


def jsonable(obj: Any) -> bool:
    """Can :func:`to_strict` write ``obj``?"""
    try:
        to_strict(obj)
    except TypeError:
        return False
    return True


def write_json(record: dict[str, Any], path: str | None = None) -> str:
    """``record`` (already :func:`to_strict`) as strict JSON text, also written to ``path``
    (with a final newline) when given."""
    import json

    text = json.dumps(record, allow_nan=False)
    if path is not None:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return text


def decode_strict(value: Any) -> Any:
    """``value`` written by :func:`to_strict` with the non-finite strings turned back into
    floats, in nested lists and dicts too."""
    if isinstance(value, dict):
        return {k: decode_strict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_strict(v) for v in value]
    return from_strict(value)


def load_json(text_or_path: Any) -> Any:
    """Parse JSON text, or the JSON file at a path (a ``PathLike``, or a string that does not
    start with ``{`` or ``[``)."""
    if isinstance(text_or_path, bytes):
        text_or_path = text_or_path.decode("utf-8")
    if isinstance(text_or_path, os.PathLike) or (
        isinstance(text_or_path, str) and not text_or_path.lstrip().startswith(("{", "["))
    ):
        with open(text_or_path, encoding="utf-8") as fh:
            return json.load(fh)
    if not isinstance(text_or_path, str):
        raise TypeError(f"expected JSON text or a path, got {type(text_or_path).__name__}")
    return json.loads(text_or_path)
