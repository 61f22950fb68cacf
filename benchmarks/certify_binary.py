"""Robustness certification of a binary classifier with one Lipschitz bound, as in Chen et
al. (2020), Section 5.2 "Binary Classifier" and Table 3.

Data: 20,000 points in dimension 80, half near the sphere of radius 1 (class "1", target 0)
and half near the sphere of radius 2 (class "2", target 1). A point is ``r * s * u`` with
``u`` uniform on the unit sphere (a normalized Gaussian vector) and the radial factor
``s = 1 + spread * N(0, 1)`` (``--spread``, default 0.05). A 20 % held-out split measures the
test accuracy.

Network: 80 -> 80 (ReLU) -> 1, trained with torch on the logistic loss (sigmoid of the
output); the predicted class is "2" when the output is positive.

Certification: one upper bound ``L`` of the L-inf Lipschitz constant on the box of center 0
and radius 3, by HR-2 (:func:`lipschitz.upper_bound`, order 2) and / or LipOpt-3
(:func:`lipschitz.lipopt`, degree 3); ``--points`` points drawn uniformly in the box of
radius 2.9; a point with output ``y0`` is eps-robust when ``|y0| > eps * L`` (for
``eps <= 0.1`` its ball lies in the radius-3 box). The ratios come from
:func:`lipschitz.certify` (predicted classes as labels, no local bounds, no attack; in chunks
of ``--chunk`` points) and are cross-checked on a subsample with plain numpy.

Run: python benchmarks/certify_binary.py [--points 1000000] [--methods hr-2,lipopt-3]
         [--seed 0] [--epochs 30] [--plot ratios.svg] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

import lipschitz as lp

DIM = 80
HIDDEN = 80
BOX_RADIUS = 3.0
SAMPLE_RADIUS = 2.9
EPS = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1]
PUBLISHED = {
    "hr-2": [87.51, 75.02, 62.46, 49.89, 37.22, 24.36, 8.15, 2.75, 0.76, 0.12],
    "lipopt-3": [69.03, 37.84, 4.78, 0.15, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
}
METHODS = tuple(PUBLISHED)


def peak_mb() -> float:
    """Peak resident memory of the process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def spheres(
    n: int, rng: np.random.Generator, spread: float, norm: str = "2"
) -> tuple[np.ndarray, np.ndarray]:
    """Points near the spheres of radius 1 and 2 (half each) and their 0 / 1 targets.

    Parameters
    ----------
    n
        Number of points (the first ``n // 2`` near radius 1).
    rng
        The random generator.
    spread
        Relative standard deviation of the radius.
    norm
        ``"2"``: directions uniform on the Euclidean unit sphere; ``"inf"``: uniform on the
        surface of the cube ``[-1, 1]^80`` (one coordinate ``+-1``, the others uniform).

    Returns
    -------
    X, y
        ``(n, 80)`` points and their targets (0: radius 1, class "1"; 1: radius 2, class "2"),
        shuffled.
    """
    if norm == "2":
        u = rng.standard_normal((n, DIM))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
    elif norm == "inf":
        u = rng.uniform(-1.0, 1.0, size=(n, DIM))
        u[np.arange(n), rng.integers(0, DIM, size=n)] = rng.choice([-1.0, 1.0], size=n)
    else:
        raise ValueError(f"norm must be '2' or 'inf', got {norm!r}")
    y = (np.arange(n) >= n // 2).astype(np.int64)
    r = (1.0 + y) * (1.0 + spread * rng.standard_normal(n))
    perm = rng.permutation(n)
    return (r[:, None] * u)[perm], y[perm]


def train(
    X: np.ndarray, y: np.ndarray, seed: int, epochs: int, lr: float, batch: int
) -> tuple[Any, list[float]]:
    """Train the 80-80-1 ReLU network on the logistic loss with Adam.

    Parameters
    ----------
    X, y
        Training points and 0 / 1 targets.
    seed
        Seed of the initialization and of the batch order.
    epochs, lr, batch
        Number of passes, Adam's step size and the batch size.

    Returns
    -------
    model, losses
        The trained ``torch.nn.Sequential`` (float64) and the mean loss of each epoch.
    """
    import torch

    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(DIM, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 1)
    ).double()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(y.astype(np.float64))
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        perm = torch.randperm(Xt.shape[0], generator=gen)
        total = 0.0
        for start in range(0, Xt.shape[0], batch):
            idx = perm[start : start + batch]
            opt.zero_grad()
            loss = loss_fn(model(Xt[idx])[:, 0], yt[idx])
            loss.backward()
            opt.step()
            total += loss.item() * idx.numel()
        losses.append(total / Xt.shape[0])
    return model, losses


def accuracy(net: lp.ReLUNetwork, X: np.ndarray, y: np.ndarray) -> float:
    """Share of ``X`` whose predicted class (output > 0: target 1) is ``y``, in percent."""
    return 100.0 * float(np.mean((net.forward(X).reshape(-1) > 0) == (y == 1)))


