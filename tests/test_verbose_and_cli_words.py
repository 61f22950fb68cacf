"""verbose= shows the library's progress on stderr (and only then); the command lines speak in
their own flags; --version; polyopt solve --export."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

import lipschitz
import polyopt as po
from lipschitz.cli import main as lipschitz_main
from polyopt.cli import main as polyopt_main
from polyopt.cli_words import in_flag_words


def _problem() -> po.Problem:
    x, y = po.variables("x"), po.variables("y")
    return po.Problem(minimize=x**2 + y**2 - x, constraints=[1 - x**2 >= 0, 1 - y**2 >= 0])


def test_solve_verbose_logs_build_choice_and_result(capfd):
    r = _problem().solve(verbose=True)
    err = capfd.readouterr().err
    assert r.bound == pytest.approx(-0.25, abs=1e-6)
    assert "polyopt: built the dense relaxation of order 1" in err
    assert "polyopt: solving with" in err
    assert "polyopt: lower bound -0.25" in err


def test_quiet_by_default_and_handlers_removed_after(capfd):
    _problem().solve(verbose=True)
    capfd.readouterr()
    _problem().solve()
    assert "polyopt:" not in capfd.readouterr().err
    assert not [
        h for h in logging.getLogger("polyopt").handlers if type(h).__name__ != "NullHandler"
    ]


def test_upper_bound_verbose_logs_each_solve_once(capfd):
    net = lipschitz.random_network((3, 6), seed=0)
    b = lipschitz.upper_bound(net, order=1, verbose=True)
    err = capfd.readouterr().err
    assert "lipschitz: hr-1: LCEP with" in err
    assert err.count("polyopt: built the") == 1  # the nested verbose call adds no second handler
    assert f"upper {b.value:.6g}" in err
    lipschitz.upper_bound(net, order=1)
    assert "lipschitz:" not in capfd.readouterr().err


def test_compare_verbose_logs_every_method(capfd):
    net = lipschitz.random_network((3, 6), seed=0)
    lipschitz.compare(net, methods=["naive", "fastlip", "exact"], verbose=True, progress=False)
    err = capfd.readouterr().err
    for m in ("naive", "fastlip", "exact"):
        assert f"compare: running {m}" in err
    assert "exact: MILP 1 of" in err


@pytest.mark.parametrize(
    "message,words",
    [
        ("order= applies to method='hr' only", "--order applies to --method hr only"),
        ("time_limit must be positive", "--time-limit must be positive"),
        ("unknown_name stays, x=3 stays", "unknown_name stays, x=3 stays"),
    ],
)
def test_messages_in_flag_words(message, words):
    flags = {"order": "--order", "method": "--method", "time_limit": "--time-limit"}
    assert in_flag_words(message, flags) == words


def test_version_flags(capsys):
    for main, name in ((polyopt_main, "polyopt"), (lipschitz_main, "lipschitz")):
        with pytest.raises(SystemExit) as exit_:
            main(["--version"])
        assert exit_.value.code == 0
        assert capsys.readouterr().out.strip() == f"{name} {po.__version__}"


@pytest.fixture()
def net_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "net.npz"
    np.savez(path, W0=rng.normal(size=(5, 3)), b0=np.zeros(5), W1=rng.normal(size=(1, 5)), b1=[0.0])
    return str(path)


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--method", "shor", "--order", "2"], "--order applies to --method hr only"),
        (["--output", "a"], "--output takes a logit i or a pair i,r"),
        (["--radius", "0.1", "--center", "1,x"], "--center takes comma-separated numbers"),
        (["--method", "lipsdp", "--time-limit", "3"], "--time-limit does not apply"),
        (["--time-limit", "0"], "--time-limit must be a positive number"),
    ],
)
def test_lipschitz_cli_errors_name_flags(net_file, capsys, argv, expected):
    assert lipschitz_main(["bound", net_file, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lipschitz: error: ") and expected in err
    assert "=" not in err.split("error: ")[1].split(",")[0]  # no keyword syntax


def test_lipschitz_cli_verbose(net_file, capsys):
    assert lipschitz_main(["bound", net_file, "--order", "1", "-v", "--json"]) == 0
    out, err = capsys.readouterr()
    assert "lipschitz: hr-1" in err
    record = json.loads(out.strip().splitlines()[-1])
    assert record["sound"] and record["value"] > 0


def test_polyopt_cli_error_names_flag_and_export(tmp_path, capsys):
    path = tmp_path / "p.json"
    path.write_text(
        json.dumps(
            {
                "variables": ["x", "y"],
                "minimize": "x^2 + y^2 - x",
                "constraints": ["1 - x^2 >= 0", "1 - y^2 >= 0"],
            }
        )
    )
    assert polyopt_main(["solve", str(path), "--time-limit", "-1"]) == 2
    assert "polyopt: error: --time-limit must be a positive number" in capsys.readouterr().err
    out = tmp_path / "p.dat-s"
    assert polyopt_main(["solve", str(path), "--order", "2", "--export", str(out)]) == 0
    text = out.read_text()
    assert (
        "sense = min" in text and "wrote the dense relaxation of order 2" in capsys.readouterr().out
    )
