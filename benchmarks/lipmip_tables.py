"""Every estimator against exact Lipschitz constants: the setting of LipMIP's appendix Table 1.

Jordan and Dimakis (2020), appendix F.2: ``L1(f, X)`` (the largest ``||grad||_inf``, input
norm L1; ``--norm inf`` gives the main paper's ``L-inf`` setting) of ``f_0 - f_1`` over the
unit hypercube, for

* ``random``: networks [16, 16, 16, 2] with He initialization (``lipschitz.he_network``);
* ``synthetic``: networks [10, 20, 30, 30, 2] (appendix F.2; the caption of Table 1 says
  [10, 20, 30, 2], which ``--synthetic-sizes 10,20,30,2`` gives) trained for ``--epochs``
  epochs (Adam, learning rate 1e-3, cross-entropy, batches of 128) on a synthetic dataset of
  2000 points in [0, 1]^10 labelled by the class of their nearest of 20 random "leaders"
  (2 classes).

For each method: mean and standard deviation of the time, and of the relative error to the
exact value (``lipschitz.exact``, HiGHS), over the networks whose exact value was proved;
the published figures (Gurobi, 2 threads) sit beside them. The SDP relaxations (Shor, HR-2)
run on the first ``--sdp-networks`` networks only (the column ``n`` says how many).

Run: python benchmarks/lipmip_tables.py [--settings random synthetic] [--networks 20]
         [--sdp-networks 5] [--norm 1] [--epochs 500] [--time-limit 600]
         [--synthetic-sizes 10,20,30,30,2]
         [--sdp-time-limit 120] [--methods shor hr-2 ...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import lipschitz as lp
from lipschitz.compare import DEFAULT_METHODS

# LipMIP appendix Table 1 (L1(f, X), unit hypercube): (time mean, time std, rel. error %)
PUBLISHED = {
    "random": {
        "randomlb": (0.238, 0.004, -30.43),
        "clever": (1.442, 0.071, -13.00),
        "exact": (18.825, 19.244, 0.00),
        "fastlip": (0.001, 0.000, 167.55),
        "liplp": (0.018, 0.009, 167.55),
        "lipsdp": (2.624, 0.026, 559.97),
        "seqlip": (0.007, 0.001, 773.38),
        "naive": (0.000, 0.000, 3121.51),
    },
    "synthetic": {
        "randomlb": (0.301, 0.004, -29.27),
        "clever": (55.847, 79.212, 0.00),
        "exact": (1.873, 0.030, 4.18),
        "fastlip": (0.028, 0.001, 156.67),
        "liplp": (0.001, 0.000, 156.67),
        "lipsdp": (2.705, 0.030, 432.47),
        "seqlip": (0.015, 0.002, 674.84),
        "naive": (0.000, 0.000, 11979.62),
    },
}
CHEAP = ("randomlb", "search", "clever", "fastlip", "liplp", "lipsdp", "seqlip", "naive")
SDP = ("shor", "hr-2")


def synthetic_dataset(
    dim: int = 10,
    points: int = 2000,
    classes: int = 2,
    leaders: int = 20,
    min_separation: float = 0.01,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """LipMIP's procedural dataset (appendix F.1): points in the unit hypercube (resampled
    when closer than ``min_separation`` to an earlier one), ``leaders`` of them get random
    labels, every point takes its nearest leader's label."""
    rng = np.random.default_rng(seed)
    X = np.empty((points, dim))
    k = 0
    while k < points:
        p = rng.uniform(0.0, 1.0, dim)
        if k == 0 or np.min(np.linalg.norm(X[:k] - p, axis=1)) >= min_separation:
            X[k] = p
            k += 1
    lead = rng.choice(points, size=leaders, replace=False)
    lead_labels = rng.integers(0, classes, size=leaders)
    nearest = np.argmin(np.linalg.norm(X[:, None, :] - X[lead][None], axis=2), axis=1)
    return X, lead_labels[nearest]


