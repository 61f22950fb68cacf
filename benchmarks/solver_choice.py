"""Which solver and which form for the dense order-2 relaxation, by PSD block size.

Run: python benchmarks/solver_choice.py [--max-seconds 120]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from instances import random_ball_quartic


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="4,6,8,10,12,15,20")
    ap.add_argument("--max-seconds", type=float, default=120.0)
    ap.add_argument("--solvers", default="clarabel,sdpa,scs")
    args = ap.parse_args()
    wanted = args.solvers.split(",")
    configs = [
        (s, f) for s in ("clarabel", "sdpa", "scs") for f in ("gram", "moment") if s in wanted
    ]
    slow: set[tuple[str, str]] = set()
    print(
        f"{'n':>3} {'block':>6} {'moments':>8} {'solver':>9} {'form':>7} {'seconds':>8} "
        f"{'status':>11} {'bound':>14} {'ratio to sdpa':>13}"
    )
    for n in [int(s) for s in args.sizes.split(",")]:
        inst = random_ball_quartic(n)
        ref = None
        rows = []
        for solver, form in configs:
            if (solver, form) in slow:
                rows.append((solver, form, None, "skipped", np.nan))
                continue
            t0 = time.perf_counter()
            r = inst.problem.solve(order=2, solver=solver, form=form)
            secs = time.perf_counter() - t0
            if secs > args.max_seconds / 4:
                slow.add((solver, form))
            if solver == "sdpa" and form == "gram":
                ref = secs
            rows.append((solver, form, secs, r.status, r.bound))
        for solver, form, secs, status, bound in rows:
            ratio = f"{secs / ref:13.2f}" if secs is not None and ref else f"{'':>13}"
            s = f"{secs:8.3f}" if secs is not None else f"{'-':>8}"
            print(
                f"{n:3d} {r.sizes['largest_block']:6d} {r.sizes['variables'] + 1:8d} "
                f"{solver:>9} {form:>7} {s} {status:>11} {bound:14.8f} {ratio}",
                flush=True,
            )


if __name__ == "__main__":
    main()
