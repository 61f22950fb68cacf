"""lipschitz.compare: one table of every estimator, checked against region enumeration."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from enumeration import exact_lipschitz

import lipschitz
from lipschitz import compare, he_network, random_network

CUBE3 = (np.full(3, 0.5), 0.5)
CHEAP = ["sampling", "search", "exact", "shor", "liplp", "fastlip", "lipsdp", "seqlip", "naive"]


@pytest.fixture(scope="module")
def net():
    return he_network([3, 5, 4, 2], seed=3)


@pytest.mark.parametrize("norm", ["inf", "1"])
def test_rows_bracket_the_enumerated_constant(net, norm):
    table = compare(net, methods=CHEAP + ["clever"], norm=norm, domain=CUBE3, output=(0, 1))
    truth = exact_lipschitz(net, *CUBE3, [1.0, -1.0], norm)
    assert [r.method for r in table.rows] == CHEAP + ["clever"]
    assert table.exact == pytest.approx(truth, rel=1e-6)
    for row in table.rows:
        assert row.status in ("optimal", "inaccurate", "fallback"), row
        if row.kind == "upper":
            assert row.sound and row.value >= truth * (1 - 1e-6), row
        elif row.kind == "lower":
            assert row.value <= truth * (1 + 1e-9), row
        if row.kind != "estimate":
            assert row.rel_error == pytest.approx((row.value - truth) / truth, rel=1e-5, abs=1e-6)
    assert table["exact"].kind == "exact" and abs(table["exact"].rel_error) < 1e-6
    assert table["clever"].kind == "estimate" and not table["clever"].sound
    assert isinstance(table.results["exact"], lipschitz.ExactValue)


def test_unsupported_rows_keep_the_reason():
    net = random_network((3, 4), outputs=2, seed=0)
    table = compare(net, methods=["exact", "liplp", "naive"], norm="2", output=0)
    exact_row, liplp_row, naive_row = table.rows
    assert exact_row.status == liplp_row.status == "unsupported"
    assert "polyhedral" in exact_row.message and np.isnan(exact_row.value)
    assert naive_row.status == "optimal" and naive_row.rel_error is None
    assert table.exact is None
    text = str(table)
    assert "unsupported" in text and "naive" in text


def test_save_and_print(net, tmp_path):
    table = compare(net, methods=["exact", "fastlip"], domain=CUBE3, output=(0, 1))
    table.save(str(tmp_path / "t.csv"))
    table.save(str(tmp_path / "t.json"))
    with open(tmp_path / "t.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == ["exact", "fastlip"]
    assert float(rows[1]["value"]) == pytest.approx(table["fastlip"].value)
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["exact"] == pytest.approx(table.exact) and len(data["rows"]) == 2
    lines = str(table).splitlines()
    assert lines[0].split()[:2] == ["method", "kind"] and len(lines) == 4
    with pytest.raises(ValueError, match="csv or .json"):
        table.save(str(tmp_path / "t.txt"))


def test_bad_arguments_raise(net):
    with pytest.raises(ValueError, match="unknown method"):
        compare(net, methods=["exact", "magic"], output=0)
    with pytest.raises(ValueError, match="twice"):
        compare(net, methods=["naive", "naive"], output=0)
    with pytest.raises(ValueError, match="outputs"):
        compare(net, methods=["naive"])  # two outputs: a functional is needed
    with pytest.raises(TypeError):
        compare("net", methods=["naive"])
    with pytest.raises(KeyError):
        compare(net, methods=["naive"], output=0)["exact"]