def train_network(sizes, X, y, epochs: int, seed: int) -> lp.ReLUNetwork:
    """Train a fully connected ReLU network (Adam, lr 1e-3, cross-entropy, batches of 128)."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)  # tiny layers: threads only add overhead
    layers: list = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1]).double()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    Xt, yt = torch.tensor(X), torch.tensor(y, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(Xt), generator=gen).split(128):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(Xt[idx]), yt[idx]).backward()
            opt.step()
    return lp.ReLUNetwork.from_torch(model)


def evaluate(net, norm, methods, time_limit, sdp_time_limit) -> dict:
    dom = (np.full(net.input_dim, 0.5), 0.5)
    spec = dict(norm=norm, domain=dom, output=(0, 1))
    out: dict[str, tuple[float, float, str]] = {}
    for m in methods:
        if m == "randomlb":
            r = lp.lower_bound(net, method="sampling", samples=1000, **spec)
        elif m == "search":
            r = lp.lower_bound(net, method="search", **spec)
        elif m == "exact":
            r = lp.exact(net, time_limit=time_limit, **spec)
        elif m in ("fastlip", "naive", "shor"):
            r = lp.upper_bound(net, method=m, **spec)
        elif m == "hr-2":
            r = lp.upper_bound(net, order=2, time_limit=sdp_time_limit, **spec)
        else:
            r = getattr(lp, m)(net, **spec)
        out[m] = (float(r.value), float(r.seconds), r.status, float(getattr(r, "lower", r.value)))
    return out


def networks(setting: str, count: int, epochs: int, sizes=(10, 20, 30, 30, 2)):
    if setting == "random":
        for seed in range(count):
            yield lp.he_network([16, 16, 16, 2], seed=seed)
        return
    X, y = synthetic_dataset(seed=0)
    for seed in range(count):
        yield train_network(list(sizes), X, y, epochs, seed)


def table(setting: str, results: list[dict], norm: str) -> str:
    names = ["randomlb" if m == "sampling" else m for m in DEFAULT_METHODS]
    pub = PUBLISHED[setting] if norm == "1" else {}
    lines = [
        f"{'method':<9} {'n':>3} {'time (s)':>17} {'rel. error':>19} | "
        f"{'published time':>16} {'rel. err':>10}",
    ]
    for m in names:
        rows = [(r[m], r["exact"]) for r in results if m in r]
        if not rows:
            continue
        times = np.array([v[1] for v, _ in rows])
        # against the exact value, or (not proved) the lower end of its bracket
        errs = np.array([(v[0] - e[3]) / e[3] * 100 for v, e in rows])
        err = f"{errs.mean():+8.2f} ± {errs.std():7.2f}%" if errs.size else f"{'-':>19}"
        p = pub.get(m)
        ptxt = f"{p[0]:7.3f} ± {p[1]:6.3f} {p[2]:+9.2f}%" if p else ""
        lines.append(
            f"{m:<9} {len(rows):>3} {times.mean():8.3f} ± {times.std():6.3f} {err} | {ptxt}"
        )
    failed = [r["exact"] for r in results if r["exact"][2] != "optimal"]
    if failed:
        gaps = ", ".join(f"[{e[3]:.4g}, {e[0]:.4g}]" for e in failed)
        lines.append(
            f"exact not proved within the time limit on {len(failed)} network(s), brackets "
            f"{gaps}: errors there are relative to the bracket's lower end"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--settings", nargs="+", default=["random", "synthetic"], choices=["random", "synthetic"]
    )
    ap.add_argument("--networks", type=int, default=20)
    ap.add_argument("--sdp-networks", type=int, default=5)
    ap.add_argument("--norm", default="1", choices=["1", "inf"])
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument(
        "--synthetic-sizes",
        default="10,20,30,30,2",
        help="layer sizes of the trained networks (input 10, output 2)",
    )
    ap.add_argument(
        "--methods",
        nargs="+",
        default=None,
        help="run only these (names as in the table; exact always runs)",
    )
    ap.add_argument("--time-limit", type=float, default=600.0, help="per exact solve")
    ap.add_argument(
        "--sdp-time-limit",
        type=float,
        default=120.0,
        help="per HR-2 solve (a time-limited solve still gives a certified bound)",
    )
    args = ap.parse_args()
    sizes = tuple(int(v) for v in args.synthetic_sizes.split(","))
    if len(sizes) < 3 or sizes[0] != 10 or sizes[-1] != 2:
        ap.error("--synthetic-sizes must start with 10 (the data) and end with 2 (the classes)")
    for setting in args.settings:
        t0 = time.perf_counter()
        results = []
        for k, net in enumerate(networks(setting, args.networks, args.epochs, sizes)):
            methods = ("exact",) + CHEAP + (SDP if k < args.sdp_networks else ())
            if args.methods is not None:
                methods = tuple(m for m in methods if m == "exact" or m in args.methods)
            res = evaluate(net, args.norm, methods, args.time_limit, args.sdp_time_limit)
            results.append(res)
            print(
                f"[{setting} {k}] exact {res['exact'][0]:.6g} ({res['exact'][2]}, "
                f"{res['exact'][1]:.1f} s)",
                flush=True,
            )
        print(
            f"\n{setting}: L_{args.norm} of f_0 - f_1 over [0, 1]^n, {len(results)} networks"
            f" ({time.perf_counter() - t0:.0f} s)"
        )
        print(table(setting, results, args.norm), flush=True)


if __name__ == "__main__":
    main()
