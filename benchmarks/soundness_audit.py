"""Soundness audit: many random cases, every method and solver, exact ground truths.

The ``--cases`` trials are split evenly among the targets: the network methods (``shor``,
``hr-1``, ``hr-2``, ``fastlip``, ``naive``, ``lipsdp``, ``lipopt``, ``liplp``, ``exact``,
``lower``) and the polyopt solvers on polynomial problems (``pop-clarabel``, ``pop-scs``,
``pop-sdpa``, ``pop-arrow``, ``pop-lp``). Every network target runs on the same random
networks (their norm drawn among those the method supports), every polyopt target on the
same random problems; the cases and their exact truths are those of ``tests/soundness_cases.py``
(a case is reproduced from its seed, which the JSON output records).

For each target the table gives the trials, how many results claimed a bound valid in exact
arithmetic (``sound`` / ``certified``; every lower bound), how many of those claims were on
the wrong side of the exact truth (``invalid``; ``gross`` when by more than ``1e-9``
relative, the rest are rounding-level), crashes by exception type, ``n/a`` (the solver does
not apply: the block-arrow solver on a relaxation without that structure), and the
non-optimal statuses returned.

Run: python benchmarks/soundness_audit.py [--cases 10000] [--seed 0] [--methods shor,pop-scs]
         [--out audit.json] [--jobs 1]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
import warnings
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from soundness_cases import (  # noqa: E402
    NETWORK_METHODS,
    POP_SOLVERS,
    judge_network,
    judge_pop,
    network_case,
    network_truth,
    pop_case,
    pop_truth,
    run_network_method,
    run_pop,
)

from polyopt import NotArrow, SolverUnavailable  # noqa: E402

NETWORK_TARGETS = tuple(NETWORK_METHODS)
POP_TARGETS = tuple(f"pop-{s}" for s in POP_SOLVERS)
TARGETS = NETWORK_TARGETS + POP_TARGETS


def _record(target: str, seed: int) -> dict[str, Any]:
    return {
        "target": target,
        "seed": int(seed),
        "claimed": False,
        "invalid": False,
        "gross": False,
        "status": None,
        "error": None,
        "seconds": 0.0,
    }


def _crash(rec: dict[str, Any], exc: BaseException) -> None:
    rec["error"] = type(exc).__name__
    rec["message"] = str(exc)[:300]
    rec["where"] = traceback.format_exception(exc)[-2].strip()[:300]


def run_network_case(seed: int, targets: list[str]) -> list[dict[str, Any]]:
    """Every network target on the network case of ``seed``."""
    out = []
    try:
        truth = network_truth(seed)
    except Exception as exc:  # the ground truth itself failed: no trial counts
        rec = _record("truth", seed)
        _crash(rec, exc)
        return [rec]
    for target in targets:
        rec = _record(target, seed)
        case = network_case(seed, NETWORK_METHODS[target])
        rec["norm"] = case.norm
        t0 = time.perf_counter()
        try:
            result = run_network_method(target, case)
            verdict = judge_network(target, case, result, truth)
        except Exception as exc:
            _crash(rec, exc)
        else:
            rec.update(
                claimed=verdict.claimed,
                invalid=verdict.invalid,
                gross=verdict.gross,
                status=verdict.status,
                value=verdict.value,
                truth=verdict.truth,
                excess=verdict.excess,
            )
            if verdict.invalid:
                rec["message"] = verdict.message
        rec["seconds"] = time.perf_counter() - t0
        out.append(rec)
    return out


def run_pop_case(seed: int, targets: list[str]) -> list[dict[str, Any]]:
    """Every polyopt target on the polynomial problem of ``seed``."""
    out = []
    try:
        case = pop_case(seed)
        truth = pop_truth(seed)
    except Exception as exc:
        rec = _record("truth", seed)
        _crash(rec, exc)
        return [rec]
    if truth is None:  # no exactly feasible point: nothing to compare with
        rec = _record("truth", seed)
        rec["error"] = "NoFeasiblePoint"
        return [rec]
    for target in targets:
        solver = target.removeprefix("pop-")
        rec = _record(target, seed)
        t0 = time.perf_counter()
        try:
            result = run_pop(solver, case, seed)
            verdict = judge_pop(solver, case, result, truth)
        except (NotArrow, SolverUnavailable) as exc:
            rec["status"] = "n/a"
            rec["message"] = str(exc)[:300]
        except Exception as exc:
            _crash(rec, exc)
        else:
            rec.update(
                claimed=verdict.claimed,
                invalid=verdict.invalid,
                gross=verdict.gross,
                status=verdict.status,
                value=verdict.value,
                truth=verdict.truth,
                excess=verdict.excess,
            )
            if verdict.invalid:
                rec["message"] = verdict.message
        rec["seconds"] = time.perf_counter() - t0
        out.append(rec)
    return out


def _run(job: tuple[str, int, list[str]]) -> list[dict[str, Any]]:
    kind, seed, targets = job
    logging.getLogger("polyopt").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "net":
            return run_network_case(seed, targets)
        return run_pop_case(seed, targets)


def summarize(records: list[dict[str, Any]], targets: list[str]) -> dict[str, dict[str, Any]]:
    """Per target: trials, claimed, invalid, gross, errors by type, n/a, statuses, seconds."""
    summary: dict[str, dict[str, Any]] = {}
    by_target: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        by_target[rec["target"]].append(rec)
    for target in [*targets, "truth"]:
        recs = by_target.get(target, [])
        if target == "truth" and not recs:
            continue
        statuses = Counter(
            r["status"]
            for r in recs
            if r["error"] is None and r["status"] not in (None, "optimal", "n/a")
        )
        summary[target] = {
            "trials": len(recs),
            "claimed": sum(r["claimed"] for r in recs),
            "invalid": sum(r["invalid"] for r in recs),
            "gross": sum(r["gross"] for r in recs),
            "errors": dict(Counter(r["error"] for r in recs if r["error"] is not None)),
            "not_applicable": sum(r["status"] == "n/a" for r in recs),
            "statuses": dict(statuses),
            "seconds": sum(r["seconds"] for r in recs),
        }
    return summary


def table(summary: dict[str, dict[str, Any]]) -> str:
    """The summary as a text table."""
    head = (
        f"{'method/solver':14} {'trials':>6} {'claimed':>7} {'invalid':>7} {'gross':>5} "
        f"{'n/a':>4} {'time (s)':>9}  errors; non-optimal statuses"
    )
    lines = [head, "-" * len(head)]
    for target, s in summary.items():
        errs = ", ".join(f"{k} {v}" for k, v in sorted(s["errors"].items())) or "-"
        stats = ", ".join(f"{k} {v}" for k, v in sorted(s["statuses"].items())) or "-"
        lines.append(
            f"{target:14} {s['trials']:6d} {s['claimed']:7d} {s['invalid']:7d} {s['gross']:5d} "
            f"{s['not_applicable']:4d} {s['seconds']:9.1f}  {errs}; {stats}"
        )
    return "\n".join(lines)


def parse_targets(text: str) -> list[str]:
    """``all``, ``networks``, ``pops`` or a comma-separated list of targets."""
    if text == "all":
        return list(TARGETS)
    if text == "networks":
        return list(NETWORK_TARGETS)
    if text == "pops":
        return list(POP_TARGETS)
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t not in TARGETS]
    if unknown or not names:
        raise SystemExit(f"unknown target(s) {unknown}; choose among {', '.join(TARGETS)}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10000, help="trials in all (split)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the case seeds")
    parser.add_argument(
        "--methods", default="all", help="all, networks, pops or a list such as shor,pop-scs"
    )
    parser.add_argument("--out", type=Path, default=None, help="write the records as JSON")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (1: inline)")
    parser.add_argument("--progress", type=int, default=0, help="report every N cases")
    args = parser.parse_args(argv)
    if args.cases < 1 or args.jobs < 1:
        parser.error("--cases and --jobs must be >= 1")
    targets = parse_targets(args.methods)
    net_t = [t for t in targets if t in NETWORK_TARGETS]
    pop_t = [t for t in targets if t in POP_TARGETS]
    per = max(1, -(-args.cases // len(targets)))  # at least --cases trials in all
    seeds = np.random.default_rng(args.seed).integers(0, 2**32, size=(2, per))
    jobs: list[tuple[str, int, list[str]]] = []
    for i in range(per):  # interleaved, so that progress covers both families
        if net_t:
            jobs.append(("net", int(seeds[0, i]), net_t))
        if pop_t:
            jobs.append(("pop", int(seeds[1, i]), pop_t))
    every = args.progress or max(1, len(jobs) // 20)
    print(
        f"soundness audit: {per} trials for each of {len(targets)} targets "
        f"({len(jobs)} cases, seed {args.seed}, {args.jobs} job(s))",
        flush=True,
    )
    t0 = time.perf_counter()
    records: list[dict[str, Any]] = []

    def progress(done: int) -> None:
        if done % every == 0 or done == len(jobs):
            bad = sum(r["invalid"] for r in records)
            errs = sum(r["error"] is not None for r in records)
            print(
                f"  {done}/{len(jobs)} cases, {time.perf_counter() - t0:.0f} s, "
                f"{bad} invalid, {errs} errors",
                flush=True,
            )

    if args.jobs == 1:
        for done, job in enumerate(jobs, 1):
            records += _run(job)
            progress(done)
    else:
        with ProcessPoolExecutor(args.jobs) as pool:
            for done, recs in enumerate(pool.map(_run, jobs, chunksize=4), 1):
                records += recs
                progress(done)
    summary = summarize(records, targets)
    print()
    print(table(summary))
    invalid = [r for r in records if r["invalid"]]
    if invalid:
        print(f"\n{len(invalid)} invalid claims (largest relative violation first):")
        for r in sorted(invalid, key=lambda r: -r["excess"])[:20]:
            print(f"  {r['message']}")
    crashes = [r for r in records if r["error"] is not None]
    if crashes:
        print(f"\n{len(crashes)} errors (first of each target and type):")
        seen = set()
        for r in crashes:
            key = (r["target"], r["error"])
            if key not in seen:
                seen.add(key)
                print(f"  {r['target']} seed {r['seed']}: {r['error']}: {r.get('message', '')}")
    if args.out is not None:
        payload = {
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "targets": targets,
            "trials_per_target": per,
            "seconds": time.perf_counter() - t0,
            "summary": summary,
            "records": records,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(payload, indent=1, default=float))
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
