"""One suite of small problems with known optima, run on every backend and home-made solver.

In the style of scipy's ``LinprogCommonTests``: every case below is solved by every solver
(in each of its standard forms) and checked the same way:

* the status (``optimal``, ``infeasible`` or ``unbounded``);
* the bound and the solver's primal value, within the solver's tolerance of the optimum;
* the certified sound bound (:func:`polyopt.certificate.certified_bounds`) on the right side
  of the optimum (below it for a minimization, above for a maximization, ``+inf`` / ``-inf``
  only for an infeasible problem), and present where every moment is bounded.

The cases are conic programs built directly (:class:`polyopt.ConicProgram`, moment form) and
polynomial problems (:class:`polyopt.Problem`) whose relaxation is exact, with closed-form or
textbook optima. Where a solver or form does not apply it must refuse cleanly: HiGHS takes
the linear programs only; the block-arrow solver raises :class:`polyopt.NotArrow` on a
program where some moment is no plain entry of a PSD block or a one-variable row (the LP
hierarchy, ``x >= 1``); SDPA's ``form="reduced"`` needs a plain moment matrix (each entry
one moment, none repeated: Shor-type relaxations). Solver shortcomings are listed in
:data:`KNOWN_FAILURES` and run as strict xfails.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

import polyopt as po
from polyopt.backends import SolverOptions, get_backend
from polyopt.certificate import certified_bounds
from polyopt.relaxations.assemble import Relaxation

SOLVERS = ["clarabel", "scs", "sdpa", "highs", "arrow", "lowrank", "cvxpy:CLARABEL", "cvxpy:SCS"]

TOL = {
    "clarabel": 1e-6,
    "cvxpy:CLARABEL": 1e-6,
    "highs": 1e-7,
    "scs": 1e-5,
    "cvxpy:SCS": 1e-3,  # cvxpy's SCS settings are looser than polyopt's own
    "sdpa": 1e-4,
    "arrow": 1e-5,
    "lowrank": 1e-4,
}
"""How far (relative to ``max(1, |optimum|)``) a solver's bound and primal value may be from
the optimum at its default settings."""


def _solver_forms() -> list[Any]:
    out = []
    for name in SOLVERS:
        backend = get_backend(name)
        marks = () if backend.available() else (pytest.mark.skip(reason=f"{name} unavailable"),)
        out += [pytest.param(name, f, id=f"{name}-{f}", marks=marks) for f in backend.forms]
    return out


SOLVER_FORMS = _solver_forms()


# --------------------------------------------------------------------------- the cases
def conic(c, psd=(), sizes=(), ineq=(), eq=()) -> po.ConicProgram:
    """A moment-form program from rows ``(coefficients, constant)``: ``A_psd y + b_psd`` (the
    lower triangles of the blocks, column by column), ``A_ineq y + b_ineq >= 0`` and
    ``A_eq y == b_eq``."""
    n = len(c)

    def rows(spec):
        if not spec:
            return sp.csr_matrix((0, n)), np.zeros(0)
        return sp.csr_matrix(np.array([r for r, _ in spec], float)), np.array([b for _, b in spec])

    A_psd, b_psd = rows(psd)
    A_ineq, b_ineq = rows(ineq)
    A_eq, b_eq = rows(eq)
    prog = po.ConicProgram(
        np.asarray(c, float), 0.0, A_eq, b_eq, A_ineq, b_ineq, A_psd, b_psd, list(sizes)
    )
    prog.check()
    return prog


@dataclass(frozen=True)
class Case:
    """A problem and what every solver must report for it.

    ``optimum``: the optimal value (a float), or ``"infeasible"`` / ``"unbounded"``;
    ``bracket``: floats ``lo <= optimum <= hi`` when the optimum is not a float (sqrt 2);
    ``lp``: no PSD block (HiGHS applies); ``arrow``: every moment is a plain entry of a
    PSD block or of a one-variable row (the block-arrow solver applies, default: not ``lp``);
    ``reducible``: a PSD block is a plain moment matrix (SDPA's reduced form applies);
    ``certifiable``: every moment bounded, so an optimal solve must come with a sound bound.
    """

    name: str
    build: Callable[[], Any]
    optimum: float | str
    sense: str = "min"
    lp: bool = False
    certifiable: bool = True
    solve_kw: dict = field(default_factory=dict)
    moment_bounds: tuple[float, ...] = ()
    bracket: tuple[float, float] | None = None
    arrow: bool | None = None
    reducible: bool = False

    @property
    def arrow_applies(self) -> bool:
        return (not self.lp) if self.arrow is None else self.arrow

    @property
    def kind(self) -> str:
        return "pop" if self.solve_kw else "conic"


x, y = po.variables("x"), po.variables("y")
SQRT2 = math.sqrt(2.0)  # the float above sqrt(2)

CASES = [
    # ---------------------------------------------------------------- conic programs
    # min x s.t. [[1, x], [x, 1]] PSD: -1
    Case(
        "psd_2x2",
        lambda: conic([1.0], psd=[([0], 1), ([1], 0), ([0], 1)], sizes=[2]),
        -1.0,
        moment_bounds=(1.0,),
        reducible=True,
    ),
    # max x1 + 2 x2 s.t. x1 + x2 <= 4, x1 + 3 x2 <= 6, x >= 0: the vertex (3, 1), value 5
    Case(
        "lp_vertex",
        lambda: conic([-1.0, -2.0], ineq=[([-1, -1], 4), ([-1, -3], 6), ([1, 0], 0), ([0, 1], 0)]),
        -5.0,
        lp=True,
        arrow=True,  # x1 >= 0 and x2 >= 0 are plain entries
        moment_bounds=(4.0, 2.0),
    ),
    # min a + b s.t. [[a, 1], [1, b]] PSD, a, b <= 10: ab >= 1 gives 2 at a = b = 1
    Case(
        "sdp_2x2_hyperbola",
        lambda: conic(
            [1.0, 1.0],
            psd=[([1, 0], 0), ([0, 0], 1), ([0, 1], 0)],
            sizes=[2],
            ineq=[([-1, 0], 10), ([0, -1], 10)],
        ),
        2.0,
        moment_bounds=(10.0, 10.0),
        reducible=True,
    ),
    # min of the off-diagonal sum over the 3x3 elliptope: 1'X1 >= 0 gives -3/2 (all -1/2)
    Case(
        "sdp_3x3_elliptope",
        lambda: conic(
            [1.0, 1.0, 1.0],
            psd=[
                ([0, 0, 0], 1),
                ([1, 0, 0], 0),
                ([0, 1, 0], 0),
                ([0, 0, 0], 1),
                ([0, 0, 1], 0),
                ([0, 0, 0], 1),
            ],
            sizes=[3],
        ),
        -1.5,
        moment_bounds=(1.0, 1.0, 1.0),
        reducible=True,
    ),
    # min t s.t. [[a, t], [t, b]] PSD, a + b == 2: -1 at a = b = 1 (an equality row)
    Case(
        "sdp_2x2_trace_equality",
        lambda: conic(
            [0.0, 0.0, 1.0],
            psd=[([1, 0, 0], 0), ([0, 0, 1], 0), ([0, 1, 0], 0)],
            sizes=[2],
            eq=[([1, 1, 0], 2)],
        ),
        -1.0,
        moment_bounds=(2.0, 2.0, 1.0),
        reducible=True,
    ),
    # [[-1, x], [x, 1]] is never PSD
    Case(
        "sdp_infeasible",
        lambda: conic([1.0], psd=[([0], -1), ([1], 0), ([0], 1)], sizes=[2]),
        "infeasible",
        moment_bounds=(1.0,),
        reducible=True,
    ),
    # x >= 1 and x <= 0
    Case(
        "lp_infeasible",
        lambda: conic([1.0], ineq=[([1], -1), ([-1], 0)]),
        "infeasible",
        lp=True,
        moment_bounds=(1.0,),
    ),
    # min -x s.t. [[x, 1], [1, x]] PSD (x >= 1)
    Case(
        "sdp_unbounded",
        lambda: conic([-1.0], psd=[([1], 0), ([0], 1), ([1], 0)], sizes=[2]),
        "unbounded",
        certifiable=False,
        moment_bounds=(math.inf,),
    ),
    # min -x s.t. x >= 0
    Case(
        "lp_unbounded",
        lambda: conic([-1.0], ineq=[([1], 0)]),
        "unbounded",
        lp=True,
        arrow=True,  # x >= 0 is a plain entry
        certifiable=False,
        moment_bounds=(math.inf,),
    ),
    # ---------------------------------------------------------------- polynomial problems
    # (x - 1)^2 - 1 on [-1, 3]
    Case(
        "pop_quadratic_on_interval",
        lambda: po.Problem(minimize=x**2 - 2 * x, constraints=[x >= -1, x <= 3]),
        -1.0,
        solve_kw={"order": 1},
        reducible=True,
    ),
    # (x^2 - 1)^2 - 1 on [-2, 2]: -1 at x = +-1
    Case(
        "pop_quartic_double_well",
        lambda: po.Problem(minimize=x**4 - 2 * x**2, constraints=[4 - x**2 >= 0]),
        -1.0,
        solve_kw={"order": 2},
    ),
    # x^4 + y^4 - 4xy + 2 = (x^2 - y^2)^2 + 2 (xy - 1)^2: -2 at (1, 1), exact at order 2
    Case(
        "pop_quartic_two_variables",
        lambda: po.Problem(
            minimize=x**4 + y**4 - 4 * x * y, constraints=[4 - x**2 >= 0, 4 - y**2 >= 0]
        ),
        -2.0,
        solve_kw={"order": 2},
    ),
    # max x + y on the unit disc: sqrt(2)
    Case(
        "pop_maximize_on_disc",
        lambda: po.Problem(maximize=x + y, constraints=[x**2 + y**2 <= 1]),
        SQRT2,
        sense="max",
        solve_kw={"order": 1},
        reducible=True,
        bracket=(math.nextafter(SQRT2, 0.0), SQRT2),
    ),
    # min xy on the unit circle: -1/2 (Shor is exact)
    Case(
        "pop_equality_circle",
        lambda: po.Problem(minimize=x * y, constraints=[x**2 + y**2 == 1]),
        -0.5,
        solve_kw={"order": 1},
        reducible=True,
    ),
    # min x^2 + y^2 s.t. x + y == 1: 1/2 (variables unbounded: no sound bound)
    Case(
        "pop_linear_equality",
        lambda: po.Problem(minimize=x**2 + y**2, constraints=[x + y == 1]),
        0.5,
        certifiable=False,
        solve_kw={"order": 1},
        reducible=True,
    ),
    Case(
        "pop_infeasible",
        lambda: po.Problem(minimize=x, constraints=[x >= 1, x <= 0]),
        "infeasible",
        solve_kw={"order": 1},
        reducible=True,
    ),
    Case(
        "pop_unbounded",
        lambda: po.Problem(minimize=x),
        "unbounded",
        certifiable=False,
        solve_kw={"order": 1},
        reducible=True,
    ),
    # min xy on [-1, 1]^2 with the LP hierarchy: xy + 1 = 2 (hx hy + (1 - hx)(1 - hy)),
    # h = (v + 1) / 2, so degree 2 is exact
    Case(
        "pop_lp_hierarchy_min",
        lambda: po.Problem(minimize=x * y, constraints=[x >= -1, x <= 1, y >= -1, y <= 1]),
        -1.0,
        lp=True,
        solve_kw={"method": "lp", "degree": 2},
    ),
    Case(
        "pop_lp_hierarchy_max",
        lambda: po.Problem(maximize=x * y, constraints=[x >= -1, x <= 1, y >= -1, y <= 1]),
        1.0,
        sense="max",
        lp=True,
        solve_kw={"method": "lp", "degree": 2},
    ),
]
CASE_BY_NAME = {c.name: c for c in CASES}

NO_INFEASIBILITY = {
    "arrow": "the block-arrow interior point method has no infeasibility detection: it stops "
    "'inaccurate' (with a valid but meaningless certified bound)",
    "lowrank": "the low-rank augmented Lagrangian has no infeasibility detection: it runs "
    "into 'iteration_limit' (with a huge, valid but meaningless certified bound)",
}
NO_UNBOUNDEDNESS = {
    "arrow": "the block-arrow interior point method has no unboundedness detection: it "
    "stops 'inaccurate' (solve() rescues polynomial problems with a ray; a conic program has "
    "none)",
    "lowrank": "the low-rank augmented Lagrangian has no unboundedness detection: it stops "
    "'inaccurate' (solve() rescues polynomial problems with a ray; a conic program has none)",
}
LOWRANK_LP = (
    "without PSD blocks the low-rank solver reports 'optimal' with the moments of its "
    "best-dual iterate, which violate the constraints (primal value off by 14-20%); its "
    "certified dual bound is right"
)
SDPA_REDUCED_INFEASIBLE = (
    "sdpa's reduced form maps every SDPA phase but pdOPT / pdFEAS to 'solver_error' (pdINF "
    "here): it never reports 'infeasible'"
)

KNOWN_FAILURES: dict[tuple[str, str | None, str], tuple[frozenset[str], str]] = {
    # (solver, form or None for every form, case): (the tests that fail, why)
    ("arrow", None, "sdp_infeasible"): (frozenset({"status"}), NO_INFEASIBILITY["arrow"]),
    ("arrow", None, "pop_infeasible"): (frozenset({"status"}), NO_INFEASIBILITY["arrow"]),
    ("arrow", None, "sdp_unbounded"): (frozenset({"status"}), NO_UNBOUNDEDNESS["arrow"]),
    ("arrow", None, "lp_unbounded"): (frozenset({"status"}), NO_UNBOUNDEDNESS["arrow"]),
    ("lowrank", None, "sdp_infeasible"): (frozenset({"status"}), NO_INFEASIBILITY["lowrank"]),
    ("lowrank", None, "lp_infeasible"): (frozenset({"status"}), NO_INFEASIBILITY["lowrank"]),
    ("lowrank", None, "pop_infeasible"): (frozenset({"status"}), NO_INFEASIBILITY["lowrank"]),
    ("lowrank", None, "sdp_unbounded"): (frozenset({"status"}), NO_UNBOUNDEDNESS["lowrank"]),
    ("lowrank", None, "lp_unbounded"): (frozenset({"status"}), NO_UNBOUNDEDNESS["lowrank"]),
    ("lowrank", None, "lp_vertex"): (frozenset({"status"}), LOWRANK_LP),
    ("lowrank", None, "pop_lp_hierarchy_min"): (frozenset({"status"}), LOWRANK_LP),
    ("sdpa", "reduced", "sdp_infeasible"): (frozenset({"status"}), SDPA_REDUCED_INFEASIBLE),
    ("sdpa", "reduced", "pop_infeasible"): (frozenset({"status"}), SDPA_REDUCED_INFEASIBLE),
}


def known_failure(solver: str, form: str, case: str, test: str) -> str | None:
    """Why ``test`` (``"status"`` or ``"sound"``) fails for this solver, form and case."""
    for key in ((solver, form, case), (solver, None, case)):
        if key in KNOWN_FAILURES and test in KNOWN_FAILURES[key][0]:
            return KNOWN_FAILURES[key][1]
    return None


# --------------------------------------------------------------------------- running a case
@dataclass
class Outcome:
    """What a solve reports, in the problem's units."""

    status: str
    bound: float
    sound: float | None
    primal: float


def stub_relaxation(program: po.ConicProgram, bounds: tuple[float, ...]) -> Relaxation:
    """A conic program as a relaxation of itself: one moment per variable, ``|y_i| <=
    bounds[i]`` (what the certificate needs), objective scale 1, minimization."""
    n = program.n
    return Relaxation(
        program=program,
        moments=np.arange(n + 1)[:, None],
        variables=(),
        order=1,
        kind="conic",
        var_scale=np.ones(0),
        obj_scale=1.0,
        sense="min",
        moment_bounds=np.concatenate([[1.0], bounds]),
    )


@functools.cache
def outcome(solver: str, form: str, name: str) -> Outcome:
    """Solve case ``name`` once per solver and form (several tests read the outcome)."""
    case = CASE_BY_NAME[name]
    if case.kind == "pop":
        r = case.build().solve(solver=solver, form=form, **case.solve_kw)
        assert r.form == form
        return Outcome(r.status, r.bound, r.sound_bound, r.primal_value)
    program = case.build()
    res = get_backend(solver).solve(program, form, SolverOptions())
    bound, sound = certified_bounds(stub_relaxation(program, case.moment_bounds), res)
    return Outcome(res.status, bound, sound, res.primal_objective)


def refusal(solver: str, form: str, case: Case) -> tuple[type, str] | None:
    """``(exception, message pattern)`` when this solver / form must refuse the case."""
    if solver == "highs" and not case.lp:
        return ValueError, "linear programs only"
    if solver == "arrow" and not case.arrow_applies:
        return po.NotArrow, "no plain entry of any PSD block"
    if form == "reduced" and not case.reducible:
        return ValueError, "needs a PSD block that is a plain moment matrix"
    return None


def run_or_refuse(solver: str, form: str, case: Case, test: str, request) -> Outcome | None:
    """The outcome, or None after checking that a solver refuses a case it does not take."""
    refused = refusal(solver, form, case)
    if refused is not None:
        with pytest.raises(refused[0], match=refused[1]):
            outcome(solver, form, case.name)
        return None
    reason = known_failure(solver, form, case.name, test)
    if reason is not None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    return outcome(solver, form, case.name)


def slack(solver: str, value: float) -> float:
    return TOL[solver] * max(1.0, abs(value))


# --------------------------------------------------------------------------- the suite
@pytest.mark.parametrize("solver,form", SOLVER_FORMS)
class TestBackendSuite:
    """Every case on every solver and form."""

    @pytest.mark.parametrize("name", [c.name for c in CASES])
    def test_status_and_value(self, solver, form, name, request):
        case = CASE_BY_NAME[name]
        out = run_or_refuse(solver, form, case, "status", request)
        if out is None:
            return
        if case.optimum == "infeasible":
            assert out.status == "infeasible"
            assert out.bound == (math.inf if case.sense == "min" else -math.inf)
        elif case.optimum == "unbounded":
            assert out.status == "unbounded"
            assert out.bound == (-math.inf if case.sense == "min" else math.inf)
        else:
            assert out.status == "optimal"
            assert abs(out.bound - case.optimum) <= slack(solver, case.optimum)
            assert abs(out.primal - case.optimum) <= slack(solver, case.optimum)

    @pytest.mark.parametrize("name", [c.name for c in CASES])
    def test_sound_bound_is_on_the_right_side(self, solver, form, name, request):
        case = CASE_BY_NAME[name]
        out = run_or_refuse(solver, form, case, "sound", request)
        if out is None:
            return
        sound = out.sound
        if case.optimum == "infeasible":
            # every bound holds for an infeasible problem (+inf: infeasibility proved)
            assert sound is None or not math.isnan(sound)
            return
        if case.optimum == "unbounded":
            # an unbounded problem has no finite bound: only the trivial one may be claimed
            assert sound is None or sound == (-math.inf if case.sense == "min" else math.inf)
            return
        assert out.status == "optimal"
        if case.certifiable:
            assert sound is not None and out.bound == sound  # the bound is the certified one
        if sound is None:
            return
        lo, hi = case.bracket or (case.optimum, case.optimum)
        if case.sense == "min":
            assert sound <= hi
        else:
            assert sound >= lo
        assert abs(sound - case.optimum) <= slack(solver, case.optimum)  # and it is tight


def test_every_backend_is_in_the_suite():
    """A backend added to polyopt.backends.SOLVERS joins this suite (mosek: when licensed)."""
    from polyopt.backends import SOLVERS as NAMED

    plain = {s for s in NAMED if ":" not in s} - {"mosek"}
    assert plain <= set(SOLVERS)


def test_a_program_without_row_norms_is_certified_from_its_rows():
    """A hand-built program has no ``row_l1``: the certificate takes the rows' own magnitudes
    (what the builder would have recorded for these unmerged rows), same bound."""
    program = CASE_BY_NAME["sdp_2x2_trace_equality"].build()
    assert program.row_l1 is None
    res = get_backend("clarabel").solve(program, "moment", SolverOptions())
    without = certified_bounds(stub_relaxation(program, (2.0, 2.0, 1.0)), res)
    program.row_l1 = {
        name: abs(getattr(program, f"A_{name}")) @ np.ones(program.n)
        + np.abs(getattr(program, f"b_{name}"))
        for name in ("eq", "ineq", "psd")
    }
    with_norms = certified_bounds(stub_relaxation(program, (2.0, 2.0, 1.0)), res)
    assert without == with_norms
    assert without[1] is not None and without[1] <= -1.0
