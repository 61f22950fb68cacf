"""The command line: ``polyopt solve`` and ``polyopt demo``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from polyopt.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "problems"


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_solve_json_camel(capsys):
    # six-hump camel back: global minimum -1.031628453 at (+-0.0898, -+0.7127)
    # (Henrion, Lasserre, Lofberg, GloptiPoly 3, 2009)
    rc = main(["solve", str(EXAMPLES / "camel.json"), "--order", "3", "--json"])
    rec = last_json(capsys.readouterr().out)
    assert rc == 0
    assert rec["status"] == "optimal"
    assert rec["bound"] == pytest.approx(-1.031628453, abs=1e-6)
    assert rec["bound"] <= -1.031628453 + 1e-7  # a lower bound
    assert {"bound", "status", "seconds", "minimizers"} <= set(rec)
    pts = sorted((m["x1"], m["x2"]) for m in rec["minimizers"])
    assert len(pts) == 2 and rec["minimizers_certified"]
    assert pts[0] == pytest.approx((-0.0898, 0.7127), abs=1e-3)
    assert pts[1] == pytest.approx((0.0898, -0.7127), abs=1e-3)


def test_solve_maxcut_is_upper_bound(capsys):
    # the 5-cycle has max cut 4 (brute force); order 1 (Goemans-Williamson) gives 4.5225
    rc = main(["solve", str(EXAMPLES / "maxcut_c5.json"), "--order", "1", "--json"])
    rec = last_json(capsys.readouterr().out)
    assert rc == 0
    assert rec["bound_kind"] == "upper"
    # Goemans-Williamson value of C5: (5/2)(1 + cos(pi/5)) = 4.52254 (Poljak-Rendl 1995)
    import math

    assert rec["bound"] == pytest.approx(2.5 * (1 + math.cos(math.pi / 5)), abs=1e-5)


def test_solve_human_output(capsys):
    rc = main(["solve", str(EXAMPLES / "ball_quartic.json")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "lower bound" in out and "certified global minimizers" in out


def test_infeasible_json_encodes_inf(tmp_path, capsys):
    f = tmp_path / "inf.json"
    data = {"variables": ["a"], "minimize": "a", "constraints": ["a^2 <= 1", "a >= 2"]}
    f.write_text(json.dumps(data))
    rc = main(["solve", str(f), "--json"])
    rec = last_json(capsys.readouterr().out)
    assert rec["status"] == "infeasible" and rec["bound"] == "inf"
    assert rc == 1


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["solve", "missing-file.json"], "neither an existing file"),
        (["solve", str(EXAMPLES / "camel.json"), "--solver", "nosuch"], "unknown solver"),
        (["solve", str(EXAMPLES / "camel.json"), "--order", "1"], "too small"),
    ],
)
def test_errors_exit_2(args, fragment, capsys):
    assert main(args) == 2
    assert fragment in capsys.readouterr().err


def test_malformed_json_exit_2(tmp_path, capsys):
    f = tmp_path / "bad.json"
    f.write_text('{"variables": ["x"], "minimize": ')
    assert main(["solve", str(f)]) == 2
    assert "malformed" in capsys.readouterr().err


def test_python_dash_m_demo():
    out = subprocess.run(
        [sys.executable, "-m", "polyopt", "demo"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "six-hump camel" in out.stdout and "Motzkin" in out.stdout
    motzkin = [line for line in out.stdout.splitlines() if line.startswith("Motzkin")][0]
    assert "optimal" not in motzkin.split()


def test_sparsity_and_lp_options(tmp_path, capsys):
    # max of x1*x2 + x2*x3 on [-1, 1]^3 is 2 (brute force: all ones); every relaxation here
    # gives an upper bound >= 2, the order-2 correlative one exactly 2, and the LP one too at
    # degree 2 (Handelman: 2 - x1 x2 - x2 x3 =
    # ((1-x1)(1+x2) + (1+x1)(1-x2))/2 + ((1-x2)(1+x3) + (1+x2)(1-x3))/2 on the box)
    data = {
        "variables": ["x1", "x2", "x3"],
        "maximize": "x1*x2 + x2*x3",
        "constraints": ["x1 >= -1", "x1 <= 1", "x2 >= -1", "x2 <= 1", "x3 >= -1", "x3 <= 1"],
    }
    f = tmp_path / "chain.json"
    f.write_text(json.dumps(data))
    assert main(["solve", str(f), "--order", "2", "--sparsity", "correlative", "--json"]) == 0
    rec = last_json(capsys.readouterr().out)
    assert rec["relaxation"] == "correlative" and rec["bound"] == pytest.approx(2, abs=1e-6)
    assert rec["bound"] >= 2
    assert main(["solve", str(f), "--method", "lp", "--degree", "2", "--json"]) == 0
    rec = last_json(capsys.readouterr().out)
    assert rec["relaxation"] == "lp" and rec["solver"] == "highs"
    assert rec["bound"] >= 2 and rec["bound"] == pytest.approx(2, abs=1e-6)
