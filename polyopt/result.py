"""Results of a relaxation: bound, status, moments, dual Gram blocks and minimizers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backends.base import BackendResult
from .extraction import MomentLookup, extract_atoms, flatness
from .jsonio import decode_strict, load_json
from .model import Problem
from .relaxations.assemble import Relaxation


class Minimizers(list):
    """Extracted points (numpy arrays in the problem's variable order).

    ``certified`` is True when the moment matrix is flat and every point is feasible with an
    objective value equal to the bound (so the points are global minimizers); ``reason``
    explains otherwise.
    """

    def __init__(self, points: list[np.ndarray], certified: bool, reason: str) -> None:
        super().__init__(points)
        self.certified = certified
        self.reason = reason

    def __repr__(self) -> str:
        """The points with the ``certified`` flag and the reason (also what ``print`` shows)."""
        pts = ", ".join(np.array2string(np.asarray(p), precision=8, separator=", ") for p in self)
        return f"Minimizers([{pts}], certified={self.certified}, reason={self.reason!r})"

    def to_dict(self) -> dict[str, Any]:
        """``{"points", "certified", "reason"}`` (points as lists, strict-JSON-ready)."""
        from .jsonio import to_strict

        return to_strict({"points": list(self), "certified": self.certified, "reason": self.reason})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Minimizers:
        """The list back from :meth:`to_dict` (points as float arrays)."""
        points = [np.array(decode_strict(p), dtype=float) for p in data.get("points", [])]
        return cls(points, bool(data["certified"]), str(data.get("reason", "")))

    def _copy(self) -> Minimizers:
        return Minimizers([p.copy() for p in self], self.certified, self.reason)


RANK_TOL = 1e-9
"""Default rank tolerance of :meth:`Result.minimizers` (flat truncation and extraction)."""

FEAS_TOL = 1e-5
"""Default feasibility tolerance of :meth:`Result.minimizers` (checking extracted points)."""

FROM_JSON = (
    "this Result was read from JSON, which keeps the bound, status, sizes, timings and "
    "minimizers but not the relaxation or the solver output; solve the problem again "
    "(result.problem.solve(...)) to get {what}"
)
"""The message of the error raised when a read-back :class:`Result` is asked for data that
JSON does not keep."""


@dataclass
class Result:
    """Outcome of solving a relaxation.

    ``bound`` is a **lower bound** on the optimum of a ``minimize`` problem and an **upper
    bound** on the optimum of a ``maximize`` problem (when ``status`` is ``"optimal"``).
    When the constraints bound the variables, ``bound`` is the *sound* bound: the solver's
    dual value corrected for its residuals so that it holds in exact arithmetic
    (``certified`` is True, ``sound_bound == bound``). Otherwise it is the solver's dual value
    (``certified`` False, ``sound_bound`` None), valid up to the solver's tolerance.
    ``dual_value`` always holds the uncorrected solver value.
    Infeasible relaxations give ``bound = +inf`` (min) / ``-inf`` (max) (the LP hierarchy
    only with a verified Farkas certificate, else ``nan``); unbounded ones
    ``-inf`` / ``+inf``; failed solves, and solves stopped by a limit without a certified
    bound, ``nan``. :func:`polyopt.certificate.certified_bounds` computes ``bound`` and
    ``sound_bound``; a Result only presents them.
    """

    bound: float
    status: str
    sense: str
    order: int
    relaxation: str
    solver: str
    form: str
    sound_bound: float | None
    primal_value: float
    dual_value: float
    sizes: dict[str, int]
    build_seconds: float
    solve_seconds: float
    iterations: int | None
    problem: Problem = field(repr=False)
    relax: Relaxation = field(repr=False)
    backend_result: BackendResult = field(repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def __str__(self) -> str:
        """One line: the bound, whether it is certified, the status and how it was solved."""
        kind = "lower" if self.sense == "min" else "upper"
        cert = "certified" if self.certified else "not certified"
        if not self.solver:  # stopped before a solver ran
            how = self.raw.get("stopped", "no solver ran")
            return f"{kind} bound {self.bound:.10g} ({cert}), status {self.status}; {how}"
        return (
            f"{kind} bound {self.bound:.10g} ({cert}), status {self.status}; {self.relaxation} "
            f"relaxation of order {self.order}, {self.solver} ({self.form} form), "
            f"{self.seconds:.3g} s"
        )

    def to_dict(self, minimizers: bool = True) -> dict[str, Any]:
        """The outcome as strict-JSON-ready fields (the problem as :meth:`Problem.to_dict`;
        non-finite numbers as ``"nan"`` / ``"inf"`` strings, see :mod:`polyopt.jsonio`).

        With ``minimizers`` (default) the record also holds :meth:`minimizers` at the default
        tolerances, with their ``certified`` flag and reason; :meth:`from_dict` reads all of it
        back. The moments and dual blocks are not written."""
        from .jsonio import jsonable, to_strict

        problem = None
        if self.problem is not None:
            try:
                problem = self.problem.to_dict()
            except ValueError:
                problem = None
        raw = {k: v for k, v in (self.raw or {}).items() if jsonable(v)}
        mins = None
        if minimizers:
            try:
                mins = self.minimizers().to_dict() | {"rank_tol": RANK_TOL, "feas_tol": FEAS_TOL}
            except RuntimeError:  # read from JSON without stored minimizers
                mins = None
        return to_strict(
            {
                "bound": self.bound,
                "certified": self.certified,
                "status": self.status,
                "sense": self.sense,
                "order": self.order,
                "relaxation": self.relaxation,
                "solver": self.solver,
                "form": self.form,
                "sound_bound": self.sound_bound,
                "primal_value": self.primal_value,
                "dual_value": self.dual_value,
                "sizes": self.sizes,
                "build_seconds": self.build_seconds,
                "solve_seconds": self.solve_seconds,
                "iterations": self.iterations,
                "problem": problem,
                "minimizers": mins,
                "raw": raw,
            }
        )

    def to_json(self, path: str | None = None, minimizers: bool = True) -> str:
        """The :meth:`to_dict` record as strict JSON text (written to ``path`` when given)."""
        from .jsonio import write_json

        return write_json(self.to_dict(minimizers=minimizers), path)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        """A result back from :meth:`to_dict`.

        Every scalar field, the status, sizes, JSON-able ``raw`` entries, the problem (rebuilt
        with :meth:`Problem.from_dict`) and the minimizers come back; ``relax`` and
        ``backend_result`` are None, so :attr:`moments`, :attr:`gram`, :attr:`block_names`
        and the like raise ``RuntimeError`` (the result was read from JSON), and
        :meth:`minimizers` returns the stored points (only at the tolerances they were
        computed with)."""
        if not isinstance(data, dict) or "bound" not in data or "status" not in data:
            raise ValueError("not a Result record: expected a JSON object with bound and status")

        def num(key: str) -> float:
            return float(decode_strict(data[key]))

        sound = data.get("sound_bound")
        iters = data.get("iterations")
        problem = None
        if data.get("problem"):
            problem = Problem.from_dict(data["problem"])
        raw = data.get("raw") or {}
        result = cls(
            bound=num("bound"),
            status=str(data["status"]),
            sense=str(data["sense"]),
            order=int(data["order"]),
            relaxation=str(data["relaxation"]),
            solver=str(data["solver"]),
            form=str(data["form"]),
            sound_bound=None if sound is None else float(decode_strict(sound)),
            primal_value=num("primal_value"),
            dual_value=num("dual_value"),
            sizes={str(k): decode_strict(v) for k, v in dict(data.get("sizes") or {}).items()},
            build_seconds=num("build_seconds"),
            solve_seconds=num("solve_seconds"),
            iterations=None if iters is None else int(iters),
            problem=problem,  # type: ignore[arg-type]
            relax=None,  # type: ignore[arg-type]
            backend_result=None,  # type: ignore[arg-type]
            raw={str(k): decode_strict(v) for k, v in dict(raw).items()},
        )
        result.__dict__["_read_from_json"] = True
        mins = data.get("minimizers")
        if mins is not None:
            tols = (float(mins.get("rank_tol", RANK_TOL)), float(mins.get("feas_tol", FEAS_TOL)))
            result.__dict__["_stored_minimizers"] = (tols, Minimizers.from_dict(mins))
        return result

    @classmethod
    def from_json(cls, text_or_path: Any) -> Result:
        """A result back from :meth:`to_json` text, or from the JSON file at a path."""
        return cls.from_dict(load_json(text_or_path))

    @property
    def read_from_json(self) -> bool:
        """True when this result was read back from JSON (no relaxation, no solver output)."""
        return bool(self.__dict__.get("_read_from_json", False))

    def _need_solver_output(self, what: str) -> None:
        if self.relax is None or self.backend_result is None:
            raise RuntimeError(FROM_JSON.format(what=what))

    @property
    def seconds(self) -> float:
        """Build plus solve time."""
        return self.build_seconds + self.solve_seconds

    @property
    def certified(self) -> bool:
        """True when ``bound`` is the sound (floating-point safe) bound."""
        return self.sound_bound is not None and self.sound_bound == self.bound

    @property
    def ok(self) -> bool:
        """True when the solver reports an optimal solution."""
        return self.status == "optimal"

    # ----------------------------------------------------------------- moments and duals
    def _scaled_y(self) -> np.ndarray | None:
        self._need_solver_output("the moments")
        y = self.backend_result.y
        if y is None:
            return None
        return np.concatenate([[1.0], y])

    @property
    def moment_exponents(self) -> np.ndarray:
        """Exponent rows of the moments (columns follow ``problem.variables``)."""
        self._need_solver_output("the moment exponents")
        return self.relax.exponents()

    @property
    def moment_vector(self) -> np.ndarray | None:
        """Moment values (first entry: the monomial 1), in the original variables (None when
        there are none, or when the relaxation's variables are shifted: an LP relaxation of a
        box away from the origin works in ``(x - center) / scale``)."""
        ys = self._scaled_y()
        if ys is None:
            return None
        center = self.relax.info.get("center")
        if center is not None and np.any(np.asarray(center) != 0):
            return None
        scale = np.concatenate([self.relax.var_scale, [1.0]])
        factor = np.prod(scale[self.relax.moments], axis=1)
        return ys * factor

    @property
    def moments(self) -> dict[tuple[int, ...], float]:
        """``{exponent tuple: moment value}`` in the original variables (empty if none)."""
        vec = self.moment_vector
        if vec is None:
            return {}
        exps = self.moment_exponents
        return {tuple(int(e) for e in row): float(v) for row, v in zip(exps, vec)}

    @property
    def gram(self) -> list[np.ndarray]:
        """Dual PSD blocks (Gram matrices of the SOS multipliers, scaled problem)."""
        self._need_solver_output("the dual blocks")
        return list(self.backend_result.X or [])

    @property
    def block_names(self) -> list[str]:
        """What each PSD block is (moment matrix, localizing matrix of g_k, ...)."""
        self._need_solver_output("the block names")
        return list(self.relax.program.block_names)

    # ----------------------------------------------------------------- minimizers
    def minimizers(self, rank_tol: float = RANK_TOL, feas_tol: float = FEAS_TOL) -> Minimizers:
        """Global minimizers by flat truncation and Henrion-Lasserre extraction.

        Returns a :class:`Minimizers` list; ``certified`` says whether the points are proven
        global minimizers (flat moment matrix, feasible points, objective equal to the bound).
        A result read from JSON returns the minimizers it stored (computed at the default
        tolerances).
        """
        if self.relax is None or self.backend_result is None:
            stored = self.__dict__.get("_stored_minimizers")
            if stored is not None and stored[0] == (float(rank_tol), float(feas_tol)):
                return stored[1]._copy()
            what = "minimizers" if stored is None else "minimizers at other tolerances"
            raise RuntimeError(FROM_JSON.format(what=what))
        settled = (self.raw or {}).get("settled")
        if settled is not None:  # a feasible point attaining the bound: see polyopt.settle
            reason = "a feasible point attains the bound (local descent): a global minimizer"
            return Minimizers([np.asarray(settled["point"], dtype=float)], True, reason)
        ys = self._scaled_y()
        if ys is None or self.status not in ("optimal", "inaccurate"):
            return Minimizers([], False, f"no moments to extract from (status {self.status})")
        if self.relax.kind != "dense":
            return self._first_order_point(ys, feas_tol)
        lookup = MomentLookup(self.moment_exponents, ys)
        degs = [c.poly.degree for c in self.problem.constraints]
        dv = max([1] + [(d + 1) // 2 for d in degs])
        flat = flatness(lookup, self.order, dv, rank_tol)
        if flat.flat_order is None:
            return Minimizers(
                [], False, f"flat truncation fails: moment matrix ranks by order {flat.ranks}"
            )
        try:
            atoms = extract_atoms(lookup, flat.flat_order, rank_tol)
        except np.linalg.LinAlgError as exc:
            return Minimizers([], False, f"extraction failed: {exc}")
        points = [atom * self.relax.var_scale for atom in atoms]
        certified, reason = self._verify(points, feas_tol)
        return Minimizers(points, certified, reason)

    def _first_order_point(self, ys: np.ndarray, feas_tol: float) -> Minimizers:
        """The point of first-order moments ``x_i = y_{e_i}``, certified when it is feasible
        and its objective equals the bound (sparse relaxations: their blocks need not hold a
        flat moment matrix, but a rank-one optimum shows in these moments)."""
        codes = self.relax.moments
        n = self.relax.nvars
        single = (codes[:, 1:] == n).all(axis=1) & (codes[:, 0] < n)
        x = np.full(n, np.nan)
        x[codes[single, 0]] = ys[single]
        if np.isnan(x).any():
            missing = self.problem.variables[int(np.flatnonzero(np.isnan(x))[0])]
            return Minimizers(
                [], False, f"no first-order moment of {missing} in the {self.relax.kind} blocks"
            )
        point = x * self.relax.var_scale
        center = self.relax.info.get("center")  # the LP hierarchy's shifted boxes
        if center is not None:
            point = point + np.asarray(center, dtype=float)
        certified, reason = self._verify([point], feas_tol)
        if certified:
            reason = "the first-order moments are feasible and attain the bound: a global minimizer"
        return Minimizers([point], certified, reason)

    def _verify(self, points: list[np.ndarray], tol: float) -> tuple[bool, str]:
        prob = self.problem
        target = self.dual_value  # the relaxation's value (bound may be corrected below it)
        scale = max(1.0, abs(target)) if np.isfinite(target) else 1.0
        for x in points:
            val = prob.objective.evaluate(x, prob.variables)
            if abs(val - target) > tol * scale:
                return False, f"objective {val:.8g} at an extracted point differs from the bound"
            for c in prob.constraints:
                g = c.poly.evaluate(x, prob.variables)
                gscale = max(1.0, float(np.max(np.abs(c.poly.coefficients))))
                if (c.kind == "ineq" and g < -tol * gscale) or (
                    c.kind == "eq" and abs(g) > tol * gscale
                ):
                    return False, f"an extracted point violates {c}"
        return True, f"flat moment matrix with rank {len(points)}: global minimizers"

    # ----------------------------------------------------------------- display
    def summary(self) -> str:
        """A few lines for people."""
        kind = "lower" if self.sense == "min" else "upper"
        sb = "n/a" if self.sound_bound is None else f"{self.sound_bound:.10g}"
        return (
            f"{kind} bound {self.bound:.10g} ({self.status}); sound {sb}\n"
            f"{self.relaxation} relaxation, order {self.order}, solver {self.solver} "
            f"({self.form} form)\n"
            f"moments {self.sizes['variables'] + 1}, PSD blocks {self.sizes['psd_blocks']}, "
            f"largest {self.sizes['largest_block']}; build {self.build_seconds:.3f} s, "
            f"solve {self.solve_seconds:.3f} s"
        ) + self._settled_line()

    def _settled_line(self) -> str:
        settled = (self.raw or {}).get("settled")
        if settled is None:
            return ""
        return (
            f"\nthe {settled['requested']} relaxation was not solved: a feasible point attains "
            f"this bound (value {settled['value']:.10g}, gap {settled['gap']:.2g})"
        )
