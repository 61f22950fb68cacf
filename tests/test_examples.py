"""The scripts in examples/ run and print what they claim."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(name: str) -> str:
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_quickstart():
    out = run("quickstart.py")
    assert "certified global minimizers" in out
    assert out.count("objective -0.37110") == 2


def test_maxcut_sandwich():
    out = run("maxcut.py")
    best = int(re.search(r"maximum cut (\d+)", out).group(1))
    bounds = [float(b) for b in re.findall(r"upper bound ([\d.]+)", out)]
    assert len(bounds) == 2
    assert bounds[0] >= bounds[1] - 1e-6 >= best - 1e-6  # order 1 >= order 2 >= brute force
    assert bounds[1] == pytest.approx(best, abs=1e-5)


def test_sparse_chain():
    out = run("sparse_chain.py")
    sdp = float(re.search(r"correlative order 2: (-?[\d.]+)", out).group(1))
    lp = float(re.search(r"LP degree 4 per clique: (-?[\d.]+)", out).group(1))
    assert lp <= sdp  # both are lower bounds; the LP hierarchy is the weaker one here
    assert "HR-2" in out and "bad constraints [60]" in out
