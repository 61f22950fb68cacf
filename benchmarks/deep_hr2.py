"""HR-1 and HR-2 per network on deeper random networks (default (40, 40, 10)): certified
values, solve status and the seconds of each ``upper_bound`` call, global box (radius 10) and
local box (radius 0.1 around 0).

Run: python benchmarks/deep_hr2.py [--sizes 40,40,10] [--sparsities 10,20,30,40]
         [--networks 3] [--domains global,local]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import lipschitz as lp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="40,40,10")
    ap.add_argument("--sparsities", default="10,20,30,40")
    ap.add_argument("--networks", type=int, default=3)
    ap.add_argument("--domains", default="global,local")
    args = ap.parse_args()
    sizes = [int(v) for v in args.sizes.split(",")]
    print("domain   s seed      HR-1      s      HR-2      s     status")
    solved = total = 0
    for dom in args.domains.split(","):
        for s in [int(v) for v in args.sparsities.split(",")]:
            for seed in range(args.networks):
                net = lp.random_network(sizes, sparsity=s, seed=seed)
                box = "global" if dom == "global" else (np.zeros(net.input_dim), 0.1)
                t = time.perf_counter()
                b1 = lp.upper_bound(net, domain=box, order=1)
                t1 = time.perf_counter() - t
                t = time.perf_counter()
                b2 = lp.upper_bound(net, domain=box, order=2)
                t2 = time.perf_counter() - t
                hr2 = b2.info.get("hr2_bound", b2.value)
                solved += b2.status == "optimal"
                total += 1
                print(
                    f"{dom:6s} {s:3d} {seed:4d}  {b1.value:8.6f} {t1:6.1f}  {hr2:8.6f} {t2:6.1f}"
                    f" {b2.status:>10s}",
                    flush=True,
                )
    print(f"HR-2 solved to tolerance on {solved} of {total} networks")


if __name__ == "__main__":
    main()
