"""Command line: ``polyopt solve FILE.json`` and ``polyopt demo`` (also ``python -m polyopt``)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import numpy as np

from . import __version__
from .backends import SolverUnavailable
from .cli_words import flag_names, in_flag_words


def _number(x: float | None) -> Any:
    """JSON-safe number: nan -> null, +-inf -> "inf" / "-inf"."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(x)


def result_record(result, minimizers) -> dict[str, Any]:
    """The JSON object printed by ``polyopt solve --json``."""
    names = [v.name for v in result.problem.variables]
    return {
        "bound": _number(result.bound),
        "bound_kind": "lower" if result.sense == "min" else "upper",
        "sound_bound": _number(result.sound_bound),
        "status": result.status,
        "seconds": result.seconds,
        "build_seconds": result.build_seconds,
        "solve_seconds": result.solve_seconds,
        "order": result.order,
        "relaxation": result.relaxation,
        "solver": result.solver,
        "form": result.form,
        "sizes": result.sizes,
        "minimizers": [dict(zip(names, map(float, p))) for p in minimizers],
        "minimizers_certified": bool(minimizers.certified),
        "settled": _settled_record(result),
    }


def _settled_record(result) -> dict[str, Any] | None:
    """What a settled dense request skipped (see :mod:`polyopt.settle`), or None."""
    settled = (result.raw or {}).get("settled")
    if settled is None:
        return None
    return {k: _number(settled[k]) for k in ("value", "gap")} | {"requested": settled["requested"]}


def _print_result(result, minimizers) -> None:
    print(result.summary())
    if minimizers:
        tag = "certified global minimizers" if minimizers.certified else "candidate points"
        print(f"{tag}:")
        names = [v.name for v in result.problem.variables]
        for p in minimizers:
            print("  " + ", ".join(f"{n} = {v:.8g}" for n, v in zip(names, p)))
    else:
        print(f"minimizers: none extracted ({minimizers.reason})")


def cmd_solve(args: argparse.Namespace) -> int:
    from .model import Problem

    problem = Problem.from_json(args.file)
    options: dict[str, Any] = {}
    for key in (
        "solver",
        "tol",
        "max_iters",
        "time_limit",
        "sparsity",
        "degree",
        "ts_step",
        "ts_chordal",
    ):
        val = getattr(args, key)
        if val is not None:
            options[key] = val
    if args.export:
        from .export import write_sdpa
        from .solve import relax

        keep = ("sparsity", "degree", "ts_step", "ts_chordal")
        extra = {k: v for k, v in options.items() if k in keep}
        relaxation = relax(problem, args.order, method=args.method, **extra)
        write_sdpa(relaxation, args.export)
        print(
            f"wrote the {relaxation.kind} relaxation of order {relaxation.order} to {args.export}"
        )
        return 0
    if args.no_settle:
        options["settle"] = False
    result = problem.solve(
        order=args.order, form=args.form, method=args.method, verbose=args.verbose, **options
    )
    if result.relax is None:  # stopped before the relaxation was built
        print(result)
        return 1
    minimizers = result.minimizers()
    if not args.json or args.verbose:
        _print_result(result, minimizers)
    if args.json:
        print(json.dumps(result_record(result, minimizers), allow_nan=False))
    return 0 if result.status in ("optimal", "inaccurate") else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polyopt", description=__doc__)
    parser.add_argument("--version", action="version", version=f"polyopt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("solve", help="solve a problem given as JSON")
    s.add_argument(
        "file", help='JSON file: {"variables": [...], "minimize": "...", "constraints": [...]}'
    )
    s.add_argument("--order", type=int, default=None, help="relaxation order (default: smallest)")
    s.add_argument("--solver", default=None, help="clarabel, scs, sdpa, highs, mosek, cvxpy:NAME")
    s.add_argument(
        "--sparsity",
        default=None,
        choices=["dense", "correlative", "nearly", "term", "correlative+term", "auto"],
        help="relaxation (default: dense); term: TSSOS, correlative+term: CS-TSSOS, auto: "
        "chosen by the structure",
    )
    s.add_argument(
        "--ts-step", dest="ts_step", type=int, default=None, help="term sparsity step (default 1)"
    )
    s.add_argument(
        "--ts-chordal",
        dest="ts_chordal",
        default=None,
        choices=["block", "min_degree", "min_fill"],
        help="chordal extension of the term sparsity graphs (default: block)",
    )
    s.add_argument("--method", default="sdp", choices=["sdp", "lp"])
    s.add_argument("--degree", type=int, default=None, help="degree of the LP hierarchy")
    s.add_argument("--form", default="auto", choices=["auto", "moment", "gram"])
    s.add_argument("--tol", type=float, default=None)
    s.add_argument("--max-iters", dest="max_iters", type=int, default=None)
    s.add_argument("--time-limit", dest="time_limit", type=float, default=None)
    s.add_argument(
        "--no-settle",
        dest="no_settle",
        action="store_true",
        help="solve a dense relaxation even when the correlative one and a feasible point "
        "already settle it",
    )
    s.add_argument("--json", action="store_true", help="end with one JSON line")
    s.add_argument("-v", "--verbose", action="store_true", help="show the progress and solver log")
    s.add_argument(
        "--export",
        default=None,
        metavar="PATH",
        help="write the relaxation in SDPA sparse format (.dat-s) instead of solving it",
    )
    s.set_defaults(func=cmd_solve)
    d = sub.add_parser("demo", help="solve a few classic problems and print a table")
    d.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, TypeError, OSError, MemoryError, SolverUnavailable) as exc:
        message = in_flag_words(str(exc), flag_names(parser))
        print(f"polyopt: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    np.set_printoptions(precision=6)
    sys.exit(main())
