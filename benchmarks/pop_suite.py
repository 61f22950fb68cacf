"""Classic POPs with every sparsity mode: bound, gap to the known optimum, time, peak memory.

Each (instance, mode) runs in a fresh process (its peak resident memory is the process's own)
with default solver options and a time limit. Modes: dense (as users call it: settled by
the correlative relaxation and a feasible point where they attain the optimum, shown as
``dense:settled``), dense-only (``settle=False``: the dense relaxation itself), correlative,
term (TSSOS), correlative+term (CS-TSSOS) and auto. Dense relaxations whose moment matrix is
larger than ``--dense-max-side`` are skipped (say so in the table) unless they can be
settled.

Run: python benchmarks/pop_suite.py [--quick] [--time-limit 120] [--dense-max-side 100]
     [--families chained_singular,...] [--sizes 16,20] [--modes dense,dense-only,...]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from math import comb
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MODES = ("dense", "correlative", "term", "correlative+term", "auto")
"""The default modes; ``dense-only`` (the dense relaxation without settling) on request."""


def suite(quick: bool, sizes: list[int] | None = None) -> list[tuple[str, tuple]]:
    """(family, args) pairs of the fixed suite (``sizes``: the chain families' sizes)."""
    sizes = sizes or ([6, 10] if quick else [6, 10, 20, 40])
    cases: list[tuple[str, tuple]] = []
    for n in sizes:
        cases += [("generalized_rosenbrock", (n,)), ("broyden_tridiagonal", (n,))]
        cases.append(("chained_singular", (n if n % 2 == 0 else n + 1,)))
        cases.append(("chained_wood", (n if n % 2 == 0 else n + 1,)))
    cases.append(("broyden_banded", (10,)))
    cases.append(("motzkin_ball", ()))
    cases += [("random_box_qp", (n, n)) for n in ([6, 8] if quick else [6, 8, 10])]
    cases += [("maxcut", (n, 0.5, n)) for n in ([8, 10] if quick else [8, 10, 12])]
    cases += [("term_sparse_quartic", (n,)) for n in ([10] if quick else [10, 12, 40, 100])]
    return cases


def settles(family: str, args: tuple) -> bool:
    """Whether a dense request may be settled by the correlative relaxation (it is tried)."""
    import instances

    from polyopt.settle import correlative_is_smaller

    inst = getattr(instances, family)(*args)
    return correlative_is_smaller(inst.problem, inst.order)


def run_one(family: str, args: tuple, mode: str, time_limit: float) -> dict:
    """Solve one case in this process; the record printed by ``--one``."""
    warnings.filterwarnings("ignore")
    import instances

    inst = getattr(instances, family)(*args)
    t0 = time.perf_counter()
    sparsity = "dense" if mode == "dense-only" else mode
    r = inst.problem.solve(
        order=inst.order, sparsity=sparsity, time_limit=time_limit, settle=mode != "dense-only"
    )
    seconds = time.perf_counter() - t0
    info = r.relax.info if r.relax is not None else {}
    chosen = info.get("auto", {}).get("chosen", r.relaxation)
    if mode == "auto":
        mode = f"auto:{chosen}"
    elif mode == "dense" and r.raw.get("settled"):
        mode = "dense:settled"
    return {
        "instance": inst.name,
        "n": inst.problem.nvars,
        "order": inst.order,
        "mode": mode,
        "largest_block": r.sizes.get("largest_block") if r.sizes else None,
        "moments": (r.sizes["variables"] + 1) if r.sizes else None,
        "solver": r.solver,
        "status": r.status,
        "bound": r.bound,
        "known": inst.known,
        "seconds": seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small instances only")
    ap.add_argument("--time-limit", type=float, default=120.0, help="per case, seconds")
    ap.add_argument("--dense-max-side", type=int, default=100, help="skip larger dense runs")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--families", default=None, help="only these families (comma-separated)")
    ap.add_argument("--sizes", default=None, help="sizes of the chain families (comma-separated)")
    ap.add_argument("--json", default=None, help="also write the records to this file")
    ap.add_argument("--one", nargs=3, metavar=("FAMILY", "ARGS", "MODE"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        family, args, mode = a.one
        print(json.dumps(run_one(family, tuple(json.loads(args)), mode, a.time_limit)))
        return
    head = (
        f"{'instance':22s} {'n':>4} {'ord':>3} {'mode':24s} {'block':>6} {'moments':>8} "
        f"{'solver':>8} {'status':>11} {'bound':>14} {'gap':>9} {'time s':>8} {'peak MB':>8}"
    )
    print(head)
    print("-" * len(head))
    records = []
    sizes = [int(v) for v in a.sizes.split(",")] if a.sizes else None
    families = a.families.split(",") if a.families else None
    for family, args in suite(a.quick, sizes):
        if families and family not in families:
            continue
        dense_value = None
        for mode in a.modes.split(","):
            if mode in ("dense", "dense-only") and family != "motzkin_ball":
                n = args[0]
                side = comb(n + (3 if family == "broyden_banded" else 2), n)
                if side > a.dense_max_side and not (mode == "dense" and settles(family, args)):
                    print(
                        f"{family + str(list(args)):22s} {n:4d} {'':>3} {mode:24s} {side:6d} "
                        f"{'':>8} {'':>8} {'skipped':>11}"
                    )
                    continue
            cmd = [
                sys.executable,
                __file__,
                "--time-limit",
                str(a.time_limit),
                "--one",
                family,
                json.dumps(list(args)),
                mode,
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=a.time_limit * 3)
            if out.returncode != 0:
                last = (out.stderr.strip().splitlines() or ["?"])[-1]
                print(f"{family:22s} {mode:24s} failed: {last}")
                continue
            rec = json.loads(out.stdout.strip().splitlines()[-1])
            if mode in ("dense", "dense-only") and rec["status"] == "optimal":
                dense_value = rec["bound"]
            ref = rec["known"] if rec["known"] is not None else dense_value
            rec["reference"] = "known" if rec["known"] is not None else "dense"
            gap = abs(rec["bound"] - ref) / max(1.0, abs(ref)) if ref is not None else None
            rec["gap"] = gap
            records.append(rec)
            gap_s = f"{gap:9.1e}" if gap is not None else f"{'-':>9}"
            print(
                f"{rec['instance']:22s} {rec['n']:4d} {rec['order']:3d} {rec['mode']:24s} "
                f"{rec['largest_block'] or 0:6d} {rec['moments'] or 0:8d} {rec['solver']:>8} "
                f"{rec['status']:>11} {rec['bound']:14.7g} {gap_s} {rec['seconds']:8.2f} "
                f"{rec['peak_mb']:8.0f}",
                flush=True,
            )
    if a.json:
        Path(a.json).write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
