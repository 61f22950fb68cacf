"""``lipschitz certify MODEL --inputs FILE.npz ...``: the command-line certifier."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import numpy as np

MODEL_HELP = ".onnx, .npz with W0, b0, W1, b1, ..., or a folder of W1/B1/W2/B2 .npy"
METHODS = ("shor", "hr", "fastlip", "naive", "lipsdp", "lipopt")


def parse_local(text: str | None) -> Any:
    """``--local``: None, one stage name, or a comma-separated list."""
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    return names[0] if len(names) == 1 else names


def parse_eps(values: list[str] | None) -> np.ndarray:
    """``["0.01", "0.1"]`` or ``["0.01:0.1:0.01"]`` (start:stop:step, stop included)."""
    if not values:
        return np.array([0.1])
    out: list[float] = []
    for text in values:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise ValueError(f"--eps {text!r}: use start:stop:step")
            start, stop, step = (float(p) for p in parts)
            if not step > 0 or stop < start:
                raise ValueError(f"--eps {text!r}: need step > 0 and stop >= start")
            count = int(round((stop - start) / step)) + 1
            out += [round(start + k * step, 12) for k in range(count)]
        else:
            out.append(float(text))
    return np.array(out)


def parse_pair(text: str | None, name: str) -> tuple[float, float] | None:
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"{name} {text!r}: use lo,hi")
    return float(parts[0]), float(parts[1])


def parse_domain(text: str, dim: int) -> Any:
    """``tight``, ``paper`` or ``CENTER,RADIUS`` (scalars)."""
    if text in ("tight", "paper"):
        return text
    c, r = parse_pair(text, "--domain")
    return (np.full(dim, c), r)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("certify", help="certify the robustness of inputs (a .npz with x, y)")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--inputs", required=True, help=".npz with x (n, d) and optionally y (n,)")
    p.add_argument(
        "--eps",
        action="append",
        default=None,
        help="radius; repeat it, or start:stop:step (default 0.1)",
    )
    p.add_argument("--norm", default="inf", help="perturbation norm: inf, 1 or 2")
    p.add_argument(
        "--method",
        default="shor",
        choices=METHODS + ("auto",),
        help="matrix method (auto: the cascade, with --local auto unless given)",
    )
    p.add_argument("--order", type=int, default=None, help="HR order (with --method hr)")
    p.add_argument(
        "--domain",
        default="tight",
        help="tight (default), paper (center 0, radius 2; 3 for one output) or C,R",
    )
    p.add_argument("--valid-range", default=None, help="lo,hi of valid inputs, e.g. 0,1")
    p.add_argument("--limit", type=int, default=None, help="only the first N inputs")
    p.add_argument(
        "--matrix", default=None, help="matrix file (.npz/.json): loaded if present, else saved"
    )
    p.add_argument(
        "--local",
        default=None,
        help="local stages, comma-separated, run in order on the inputs left open: fastlip "
        "(default), shor, ibp, fastlin, crown, lp-last, lp-all, milp, auto, none",
    )
    p.add_argument(
        "--milp-time-limit", type=float, default=None, help="seconds per input of the milp stage"
    )
    p.add_argument("--no-attack", action="store_true", help="skip the PGD attack")
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="worker processes (1: none; default: all cores if large)",
    )
    p.add_argument("--cache", default=None, help="directory caching the matrix's entries")
    p.add_argument("--out", default=None, help="write one record per input to this JSON file")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="show progress bars and each stage's log"
    )


def run(args: argparse.Namespace, net: Any) -> int:
    """Run the certification; returns the exit code."""

    from .matrix import LipschitzMatrix
    from .report import certify
    from .tasks import local_pool

    data = np.load(args.inputs)
    if "x" not in data:
        raise ValueError(f"{args.inputs}: no array named x")
    x = np.asarray(data["x"], dtype=float)
    y = np.asarray(data["y"]) if "y" in data else None
    if x.ndim > 2:
        x = x.reshape(x.shape[0], -1)
    if args.limit is not None:
        if args.limit < 1:
            raise ValueError("--limit must be >= 1")
        x = x[: args.limit]
        y = None if y is None else y[: args.limit]
    eps = parse_eps(args.eps)
    vr = parse_pair(args.valid_range, "--valid-range")
    matrix = None
    if args.matrix and os.path.exists(args.matrix):
        matrix = LipschitzMatrix.load(args.matrix)
    domain = None if matrix is not None else parse_domain(args.domain, net.input_dim)
    executor: Any = None  # all cores for large jobs
    if args.jobs == 1:
        executor = "serial"
    elif args.jobs:
        executor = local_pool(args.jobs)
    try:
        report = certify(
            net,
            x,
            y,
            eps=eps,
            norm=args.norm,
            domain=domain,
            valid_range=vr,
            matrix=matrix,
            method=args.method,
            order=args.order,
            local=parse_local(args.local),
            stage_options=(
                {} if args.milp_time_limit is None else {"milp_time_limit": args.milp_time_limit}
            ),
            attack=not args.no_attack,
            executor=executor,
            cache_dir=args.cache,
            progress=True if args.verbose else None,
            verbose=args.verbose,
        )
    finally:
        if executor is not None and executor != "serial":
            executor.shutdown()
    if args.matrix and matrix is None and hasattr(report.bound, "save"):
        report.bound.save(args.matrix)
    if args.out:
        report.to_json(args.out)
    print(report.summary())
    if args.json:
        print(json.dumps(report.as_dict()))
    return 0
