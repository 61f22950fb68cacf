"""Strict JSON for results: no bare NaN, round trips of polyopt results, Lipschitz bounds,
exact values and comparison tables (small real solves, no randomness beyond fixed seeds)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

import lipschitz as lp
import polyopt as po
from lipschitz.cli import main as lipschitz_main
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


# ---------------------------------------------------------------------- helpers
def _same(a, b) -> bool:
    """Equal, with NaN equal to NaN and arrays compared to the lists JSON gives back."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype.kind in "fc" or b.dtype.kind in "fc":
            return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))
        return a.shape == b.shape and bool(np.array_equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (float, np.floating)) and isinstance(b, (float, np.floating)):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, (bool, np.bool_)) or isinstance(b, (bool, np.bool_)):
        return isinstance(a, (bool, np.bool_)) and isinstance(b, (bool, np.bool_)) and a == b
    return bool(a == b)


def _assert_fields_equal(a, b, skip=()):
    """Every dataclass field of ``a`` and ``b`` equal (NaN-aware), except ``skip``."""
    assert type(a) is type(b)
    for f in dataclasses.fields(a):
        if f.name not in skip:
            assert _same(getattr(a, f.name), getattr(b, f.name)), f.name


def _pop_results():
    """Small real solves: certified minimizers, an unbounded and an infeasible problem, the
    LP hierarchy (first-order minimizers only) and a maximize problem."""
    x = po.variables("x", 2)
    disk = 1 - x[0] ** 2 - x[1] ** 2 >= 0
    obj = (x[0] - 1) ** 2 + (x[1] + 0.5) ** 2 + x[0] * x[1]
    return [
        po.Problem(minimize=obj, constraints=[disk]).solve(order=2),
        po.Problem(maximize=x[0] * x[1], constraints=[disk]).solve(order=2),
        po.Problem(minimize=x[0]).solve(),  # unbounded: -inf
        po.Problem(minimize=x[0], constraints=[x[0] ** 2 + 1 <= 0]).solve(),  # infeasible
        po.Problem(
            minimize=x[0] * x[1], constraints=[x[0] >= -1, x[0] <= 1, x[1] >= -1, x[1] <= 1]
        ).solve(method="lp", degree=2),
    ]


# ---------------------------------------------------------------------- polyopt.Result
def test_result_round_trips_every_field(tmp_path):
    results = _pop_results()
    assert math.isinf(results[2].bound) and results[0].minimizers().certified
    assert results[3].status == "infeasible" and not math.isfinite(results[3].bound)
    lp_min = results[4].minimizers()  # the first-order moments: a vertex of the box
    assert results[4].relaxation == "lp" and lp_min.certified
    assert abs(lp_min[0][0] * lp_min[0][1] + 1) < 1e-9 and np.abs(lp_min[0]).max() <= 1 + 1e-9
    for i, r in enumerate(results):
        text = r.to_json()
        _strict_loads(text)
        path = tmp_path / f"r{i}.json"
        r.to_json(str(path))
        for back in (
            po.Result.from_json(text),
            po.Result.from_json(path),
            po.Result.from_json(str(path)),
            po.Result.from_dict(json.loads(text)),
        ):
            _assert_fields_equal(r, back, skip=("problem", "relax", "backend_result", "raw"))
            assert back.relax is None and back.backend_result is None and back.read_from_json
            assert not r.read_from_json
            assert back.certified == r.certified and back.ok == r.ok
            assert str(back) == str(r) and back.summary() == r.summary()
            assert back.problem.to_dict() == r.problem.to_dict()
            assert back.problem.sense == r.problem.sense
            raw = {k: v for k, v in r.raw.items() if k in back.raw}
            assert _same(raw, back.raw) and set(back.raw) <= set(r.raw)
            assert _same(to_strict(raw), to_strict(back.raw))
            m, mb = r.minimizers(), back.minimizers()
            assert mb.certified == m.certified and mb.reason == m.reason
            assert len(mb) == len(m) and all(np.array_equal(p, q) for p, q in zip(m, mb))
            assert all(isinstance(p, np.ndarray) for p in mb)
            assert back.to_dict() == r.to_dict()  # the record is a fixed point
            assert back.to_json() == text


def test_result_from_json_raises_clearly_for_what_json_does_not_keep():
    r = _pop_results()[0]
    back = po.Result.from_json(r.to_json())
    for name in ("moments", "moment_vector", "moment_exponents", "gram", "block_names"):
        with pytest.raises(RuntimeError, match="read from JSON"):
            getattr(back, name)
    with pytest.raises(RuntimeError, match="read from JSON.*other tolerances"):
        back.minimizers(rank_tol=1e-6)
    bare = po.Result.from_json(r.to_json(minimizers=False))
    assert _strict_loads(r.to_json(minimizers=False))["minimizers"] is None
    with pytest.raises(RuntimeError, match="read from JSON"):
        bare.minimizers()
    assert bare.to_dict()["minimizers"] is None
    back.minimizers().append(np.zeros(2))  # a copy: the stored list is unchanged
    assert len(back.minimizers()) == len(r.minimizers())
    with pytest.raises(ValueError, match="not a Result record"):
        po.Result.from_dict({"value": 1.0})


