"""A 200-variable chain problem: correlative sparsity and the LP hierarchy; HR-2 on a part.

Run: python examples/sparse_chain.py
"""

import numpy as np

import polyopt as po

rng = np.random.default_rng(0)
n = 200
x = po.variables("x", n)
q, c = rng.normal(size=n - 1), rng.normal(size=n)
f = po.polysum([q[i] * x[i] * x[i + 1] + x[i] ** 2 * x[i + 1] ** 2 for i in range(n - 1)])
f = f + po.polysum(c[i] * x[i] for i in range(n))
prob = po.Problem(minimize=f, constraints=[x >= -1, x <= 1])

r = prob.solve(order=2, sparsity="correlative")
print(
    f"correlative order 2: {r.bound:.6f} ({r.status}) {r.sizes['psd_blocks']} blocks of side "
    f"<= {r.sizes['largest_block']}, {r.seconds:.2f} s"
)
lp = prob.solve(method="lp", degree=4, sparsity="correlative")
print(
    f"LP degree 4 per clique: {lp.bound:.6f} ({lp.status}) {lp.sizes['inequalities']} "
    f"products, {lp.seconds:.2f} s"
)
m = 30  # HR-2 keeps a first-order moment matrix on all variables: keep it small here
y = x[:m]
g = po.polysum([q[i] * y[i] * y[i + 1] + y[i] ** 2 * y[i + 1] ** 2 for i in range(m - 1)])
coupled = po.Problem(
    minimize=g + po.polysum(c[i] * y[i] for i in range(m)),
    constraints=[y >= -1, y <= 1, m / 4 - po.polysum(y) >= 0],
)
hr = coupled.solve(order=2, sparsity="nearly")
print(
    f"{m} variables with a coupling constraint, HR-2: {hr.bound:.6f} ({hr.status}), "
    f"bad constraints {hr.relax.info['bad']}, {hr.seconds:.2f} s"
)
