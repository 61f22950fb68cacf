"""SDP-NN (784-500-10, Raghunathan et al. 2018): Lipschitz bounds of logit 2 for the L-inf
norm, as in Chen et al. (2020), Table 2 (global: box of radius 10 around 0; HR-2 14.56,
Shor 17.85, LBS 9.69).

The cheap methods always run; the SDP relaxations only with ``--sdp shor,hr-2`` (they are
large: Shor's moment matrix has side 2,069; by default Shor goes to the sign-program form and
the mixing method, HR-2 to the nearly-sparse relaxation).
Time and peak memory (the process's running maximum) are reported per method, and for the
SDP methods where the time goes (building the LCEP and the relaxation, solving).

Run: python benchmarks/sdp_nn.py [--data ../shared/data/sdp-nn] [--sdp shor] [--local] [--pairs]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

import lipschitz as lp

PUBLISHED = {
    "global": {"hr-2": (14.56, 12246), "shor": (17.85, 2869), "lbs": (9.69, None)},
    "local": {"hr-2": (12.70, 20596), "shor": (16.07, 4217), "lbs": (8.20, None)},
}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="folder with W1.npy, B1.npy, W2.npy, B2.npy")
    ap.add_argument("--label", type=int, default=2)
    ap.add_argument("--sdp", default="", help="comma-separated SDP methods: shor, hr-1, hr-2")
    ap.add_argument(
        "--local",
        action="store_true",
        help="also the local box of radius 0.1 around the first test image",
    )
    ap.add_argument(
        "--pairs",
        action="store_true",
        help="also the 45-pair Shor matrix on [0, 1]^784, serial and on the default pool",
    )
    ap.add_argument("--samples", type=int, default=50_000)
    ap.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="seconds per SDP bound (a stopped solve still returns a certified bound)",
    )
    ap.add_argument(
        "--no-cuts",
        action="store_true",
        help="SDP relaxations without the interval cuts (fewer dense rows)",
    )
    args = ap.parse_args()
    net = lp.load_sdp_nn(args.data)
    domains = [("global", "global")]
    if args.local:
        images, _ = lp.load_mnist(limit=1)
        domains.append(("local", (images[0], 0.1)))
    print(f"{net}, output logit {args.label}, L-inf input norm")
    print(
        f"{'domain':>7} {'method':>8} {'bound':>9} {'seconds':>9} {'peak MB':>8} "
        f"{'unstable':>8} {'paper':>7} {'paper s':>8}"
    )
    for name, dom in domains:
        rows = []
        t0 = time.perf_counter()
        lbs = lp.lower_bound(
            net, method="sampling", domain=dom, output=args.label, samples=args.samples
        )
        rows.append(("lbs", lbs))
        rows.append(
            (
                "search",
                lp.lower_bound(
                    net, method="search", domain=dom, output=args.label, samples=args.samples
                ),
            )
        )
        for m in ("naive", "fastlip"):
            rows.append((m, lp.upper_bound(net, method=m, domain=dom, output=args.label)))
        for m in filter(None, args.sdp.split(",")):
            kw = {"method": "shor"} if m == "shor" else {"order": int(m[-1])}
            b = lp.upper_bound(
                net,
                domain=dom,
                output=args.label,
                cuts=not args.no_cuts,
                time_limit=args.time_limit,
                **kw,
            )
            rows.append((m, b))
        for m, b in rows:
            pub = PUBLISHED[name].get(m)
            paper = (
                ""
                if pub is None
                else f"{pub[0]:7.2f} " + (f"{pub[1]:8d}" if pub[1] else f"{'':>8}")
            )
            print(
                f"{name:>7} {m:>8} {b.value:9.4f} {b.seconds:9.2f} {peak_mb():8.0f} "
                f"{b.unstable if b.kind == 'upper' else '':>8} {paper}",
                flush=True,
            )
        for m, b in rows:
            if b.kind == "upper" and "solver" in b.info:
                i = b.info
                print(
                    f"{'':>7} {m}: solver {i['solver']} ({i['form']} form), status {b.status}, "
                    f"sound {b.sound}; LCEP + relaxation build "
                    f"{b.seconds - i['solve_seconds']:.1f} s, solve {i['solve_seconds']:.1f} s "
                    f"({i['iterations']} iterations); largest PSD block "
                    f"{b.sizes.get('largest_block')}, {b.sizes.get('psd_entries')} PSD entries"
                )
        print(f"{'':>7} total {time.perf_counter() - t0:.1f} s")
    if args.pairs:
        pairs_table(net)


def pairs_table(net) -> None:
    """The 45-pair Shor matrix (`pairwise_bounds`) in this process and on the default process
    pool, against one logit's Shor bound timed in the same run (the ratio)."""
    box = lp.Box([0.5] * net.input_dim, 0.5)
    t = time.perf_counter()
    one = lp.upper_bound(net, method="shor", output=2, domain=box)
    single = time.perf_counter() - t
    print(f"\n45 pairs f_i - f_r, Shor, box [0, 1]^{net.input_dim}; one logit: {single:.1f} s")
    print(
        f"{'executor':>10} {'seconds':>8} {'x logit 2':>9} {'min L':>8} {'max L':>8} {'sound':>6}"
    )
    for name, ex in (("serial", "serial"), ("pool", None)):
        t = time.perf_counter()
        M = lp.pairwise_bounds(net, box, method="shor", executor=ex)
        sec = time.perf_counter() - t
        off = M.L[~np.eye(M.m, dtype=bool)]
        print(
            f"{name:>10} {sec:8.1f} {sec / single:9.1f} {off.min():8.4f} {off.max():8.4f} "
            f"{bool(M.sound.all())!s:>6}",
            flush=True,
        )
    print(
        f"logit 2: {one.value:.4f} ({one.info['solver']}); peak MB (this process) {peak_mb():.0f}"
    )


if __name__ == "__main__":
    main()
