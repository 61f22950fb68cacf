"""Sparse relaxations: correlative-sparse order 2 on chain problems for n = 100 .. 10,000,
dense versus sparse time where dense still fits, and HR-2 versus Shor versus dense on a
nearly-sparse family.

Run: python benchmarks/sparse.py [--sizes 100,1000,10000] [--tol 1e-10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from instances import (
    broyden_tridiagonal,
    chained_singular,
    generalized_rosenbrock,
    nearly_sparse_qcqp,
)

from polyopt.relaxations.sparse import correlative


def chain_table(sizes: list[int], tol: float | None) -> None:
    print(
        f"{'instance':28s} {'n':>6} {'cliques':>7} {'block':>5} {'moments':>8} {'build s':>8} "
        f"{'build/clq ms':>12} {'solve s':>8} {'total s':>8} {'status':>10} {'bound':>12} "
        f"{'known':>6} {'gap':>9}"
    )
    for n in sizes:
        for make in (broyden_tridiagonal, chained_singular, generalized_rosenbrock):
            inst = make(n)
            t0 = time.perf_counter()
            correlative(inst.problem, 2)
            build = time.perf_counter() - t0
            r = inst.problem.solve(order=2, sparsity="correlative", tol=tol)
            ncl = r.sizes["psd_blocks"]
            gap = abs(r.bound - inst.known)
            print(
                f"{inst.name:28s} {n:6d} {ncl:7d} {r.sizes['largest_block']:5d} "
                f"{r.sizes['variables'] + 1:8d} {build:8.3f} {1e3 * build / ncl:12.3f} "
                f"{r.solve_seconds:8.2f} {r.seconds:8.2f} {r.status:>10} {r.bound:12.3e} "
                f"{inst.known:6.1f} {gap:9.1e}",
                flush=True,
            )


def dense_vs_sparse(sizes: list[int]) -> None:
    print(
        f"\n{'instance':28s} {'n':>4} {'dense block':>11} {'dense s':>8} {'sparse s':>8} "
        f"{'ratio':>7} {'dense bound':>12} {'sparse bound':>12}"
    )
    for n in sizes:
        for make in (broyden_tridiagonal, chained_singular, generalized_rosenbrock):
            inst = make(n)
            t0 = time.perf_counter()
            rd = inst.problem.solve(order=2)
            td = time.perf_counter() - t0
            t0 = time.perf_counter()
            rs = inst.problem.solve(order=2, sparsity="correlative")
            ts = time.perf_counter() - t0
            print(
                f"{inst.name:28s} {n:4d} {rd.sizes['largest_block']:11d} {td:8.2f} {ts:8.2f} "
                f"{td / ts:7.1f} {rd.bound:12.3e} {rs.bound:12.3e}",
                flush=True,
            )


def nearly(sizes: list[int]) -> None:
    print(
        f"\n{'instance':24s} {'n':>4} {'Shor':>10} {'HR-1':>10} {'HR-2':>10} {'dense-2':>10} "
        f"{'Shor s':>7} {'HR-2 s':>7} {'dense-2 s':>9} {'HR-2 block':>10}"
    )
    for n in sizes:
        inst = nearly_sparse_qcqp(n, seed=n)
        p = inst.problem
        shor = p.solve(order=1)
        hr1 = p.solve(order=1, sparsity="nearly")
        hr2 = p.solve(order=2, sparsity="nearly")
        if n <= 15:
            d2 = p.solve(order=2)
            d2v, d2s = f"{d2.bound:10.5f}", f"{d2.seconds:9.2f}"
        else:
            d2v, d2s = f"{'-':>10}", f"{'-':>9}"
        print(
            f"{inst.name:24s} {n:4d} {shor.bound:10.5f} {hr1.bound:10.5f} {hr2.bound:10.5f} "
            f"{d2v} {shor.seconds:7.2f} {hr2.seconds:7.2f} {d2s} "
            f"{hr2.sizes['largest_block']:10d}",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--dense-sizes", default="6,10")
    ap.add_argument("--nearly-sizes", default="8,12,15,30")
    ap.add_argument("--tol", type=float, default=None)
    ap.add_argument("--skip-chains", action="store_true")
    args = ap.parse_args()
    if not args.skip_chains:
        chain_table([int(s) for s in args.sizes.split(",")], args.tol)
    if args.dense_sizes:
        dense_vs_sparse([int(s) for s in args.dense_sizes.split(",")])
    if args.nearly_sizes:
        nearly([int(s) for s in args.nearly_sizes.split(",")])
    np.set_printoptions(precision=4)


if __name__ == "__main__":
    main()
