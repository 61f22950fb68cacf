"""Command line: ``lipschitz demo``, ``lipschitz bound MODEL``, ``lipschitz compare MODEL`` and
``lipschitz certify MODEL --inputs FILE.npz`` (also ``python -m lipschitz``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import numpy as np

import lipschitz
from polyopt.cli_words import flag_names, in_flag_words

from .certify import command as certify_command
from .compare import DEFAULT_METHODS, compare
from .exact import exact
from .lower import lower_bound
from .network import ReLUNetwork
from .random_nets import random_network
from .upper import upper_bound

MODEL_HELP = ".onnx, .npz with W0, b0, W1, b1, ..., or a folder of W1/B1/W2/B2 .npy"


def load_model(path: str) -> ReLUNetwork:
    """A network from an ONNX file, an ``.npz`` with arrays ``W0, b0, W1, b1, ...`` (weights
    of shape (out, in), the last pair the output layer), or a folder in SDP-NN's format
    (``W1.npy, B1.npy, W2.npy, B2.npy``, weights (in, out): :func:`lipschitz.load_sdp_nn`)."""
    if os.path.isdir(path):
        from .data import load_sdp_nn

        return load_sdp_nn(path)
    if path.endswith(".onnx"):
        return ReLUNetwork.from_onnx(path)
    if path.endswith(".npz"):
        data = np.load(path)
        k = 0
        weights, biases = [], []
        while f"W{k}" in data:
            if f"b{k}" not in data:
                raise ValueError(f"{path}: W{k} has no matching b{k}")
            weights.append(data[f"W{k}"])
            biases.append(data[f"b{k}"])
            k += 1
        if not weights:
            raise ValueError(f"{path}: no arrays named W0, b0, W1, b1, ...")
        return ReLUNetwork.from_numpy(weights, biases)
    raise ValueError(
        f"unsupported model file {path!r}: use .onnx, .npz (W0, b0, W1, b1, ...) or a folder "
        "with W1.npy, B1.npy, W2.npy, B2.npy"
    )


BOUND_METHODS = (
    "hr",
    "shor",
    "naive",
    "fastlip",
    "lower",
    "exact",
    "liplp",
    "lipsdp",
    "seqlip",
    "lipopt",
    "clever",
)


def _output(text: str | None) -> Any:
    if text is None:
        return None
    try:
        parts = [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"--output takes a logit i or a pair i,r; got {text!r}") from None
    return parts[0] if len(parts) == 1 else tuple(parts)


def _center(text: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in text.split(",")])
    except ValueError:
        raise ValueError(f"--center takes comma-separated numbers; got {text!r}") from None


def _record(b) -> dict[str, Any]:
    value = float(b.value)
    bracket = {"lower": b.lower, "upper": b.upper} if b.kind == "exact" else {}
    return bracket | {
        "value": value if np.isfinite(value) else None,
        "kind": b.kind,
        "method": b.method,
        "status": b.status,
        "sound": b.sound,
        "seconds": b.seconds,
        "norm": b.norm,
        "neurons": b.neurons,
        "sizes": b.sizes,
    }


def demo() -> None:
    """Bounds of a small random network by every method, global and local."""
    net = random_network((6, 12), seed=0)
    print(f"Lipschitz bounds of {net} (L-inf input norm, scalar output)\n")
    print(f"{'domain':>14} {'method':>8} {'bound':>9} {'seconds':>8} {'unstable':>9} {'sound':>6}")
    for label, dom in (("global (r=10)", "global"), ("local (r=0.1)", (np.zeros(6), 0.1))):
        rows = [
            upper_bound(net, method="naive", domain=dom),
            upper_bound(net, method="fastlip", domain=dom),
            upper_bound(net, method="shor", domain=dom),
            upper_bound(net, order=2, domain=dom),
            exact(net, domain=dom),
            lower_bound(net, domain=dom),
        ]
        for b in rows:
            if b.kind in ("upper", "exact"):
                unstable, sound = str(b.unstable), str(b.sound)
            else:
                unstable, sound = "-", "-"
            name = {"upper": b.method, "exact": "exact"}.get(b.kind, "lower")
            print(f"{label:>14} {name:>8} {b.value:9.4f} {b.seconds:8.3f} {unstable:>9} {sound:>6}")
    print(
        "\nlower <= exact <= every upper bound (exact: LipMIP; lower: the dual norm of an "
        "actual gradient)."
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lipschitz", description=__doc__.splitlines()[0])
    ap.add_argument("--version", action="version", version=f"lipschitz {lipschitz.__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="bounds of a small random network by every method")
    bp = sub.add_parser("bound", help="bound the Lipschitz constant of a network file")
    bp.add_argument("model", help=MODEL_HELP)
    bp.add_argument("--method", default="hr", choices=list(BOUND_METHODS))
    bp.add_argument("--order", type=int, default=None, help="HR order (1 or 2; default 2)")
    bp.add_argument("--norm", default="inf", help="input norm: inf, 1 or 2")
    bp.add_argument(
        "--radius",
        type=float,
        default=None,
        help="box radius around --center (default: the global box, radius 10)",
    )
    bp.add_argument("--center", default=None, help="comma-separated center (default 0)")
    bp.add_argument("--output", default=None, help="logit i, or i,r for f_i - f_r")
    bp.add_argument("--solver", default=None)
    bp.add_argument("--time-limit", type=float, default=None, help="seconds (exact, SDPs)")
    bp.add_argument("--json", action="store_true", help="print a JSON record")
    bp.add_argument("-v", "--verbose", action="store_true", help="show the progress and logs")
    cp = sub.add_parser("compare", help="every estimator on a network file, in one table")
    cp.add_argument("model", help=MODEL_HELP)
    cp.add_argument(
        "--methods",
        default=",".join(DEFAULT_METHODS),
        help="comma-separated (default: %(default)s)",
    )
    for flag, kw in (
        ("--norm", dict(default="inf", help="input norm: inf, 1 or 2")),
        ("--radius", dict(type=float, default=None, help="box radius (default: global)")),
        ("--center", dict(default=None, help="comma-separated center (default 0)")),
        ("--output", dict(default=None, help="logit i, or i,r for f_i - f_r")),
        ("--time-limit", dict(type=float, default=None, help="seconds per method")),
        ("--save", dict(default=None, help="write the table to a .csv or .json file")),
    ):
        cp.add_argument(flag, **kw)
    cp.add_argument("-v", "--verbose", action="store_true", help="show the progress and logs")
    certify_command.add_parser(sub)
    args = ap.parse_args(argv)
    if args.command == "demo":
        demo()
        return 0
    try:
        net = load_model(args.model)
        if args.command == "certify":
            return certify_command.run(args, net)
        domain: Any = "global"
        if args.radius is not None or args.center is not None:
            center = np.zeros(net.input_dim) if args.center is None else _center(args.center)
            domain = (center, 10.0 if args.radius is None else args.radius)
        out = _output(args.output)
        if args.command == "compare":
            table = compare(
                net,
                methods=args.methods.split(","),
                norm=args.norm,
                domain=domain,
                output=out,
                time_limit=args.time_limit,
                verbose=args.verbose,
            )
            print(table)
            if args.save:
                table.save(args.save)
            return 0
        spec = dict(norm=args.norm, domain=domain, output=out)
        if args.method in ("exact", "liplp", "lipsdp", "seqlip", "clever", "lipopt"):
            kw = {"time_limit": args.time_limit} if args.method in ("exact", "lipopt") else {}
            if args.method == "exact":
                kw["verbose"] = args.verbose
            elif args.time_limit is not None and args.method != "lipopt":
                raise ValueError(f"--time-limit does not apply to --method {args.method}")
            b = getattr(lipschitz, args.method)(net, **spec, **kw)
        elif args.method == "lower":
            b = lower_bound(net, norm=args.norm, domain=domain, output=out)
        else:
            b = upper_bound(
                net,
                order=args.order,
                method=args.method,
                norm=args.norm,
                domain=domain,
                output=out,
                solver=args.solver,
                time_limit=args.time_limit,
                verbose=args.verbose,
            )
    except (ValueError, TypeError, OSError, RuntimeError, MemoryError) as exc:
        print(f"lipschitz: error: {in_flag_words(str(exc), flag_names(ap))}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(_record(b)))
    else:
        print(b)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