def bound(net: lp.ReLUNetwork, method: str, time_limit: float | None) -> lp.LipschitzBound:
    """The HR-2 or LipOpt-3 bound of the network on the box of center 0, radius 3."""
    domain = (np.zeros(DIM), BOX_RADIUS)
    if method == "hr-2":
        return lp.upper_bound(net, order=2, domain=domain, time_limit=time_limit)
    if method == "lipopt-3":
        return lp.lipopt(net, degree=3, domain=domain, time_limit=time_limit)
    raise ValueError(f"unknown method {method!r}; choose among {METHODS}")


def certify_box(
    net: lp.ReLUNetwork,
    L: float,
    points: int,
    seed: int,
    chunk: int,
    check: int,
    sphere_norm: str = "2",
) -> dict[str, Any]:
    """Certify ``points`` uniform points of the radius-2.9 box with the bound ``L``.

    Parameters
    ----------
    net
        The scalar-output network.
    L
        A sound L-inf Lipschitz bound on the radius-3 box.
    points, seed, chunk
        Number of points, seed of their generator (the same points for every ``L``) and
        how many go to :func:`lipschitz.certify` at once.
    check
        Size of the subsample (the first points) cross-checked with ``|f(x)| > eps * L``.
    sphere_norm
        The norm of the spheres, for the nearer-sphere class of a point.

    Returns
    -------
    dict
        ``certified`` (count per eps), ``ratio`` (percent), ``positive`` (points predicted
        class "2"), ``min_norm`` (smallest norm of a point), ``accuracy`` (percent of
        points whose predicted class is that of the nearer sphere, i.e. "2" when the norm
        exceeds 1.5), ``min_abs_output``, ``max_abs_output``, ``numpy_check`` (counts of the
        subsample by both criteria), ``seconds``.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    domain = (np.zeros(DIM), BOX_RADIUS)
    certified = np.zeros(len(EPS), dtype=np.int64)
    positive = agree_label = 0
    min_norm = np.inf
    lo_abs, hi_abs = np.inf, 0.0
    ours_check = np.zeros(len(EPS), dtype=np.int64)
    plain_check = np.zeros(len(EPS), dtype=np.int64)
    done = 0
    while done < points:
        m = min(chunk, points - done)
        X = rng.uniform(-SAMPLE_RADIUS, SAMPLE_RADIUS, size=(m, DIM))
        cert = lp.certify(
            net, X, eps=EPS, domain=domain, matrix=float(L), local="none", attack=False
        )
        ok = cert.status == "certified"
        certified += ok.sum(axis=0)
        f = net.forward(X).reshape(-1)
        positive += int(np.sum(f > 0))
        norms = np.linalg.norm(X, ord=np.inf if sphere_norm == "inf" else 2, axis=1)
        min_norm = min(min_norm, float(norms.min()))
        agree_label += int(np.sum((f > 0) == (norms > 1.5)))
        lo_abs, hi_abs = min(lo_abs, float(np.abs(f).min())), max(hi_abs, float(np.abs(f).max()))
        k = min(m, max(check - done, 0))
        if k:
            plain = np.abs(f[:k, None]) > np.asarray(EPS)[None, :] * L
            plain_check += plain.sum(axis=0)
            ours_check += ok[:k].sum(axis=0)
        done += m
    return {
        "certified": certified.tolist(),
        "ratio": (100.0 * certified / points).tolist(),
        "positive": positive,
        "min_norm": min_norm,
        "accuracy": 100.0 * agree_label / points,
        "min_abs_output": lo_abs,
        "max_abs_output": hi_abs,
        "numpy_check": {
            "points": min(check, points),
            "certify": ours_check.tolist(),
            "numpy": plain_check.tolist(),
        },
        "seconds": time.perf_counter() - t0,
    }


def plot(path: Path, results: dict[str, dict[str, Any]]) -> None:
    """Certified ratio against eps, ours (solid) and published (dashed), as SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (method, res) in enumerate(results.items()):
        color = f"C{i}"
        ax.plot(EPS, res["ratio"], "o-", color=color, label=f"{method} (ours, L={res['L']:.3f})")
        ax.plot(EPS, PUBLISHED[method], "s--", color=color, label=f"{method} (Chen et al.)")
    ax.set_xlabel("eps (L-inf)")
    ax.set_ylabel("certified points (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000, help="points in the 2.9 box")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--spread", type=float, default=0.05, help="relative std of the radius")
    ap.add_argument(
        "--sphere-norm", choices=("2", "inf"), default="2", help="norm of the two spheres"
    )
    ap.add_argument("--samples", type=int, default=20_000, help="training + test points")
    ap.add_argument("--methods", default="hr-2,lipopt-3", help="comma-separated: hr-2, lipopt-3")
    ap.add_argument("--time-limit", type=float, default=None, help="per bound, in seconds")
    ap.add_argument("--chunk", type=int, default=100_000, help="points per certify call")
    ap.add_argument("--check", type=int, default=100_000, help="points checked with numpy")
    ap.add_argument("--plot", type=Path, default=None, help="SVG file of the ratios")
    ap.add_argument("--json", type=Path, default=None, help="JSON file of the results")
    args = ap.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        if m not in METHODS:
            ap.error(f"unknown method {m!r}; choose among {', '.join(METHODS)}")

    rng = np.random.default_rng(args.seed)
    X, y = spheres(args.samples, rng, args.spread, args.sphere_norm)
    n_train = int(0.8 * args.samples)
    t = time.perf_counter()
    model, losses = train(X[:n_train], y[:n_train], args.seed, args.epochs, args.lr, args.batch)
    net = lp.ReLUNetwork.from_torch(model)
    train_acc = accuracy(net, X[:n_train], y[:n_train])
    test_acc = accuracy(net, X[n_train:], y[n_train:])
    print(
        f"data: {args.samples} points, radius r * (1 + {args.spread} N(0,1)) times a uniform "
        f"direction of the L{args.sphere_norm} unit sphere, r = 1 (class 1) / 2 (class 2); "
        f"seed {args.seed}"
    )
    print(
        f"network {net}: {args.epochs} epochs (Adam lr {args.lr}, batch {args.batch}), "
        f"final loss {losses[-1]:.4g}, train accuracy {train_acc:.2f} % ({n_train}), "
        f"test accuracy {test_acc:.2f} % ({args.samples - n_train}), "
        f"{time.perf_counter() - t:.1f} s"
    )

    results: dict[str, dict[str, Any]] = {}
    failures: dict[str, dict[str, Any]] = {}
    for m in methods:
        t = time.perf_counter()
        try:
            b = bound(net, m, args.time_limit)
        except (MemoryError, ValueError) as exc:
            failures[m] = {
                "error": f"{type(exc).__name__}: {exc}",
                "seconds": time.perf_counter() - t,
                "peak_mb": peak_mb(),
            }
            print(
                f"{m}: no bound after {failures[m]['seconds']:.1f} s, peak "
                f"{failures[m]['peak_mb']:.0f} MB: {failures[m]['error']}",
                flush=True,
            )
            continue
        print(
            f"{m}: L = {b.value:.6g}, status {b.status}, sound {b.sound}, {b.seconds:.1f} s, "
            f"peak {peak_mb():.0f} MB, unstable neurons {b.unstable}",
            flush=True,
        )
        if not (b.sound and np.isfinite(b.value)):
            failures[m] = {"error": f"no sound finite bound (status {b.status})"}
            print(f"{m}: no sound finite bound; its points are not certified")
            continue
        res = certify_box(
            net, b.value, args.points, args.seed + 1, args.chunk, args.check, args.sphere_norm
        )
        res.update(L=b.value, status=b.status, sound=b.sound, bound_seconds=b.seconds)
        results[m] = res
        chk = res["numpy_check"]
        agree = chk["certify"] == chk["numpy"]
        print(
            f"{m}: certified {args.points} points in {res['seconds']:.1f} s; numpy cross-check "
            f"on {chk['points']} points: {'agrees' if agree else 'DIFFERS'} "
            f"({chk['certify']} vs {chk['numpy']})",
            flush=True,
        )

    box_acc = share2 = None
    if results:
        first = next(iter(results.values()))
        share2 = 100.0 * first["positive"] / args.points
        box_acc = first["accuracy"]
        print(
            f"\n{args.points} points uniform in the box of radius {SAMPLE_RADIUS}: "
            f"{share2:.2f} % predicted class 2; smallest L{args.sphere_norm} norm "
            f"{first['min_norm']:.2f} (the spheres have radius 1 and 2); accuracy against the "
            f"nearer sphere's class {box_acc:.2f} %; |output| in "
            f"[{first['min_abs_output']:.3g}, {first['max_abs_output']:.3g}]"
        )
    print(f"\n{'eps':>5}" + "".join(f" {m + ' ours':>14} {m + ' paper':>15}" for m in methods))
    for j, e in enumerate(EPS):
        row = f"{e:5.2f}"
        for m in methods:
            ours = f"{results[m]['ratio'][j]:13.2f}%" if m in results else f"{'-':>14}"
            row += f" {ours} {PUBLISHED[m][j]:14.2f}%"
        print(row)

    if args.plot and results:
        try:
            plot(args.plot, results)
            print(f"plot: {args.plot}")
        except ImportError:
            print("plot: matplotlib is not installed; no plot written")
    if args.json:
        payload = {
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "eps": EPS,
            "train_accuracy": train_acc,
            "test_accuracy": test_acc,
            "final_loss": losses[-1],
            "predicted_class2_pct": share2,
            "box_accuracy": box_acc,
            "published": PUBLISHED,
            "results": results,
            "failures": failures,
        }
        args.json.write_text(json.dumps(payload, indent=1, default=float))
        print(f"json: {args.json}")


if __name__ == "__main__":
    main()
