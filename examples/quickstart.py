"""Minimize a quartic on the unit ball with the dense Lasserre hierarchy.

Run: python examples/quickstart.py
"""

import polyopt as po

x = po.variables("x", 3)
prob = po.Problem(
    minimize=x[0] ** 4 + x[1] ** 2 - x[0] * x[2],
    constraints=[1 - (x**2).sum() >= 0],
)
for order in (2, 3):
    r = prob.solve(order=order)
    print(f"order {order}: lower bound {r.bound:.8f} ({r.status}, certified={r.certified})")
mins = r.minimizers()
print("certified global minimizers:" if mins.certified else f"no certificate: {mins.reason}")
for point in mins:
    value = prob.objective.evaluate(point, prob.variables)
    print("  ", point.round(6), "objective", round(value, 8))