def test_result_nonfinite_fields_survive():
    r = _pop_results()[0]
    data = r.to_dict()
    data.update(bound="nan", sound_bound=None, primal_value="inf", dual_value="-inf")
    data["raw"]["r_prim"] = "nan"
    data["raw"]["trace"] = [1.0, "inf"]
    text = json.dumps(data, allow_nan=False)
    back = po.Result.from_json(text)
    assert math.isnan(back.bound) and back.sound_bound is None and not back.certified
    assert back.primal_value == math.inf and back.dual_value == -math.inf
    assert math.isnan(back.raw["r_prim"]) and back.raw["trace"] == [1.0, math.inf]
    assert _strict_loads(back.to_json())["bound"] == "nan"


def test_minimizers_print_with_certified_flag():
    m = _pop_results()[0].minimizers()
    assert m.certified
    for shown in (str(m), repr(m)):
        assert "certified=True" in shown and m.reason in shown and "0.8172" in shown
    empty = po.Minimizers([], False, "flat truncation fails")
    assert str(empty) == "Minimizers([], certified=False, reason='flat truncation fails')"


# ---------------------------------------------------------------------- lipschitz
def test_exact_value_round_trips_as_exact_value(tmp_path):
    net = lp.random_network((2, 3), seed=0)
    ev = lp.exact(net, domain=(np.zeros(2), 0.5))
    assert isinstance(ev, lp.ExactValue) and ev.status == "optimal"
    text = ev.to_json()
    data = _strict_loads(text)
    assert data["type"] == "ExactValue" and "lower" in data and "upper" in data
    path = tmp_path / "ev.json"
    ev.to_json(str(path))
    for back in (
        lp.ExactValue.from_json(text),
        lp.LipschitzBound.from_json(text),  # the "type" key gives the subclass
        lp.LipschitzBound.from_json(path),
        lp.LipschitzBound.from_dict(json.loads(path.read_text())),
    ):
        assert isinstance(back, lp.ExactValue)
        _assert_fields_equal(ev, back)
        assert back.gap == ev.gap and repr(back) == repr(ev)
        assert back.to_dict() == ev.to_dict()
    # a failed exact value: non-finite fields
    failed = lp.ExactValue(
        math.nan,
        "exact",
        "lipmip",
        status="time_limit",
        sound=False,
        lower=1.0,
        upper=math.inf,
        info={"solver_upper": math.inf},
    )
    text = failed.to_json()
    _strict_loads(text)
    back = lp.LipschitzBound.from_json(text)
    _assert_fields_equal(failed, back)
    # a plain bound stays a LipschitzBound and is not read as an ExactValue
    plain = lp.upper_bound(net, method="naive")
    assert _strict_loads(plain.to_json())["type"] == "LipschitzBound"
    assert type(lp.LipschitzBound.from_json(plain.to_json())) is lp.LipschitzBound
    with pytest.raises(ValueError, match="not an ExactValue"):
        lp.ExactValue.from_json(plain.to_json())


def _assert_comparisons_equal(a, b):
    assert a.norm == b.norm and _same(a.exact, b.exact)
    assert len(a.rows) == len(b.rows)
    for ra, rb in zip(a.rows, b.rows):
        _assert_fields_equal(ra, rb)
    assert list(a.results) == list(b.results)
    for m in a.results:
        _assert_fields_equal(a.results[m], b.results[m])


def test_comparison_round_trips(tmp_path):
    net = lp.random_network((2, 3), seed=0)
    box = (np.zeros(2), 0.5)
    tables = [
        lp.compare(net, methods=["naive", "fastlip", "exact"], domain=box),
        lp.compare(net, methods=["naive", "exact"], norm="2", domain=box),  # exact unsupported
    ]
    assert tables[0].exact is not None and tables[0]["fastlip"].rel_error is not None
    assert tables[1]["exact"].status == "unsupported" and math.isnan(tables[1]["exact"].value)
    for i, table in enumerate(tables):
        text = table.to_json()
        _strict_loads(text)
        path = tmp_path / f"t{i}.json"
        table.save(str(path))
        assert path.read_text().strip() == text
        for back in (lp.Comparison.from_json(text), lp.Comparison.from_json(path)):
            _assert_comparisons_equal(table, back)
            assert str(back) == str(table)
            assert back.to_dict() == table.to_dict()
    back = lp.Comparison.from_json(tables[0].to_json())
    assert isinstance(back.results["exact"], lp.ExactValue)
    assert type(back.results["naive"]) is lp.LipschitzBound
    with pytest.raises(ValueError, match="not a Comparison"):
        lp.Comparison.from_json(lp.upper_bound(net, method="naive").to_json())


def test_compare_save_command_writes_what_from_json_reads(tmp_path, capsys):
    net = lp.random_network((2, 3), seed=0)
    model = tmp_path / "net.npz"
    arrays = {f"W{k}": W for k, W in enumerate(net.weights)}
    np.savez(model, **arrays, **{f"b{k}": b for k, b in enumerate(net.biases)})
    out = tmp_path / "table.json"
    argv = ["compare", str(model), "--methods", "naive,fastlip", "--radius", "0.5"]
    assert lipschitz_main(argv + ["--save", str(out)]) == 0
    printed = capsys.readouterr().out
    _strict_loads(out.read_text())
    back = lp.Comparison.from_json(out)
    assert str(back) in printed
    direct = lp.compare(net, methods=["naive", "fastlip"], domain=(np.zeros(2), 0.5))
    for ra, rb in zip(direct.rows, back.rows):
        _assert_fields_equal(ra, rb, skip=("seconds",))
