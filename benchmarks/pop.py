"""Dense moment relaxations of classic POPs: sizes, build and solve times, bound vs known optimum.

Also builds the same relaxation as a plain cvxpy model (moment matrices entry by entry, as a
user would write it) and reports the build-time ratio against polyopt's direct sparse assembly
(both measured up to solver-ready data: ``get_problem_data`` for cvxpy, the solver's
standard form for polyopt).

Run: python benchmarks/pop.py [--quick]
"""

from __future__ import annotations

import argparse
import time
import warnings

import cvxpy as cp
import numpy as np
from instances import (
    broyden_tridiagonal,
    chained_singular,
    generalized_rosenbrock,
    maxcut,
    random_box_qp,
)

from polyopt.backends import default_solver
from polyopt.backends.standard_form import to_standard
from polyopt.monomials import monomial_basis
from polyopt.relaxations.dense import dense


def plain_cvxpy_build(problem, order: int) -> cp.Problem:
    """The order-``order`` moment relaxation written directly in cvxpy, entry by entry."""
    vars_ = problem.variables
    n = len(vars_)
    full = monomial_basis(n, 2 * order)
    index = {tuple(r): k for k, r in enumerate(full)}
    y = cp.Variable(len(full))
    cons = [y[0] == 1]

    def loc(basis, poly):
        ex = poly.aligned(vars_) if poly is not None else np.zeros((1, n), int)
        co = poly.coefficients if poly is not None else np.ones(1)
        rows = []
        for a in basis:
            row = []
            for b in basis:
                row.append(sum(c * y[index[tuple(a + b + e)]] for e, c in zip(ex, co)))
            rows.append(row)
        return cp.bmat(rows)

    cons.append(loc(monomial_basis(n, order), None) >> 0)
    for g in problem.inequalities:
        cons.append(loc(monomial_basis(n, order - (g.degree + 1) // 2), g) >> 0)
    for h in problem.equalities:
        ex, co = h.aligned(vars_), h.coefficients
        for m in monomial_basis(n, 2 * order - h.degree):
            cons.append(sum(c * y[index[tuple(m + e)]] for e, c in zip(ex, co)) == 0)
    f = problem.min_objective()
    obj = sum(c * y[index[tuple(e)]] for e, c in zip(f.aligned(vars_), f.coefficients))
    return cp.Problem(cp.Minimize(obj), cons)


def main() -> None:
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small instances only")
    ap.add_argument(
        "--time-limit",
        type=float,
        default=120.0,
        help="per-solve limit for solvers that support one (SCS, Clarabel)",
    )
    ap.add_argument(
        "--cvxpy-max-block",
        type=int,
        default=120,
        help="skip the plain cvxpy build above this moment-matrix size",
    )
    args = ap.parse_args()
    sizes = [6, 10] if args.quick else [6, 10, 14, 20]
    instances = []
    for n in sizes:
        instances += [broyden_tridiagonal(n), chained_singular(n), generalized_rosenbrock(n)]
    for n in [6, 8] if args.quick else [6, 8, 10]:
        instances.append(random_box_qp(n, seed=n))
    for n in [8, 10] if args.quick else [8, 10, 12]:
        instances.append(maxcut(n, seed=n))
    head = (
        f"{'instance':26s} {'n':>3} {'ord':>3} {'moments':>8} {'block':>6} {'build s':>8} "
        f"{'cvxpy s':>8} {'ratio':>7} {'solver':>8} {'solve s':>8} {'status':>10} "
        f"{'bound':>13} {'known':>10} {'gap':>9}"
    )
    print(head)
    print("-" * len(head))
    for inst in instances:
        prob = inst.problem
        t0 = time.perf_counter()
        relax = dense(prob, inst.order)
        to_standard(relax.program, "gram", "upper_col")
        build = time.perf_counter() - t0
        block = relax.program.sizes()["largest_block"]
        cvx_s, ratio = "-", "-"
        if block <= args.cvxpy_max_block:
            t0 = time.perf_counter()
            model = plain_cvxpy_build(prob, inst.order)
            model.get_problem_data(cp.SCS)
            c = time.perf_counter() - t0
            cvx_s, ratio = f"{c:8.3f}", f"{c / build:7.0f}"
        solver = default_solver(relax.program)
        limit = args.time_limit if solver in ("scs", "clarabel") else None
        r = prob.solve(order=inst.order, time_limit=limit)
        known = inst.known
        gap = abs(r.bound - known) / max(1.0, abs(known)) if known is not None else np.nan
        print(
            f"{inst.name:26s} {prob.nvars:3d} {inst.order:3d} {r.sizes['variables'] + 1:8d} "
            f"{block:6d} {build:8.3f} {cvx_s:>8} {ratio:>7} {r.solver:>8} "
            f"{r.solve_seconds:8.2f} {r.status:>10} {r.bound:13.6g} "
            f"{known if known is not None else float('nan'):10.6g} {gap:9.1e}",
            flush=True,
        )


if __name__ == "__main__":
    main()
