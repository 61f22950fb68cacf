"""Max-cut of a random graph: order 1 (Goemans-Williamson) and order 2 against brute force.

Run: python examples/maxcut.py
"""

import itertools

import numpy as np

import polyopt as po

rng = np.random.default_rng(1)
n = 7
edges = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.5]
x = po.variables("x", n)
cut = po.polysum((1 - x[i] * x[j]) / 2 for i, j in edges)
prob = po.Problem(maximize=cut, constraints=x**2 == 1)

best = max(sum(s[i] != s[j] for i, j in edges) for s in itertools.product((0, 1), repeat=n))
print(f"{len(edges)} edges, maximum cut {best} (brute force)")
for order in (1, 2):
    r = prob.solve(order=order)
    print(f"order {order}: upper bound {r.bound:.6f} ({r.status}, {r.seconds:.3f} s)")
