"""Lipschitz bounds of random banded networks: the setting of Chen et al. (2020), Table 1 and
Figure 1 (L-inf norm, scalar output, global box of radius 10 and local box of radius 0.1;
``--local-center random --local-radius R`` centers the local boxes at random points instead,
where more neurons are stable).

For each layer structure and sparsity s, ``--networks`` random networks (LipOpt's generator:
PyTorch default init, band mask of width s) are bounded by naive, FastLip, Shor, HR-1 / HR-2
and the lower bounds (LBS = 50,000 samples, and the region search); the table shows medians
of the bounds and times, and each upper bound's ratio to our LBS next to the published
HR/LBS ratio (the networks differ, the ratios compare). An SVG plot of the medians is
written with ``--plot``.

Run: python benchmarks/random_nets.py [--sizes 80,80 40,40,10] [--sparsities 10,20,...]
         [--networks 10] [--domains global,local] [--solver NAME] [--plot docs/random_nets.svg]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import lipschitz as lp

# Chen et al. 2020, Table 1 (one network per cell, global box, L-inf): bound and time (s).
PUBLISHED = {
    (80, 80): {
        "method": "hr-2",
        20: (1.45, 3.14, 1.05),
        40: (2.05, 7.78, 1.56),
        60: (2.41, 8.61, 1.65),
        80: (2.68, 9.82, 1.86),
    },
    (40, 40, 10): {
        "method": "hr-1",
        20: (0.50, 271.34, 0.20),
        40: (1.16, 165.68, 0.48),
        60: (1.82, 174.86, 0.61),
        80: (2.05, 174.02, 0.62),
    },
}


def run_cell(sizes, s, domain, networks, solver, sdp_methods, samples, center="zero", radius=0.1):
    rows: dict[str, list[tuple[float, float]]] = {}
    for seed in range(networks):
        net = lp.random_network(sizes, sparsity=s, seed=seed)
        if domain == "global":
            dom = "global"
        elif center == "zero":
            dom = (np.zeros(net.input_dim), radius)
        else:  # a random center in [-1, 1]^n, its own seed per network
            rng = np.random.default_rng(1000 + seed)
            dom = (rng.uniform(-1.0, 1.0, net.input_dim), radius)
        for name, kw in [("naive", {"method": "naive"}), ("fastlip", {"method": "fastlip"})]:
            b = lp.upper_bound(net, domain=dom, **kw)
            rows.setdefault(name, []).append((b.value, b.seconds))
        for name in sdp_methods:
            kw = {"method": "shor"} if name == "shor" else {"order": int(name[-1])}
            b = lp.upper_bound(net, domain=dom, solver=solver, **kw)
            value = b.value if b.sound else np.nan
            if not b.sound:
                print(f"  seed {seed} {name}: status {b.status}, not certified", flush=True)
            rows.setdefault(name, []).append((value, b.seconds))
        lbs = lp.lower_bound(net, method="sampling", domain=dom, samples=samples)
        rows.setdefault("lbs", []).append((lbs.value, lbs.seconds))
        best = lp.lower_bound(net, method="search", domain=dom, samples=samples)
        rows.setdefault("search", []).append((best.value, best.seconds))
    out = {}
    for k, r in rows.items():
        vals = np.array([v for v, _ in r])
        failed = int(np.sum(~np.isfinite(vals)))
        if failed:
            print(f"  {k}: {failed} of {len(vals)} solves gave no certified bound", flush=True)
        med = float(np.median(vals[np.isfinite(vals)])) if failed < len(vals) else float("nan")
        out[k] = (med, float(np.median([t for _, t in r])))
    return out


def svg_plot(
    path: str,
    series: dict[str, list[tuple[float, float]]],
    title: str,
    marks: dict[str, list[tuple[float, float]]] | None = None,
    xlabel: str = "sparsity s",
) -> None:
    """A dependency-free line plot (median bounds against sparsity by default); ``marks`` are
    drawn as points (the published values)."""
    W, H, m = 640, 400, 50
    marks = marks or {}
    every = list(series.values()) + list(marks.values())
    xs = [x for pts in every for x, _ in pts]
    ys = [y for pts in every for _, y in pts if np.isfinite(y)]
    if not xs or not ys:
        return
    x0, x1, y1 = min(xs), max(xs), max(ys) * 1.05
    px = lambda x: m + (W - 2 * m) * (x - x0) / (x1 - x0 if x1 > x0 else 1.0)  # noqa: E731
    py = lambda y: H - m - (H - 2 * m) * y / y1  # noqa: E731
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        'font-family="sans-serif" font-size="12">',
        f'<text x="{W / 2}" y="20" text-anchor="middle">{title}</text>',
        f'<line x1="{m}" y1="{H - m}" x2="{W - m}" y2="{H - m}" stroke="black"/>',
        f'<line x1="{m}" y1="{m}" x2="{m}" y2="{H - m}" stroke="black"/>',
    ]
    for x in sorted(set(xs)):
        out.append(f'<text x="{px(x)}" y="{H - m + 16}" text-anchor="middle">{x:g}</text>')
    for k in range(6):
        y = y1 * k / 5
        out.append(f'<text x="{m - 6}" y="{py(y) + 4}" text-anchor="end">{y:.2g}</text>')
    out.append(f'<text x="{W / 2}" y="{H - 12}" text-anchor="middle">{xlabel}</text>')
    for n, (name, pts) in enumerate(series.items()):
        pts = [(x, y) for x, y in pts if np.isfinite(y)]
        col = colors[n % len(colors)]
        line = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{line}" fill="none" stroke="{col}" stroke-width="2"/>')
        out.append(f'<text x="{W - m + 4}" y="{m + 14 * n}" fill="{col}">{name}</text>')
    for n, (name, pts) in enumerate(marks.items(), start=len(series)):
        col = colors[n % len(colors)]
        for x, y in pts:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="{col}"/>')
        out.append(f'<text x="{W - m + 4}" y="{m + 14 * n}" fill="{col}">{name} (dots)</text>')
    out.append("</svg>")
    with open(path, "w") as fh:
        fh.write("\n".join(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["80,80", "40,40,10"])
    ap.add_argument("--sparsities", default="10,20,30,40,50,60,70,80")
    ap.add_argument("--networks", type=int, default=10)
    ap.add_argument("--domains", default="global,local")
    ap.add_argument("--solver", default=None)
    ap.add_argument(
        "--methods",
        default=None,
        help="SDP methods, e.g. shor,hr-2 (default: shor,hr-2 for one hidden "
        "layer, shor,hr-1,hr-2 for deeper networks)",
    )
    ap.add_argument("--samples", type=int, default=50_000)
    ap.add_argument("--plot", default=None, help="write an SVG of the medians here")
    ap.add_argument("--local-center", default="zero", choices=["zero", "random"])
    ap.add_argument("--local-radius", type=float, default=0.1)
    args = ap.parse_args()
    sparsities = [int(s) for s in args.sparsities.split(",")]
    print(
        f"{'layers':>10} {'dom':>6} {'s':>3} {'method':>8} {'median':>9} {'time s':>8} "
        f"{'/LBS':>6} {'paper':>6} {'paper /LBS':>10} {'paper s':>8}"
    )
    plot: dict[str, list[tuple[float, float]]] = {}
    published: dict[str, list[tuple[float, float]]] = {}
    for text in args.sizes:
        sizes = tuple(int(v) for v in text.split(","))
        deep = len(sizes) > 2
        methods = (
            args.methods.split(",")
            if args.methods
            else ["shor", "hr-1", "hr-2"]
            if deep
            else ["shor", "hr-2"]
        )
        for domain in args.domains.split(","):
            for s in sparsities:
                t0 = time.perf_counter()
                cell = run_cell(
                    sizes,
                    s,
                    domain,
                    args.networks,
                    args.solver,
                    methods,
                    args.samples,
                    args.local_center,
                    args.local_radius,
                )
                lbs = cell["lbs"][0]
                pub = PUBLISHED.get(sizes, {}).get(s) if domain == "global" else None
                pub_m = PUBLISHED.get(sizes, {}).get("method")
                for name, (val, sec) in cell.items():
                    paper = (
                        f"{pub[0]:6.2f} {pub[0] / pub[2]:10.2f} {pub[1]:8.2f}"
                        if (pub and name == pub_m)
                        else (f"{pub[2]:6.2f} {1.0:10.2f} {'':>8}" if pub and name == "lbs" else "")
                    )
                    print(
                        f"{text:>10} {domain:>6} {s:3d} {name:>8} {val:9.4f} {sec:8.2f} "
                        f"{val / lbs:6.2f} {paper}",
                        flush=True,
                    )
                    if domain == "global" and name != "naive":  # naive would flatten the plot
                        plot.setdefault(f"{text} {name}", []).append((s, val))
                    if domain == "global" and pub and name in (pub_m, "lbs"):
                        value = pub[0] if name == pub_m else pub[2]
                        published.setdefault(f"{text} paper {name}", []).append((s, value))
                print(f"{'':>10} cell time {time.perf_counter() - t0:.1f} s", flush=True)
    if args.plot:
        svg_plot(args.plot, plot, "median Lipschitz bounds, global box, L-inf", published)
        print(f"plot written to {args.plot}")


if __name__ == "__main__":
    main()
