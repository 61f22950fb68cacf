"""Classic POPs with every sparsity mode: bound, gap to the known optimum, time, peak memory.

Each (instance, mode) runs in a fresh process (its peak resident memory is the process's own)
with default solver options and a time limit. Modes: dense, correlative, term (TSSOS),
correlative+term (CS-TSSOS) and auto. Dense relaxations whose moment matrix is larger than
``--dense-max-side`` are skipped (say so in the table) unless asked for.

Run: python benchmarks/pop_suite.py [--quick] [--time-limit 120] [--dense-max-side 100]
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


def suite(quick: bool) -> list[tuple[str, tuple]]:
    """(family, args) pairs of the fixed suite."""
    sizes = [6, 10] if quick else [6, 10, 20, 40]
    cases: list[tuple[str, tuple]] = []
    for n in sizes:
        cases += [("generalized_rosenbrock", (n,)), ("broyden_tridiagonal", (n,))]
        cases.append(("chained_singular", (n if n % 2 == 0 else n + 1,)))
    cases.append(("motzkin_ball", ()))
    cases += [("random_box_qp", (n, n)) for n in ([6, 8] if quick else [6, 8, 10])]
    cases += [("maxcut", (n, 0.5, n)) for n in ([8, 10] if quick else [8, 10, 12])]
    cases += [("term_sparse_quartic", (n,)) for n in ([10] if quick else [10, 12, 40, 100])]
    return cases


def run_one(family: str, args: tuple, mode: str, time_limit: float) -> dict:
    """Solve one case in this process; the record printed by ``--one``."""
    warnings.filterwarnings("ignore")
    import instances

    inst = getattr(instances, family)(*args)
    t0 = time.perf_counter()
    r = inst.problem.solve(order=inst.order, sparsity=mode, time_limit=time_limit)
    seconds = time.perf_counter() - t0
    info = r.relax.info if r.relax is not None else {}
    chosen = info.get("auto", {}).get("chosen", r.relaxation)
    return {
        "instance": inst.name,
        "n": inst.problem.nvars,
        "order": inst.order,
        "mode": mode if mode != "auto" else f"auto:{chosen}",
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
    for family, args in suite(a.quick):
        dense_value = None
        for mode in a.modes.split(","):
            if mode == "dense" and family != "motzkin_ball":
                n = args[0]
                side = comb(n + 2, 2)
                if side > a.dense_max_side:
                    print(
                        f"{family + str(list(args)):22s} {n:4d}   2 {'dense':24s} {side:6d} "
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
            if mode == "dense" and rec["status"] == "optimal":
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
