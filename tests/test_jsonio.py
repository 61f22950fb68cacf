"""Strict JSON for results: no bare NaN, round trips of Lipschitz bounds."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import lipschitz as lp
import polyopt as po
from polyopt.jsonio import from_strict, to_strict


def _strict_loads(text: str):
    def refuse(name):
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_to_strict_converts_numpy_and_nonfinite():
    data = {"a": np.float64(np.nan), 1: [np.inf, -np.inf, np.int64(3)], "b": np.array([1.5])}
    out = to_strict(data)
    assert out == {"a": "nan", "1": ["inf", "-inf", 3], "b": [1.5]}
    assert math.isnan(from_strict("nan")) and from_strict("-inf") == -math.inf
    with pytest.raises(TypeError):
        to_strict({"x": object()})


def test_lipschitz_bound_round_trips():
    net = lp.random_network((3, 5), seed=1)
    for b in (
        lp.upper_bound(net, method="fastlip"),
        lp.upper_bound(net, method="shor", domain=(np.zeros(3), 0.5)),
        lp.LipschitzBound(math.nan, "upper", "hr-2", status="solver_error", sound=False),
    ):
        text = b.to_json()
        _strict_loads(text)
        back = lp.LipschitzBound.from_json(text)
        for field in ("kind", "method", "status", "sound", "norm", "neurons"):
            assert getattr(back, field) == getattr(b, field)
        assert (math.isnan(back.value) and math.isnan(b.value)) or back.value == b.value


def test_result_and_comparison_write_strict_json(tmp_path):
    x = po.variables("x", 2)
    r = po.Problem(minimize=x[0]).solve()  # unbounded: bound -inf
    data = _strict_loads(r.to_json())
    assert data["bound"] == "-inf" and data["status"] == "unbounded"
    assert data["problem"]["minimize"]
    net = lp.random_network((2, 3), seed=0)
    table = lp.compare(net, methods=["naive", "fastlip", "sampling"], domain=(np.zeros(2), 0.5))
    table.rows[0].value = math.nan  # a failed method
    path = tmp_path / "t.json"
    table.save(str(path))
    loaded = _strict_loads(path.read_text())
    assert loaded["rows"][0]["value"] == "nan"
