"""LipOpt: the Krivine-Stengle LP hierarchy upper bound (Latorre, Rolland, Cevher 2020).

For ``x -> c . net(x)`` with hidden layers ``k = 1..L``, every generalized gradient is
``W_1^T D_1 W_2^T D_2 ... D_L W_out^T c`` with ``D_k = diag(u_k)``, ``u_k in {0, 1}``. LipOpt
relaxes every ``u_kj`` to ``[0, 1]``, independently of ``x``, so that

    L <= max  p(t, u) = t^T W_1^T D_1 ... D_L W_out^T c   (degree L + 1)
         s.t. t in the unit ball of the input norm, u in [0, 1]^N

(the dual norm of a gradient is the max of ``t . g`` over that ball). On a local box, the
neurons that interval bounds (:func:`lipschitz.intervals.stability`) prove active / inactive get
``u = 1`` / ``0`` and disappear. The unit ball is ``[-1, 1]^n`` for ``norm="inf"``; for
``norm="1"`` it is lifted with ``r_i in [0, 1]``, ``-r_i <= t_i <= r_i``, ``sum_i r_i <= 1``
(linear, so the LP hierarchy applies); ``norm="2"`` is not polyhedral and is refused.

The problem is solved by polyopt's degree-``k`` LP relaxation (``method="lp"``: nonnegative
combinations of products of the normalized constraints of total degree ``<= k``, HiGHS),
restricted with ``sparse=True`` to products inside the cliques of a chordal extension of
the correlative sparsity pattern of ``p`` (for a dense one-hidden-layer network ``{t, u_j}``
per neuron or ``{t_i, u}`` per input), every ``r`` added to each clique for ``norm="1"``.
Any set of products gives a valid bound; cliques only trade tightness for size. The reported
value is polyopt's sound (certified) bound; every variable is bounded, so one exists
whenever the solve succeeds. When no ``u`` is left the gradient is constant and the bound is
its dual norm (closed form).

The polynomial's coefficients are sums of products of weights computed in floating point; the
objective gets the constant dual norm of an a-priori bound on their error, relative to the
magnitudes of the summed path products (:func:`lipschitz.lcep.gradient_error`), so that
cancellation or underflow cannot take it below the true constant.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

import polyopt as po
from polyopt.algebra import Polynomial, Variable
from polyopt.structure import build_structure

from .intervals import NeuronCounts, stability
from .lcep import gradient_error
from .network import ReLUNetwork
from .result import LipschitzBound
from .spec import dual_norm_upper, resolve


@dataclass
class GradientTerms:
    """The LipOpt polynomial as terms ``coef * t_input * prod_k u_k[code_k]``.

    ``codes[:, k]`` is the global neuron id of the free ``u`` of layer ``k`` in the term, or
    ``-1`` (a stable-active neuron or none); ``offsets[k]`` is layer ``k``'s first id.
    """

    inputs: np.ndarray
    codes: np.ndarray
    coefs: np.ndarray
    offsets: np.ndarray

    @property
    def u_degree(self) -> int:
        """Largest number of ``u`` factors in a term."""
        return int((self.codes >= 0).sum(axis=1).max(initial=0))

    def constant_gradient(self, n: int) -> np.ndarray:
        """The gradient when no term has a ``u`` factor."""
        return np.bincount(self.inputs, weights=self.coefs, minlength=n)


def _merge(idx: np.ndarray, codes: np.ndarray, coefs: np.ndarray):
    """Sum the terms with the same ``(idx, codes)``; drop zeros."""
    if idx.size == 0:
        return idx, codes, coefs
    keys, inverse = np.unique(np.column_stack([idx, codes]), axis=0, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=coefs, minlength=keys.shape[0])
    keep = summed != 0
    return keys[keep, 0], keys[keep, 1:], summed[keep]


def _transpose_apply(W: np.ndarray, idx: np.ndarray, codes: np.ndarray, coefs: np.ndarray):
    """Expand the terms of ``v`` (indexed by rows of ``W``) into those of ``W^T v``."""
    csr = sp.csr_matrix(W)
    counts = np.diff(csr.indptr)[idx]
    owner = np.repeat(np.arange(idx.size), counts)
    starts = np.repeat(csr.indptr[idx] - np.cumsum(counts) + counts, counts)
    pos = np.arange(owner.size) + starts
    return csr.indices[pos], codes[owner], coefs[owner] * csr.data[pos]


def gradient_terms(
    net: ReLUNetwork, c: np.ndarray, active: list[np.ndarray], inactive: list[np.ndarray]
) -> GradientTerms:
    """Expand ``W_1^T D_1 ... D_L W_out^T c`` backwards, fixing the stable neurons."""
    L = net.depth
    offsets = np.concatenate([[0], np.cumsum(net.hidden_sizes)])
    g = net.weights[-1].T @ c
    idx = np.flatnonzero(g)
    codes = np.full((idx.size, L), -1, dtype=np.int64)
    coefs = g[idx]
    for k in range(L - 1, -1, -1):
        keep = ~inactive[k][idx]
        idx, codes, coefs = idx[keep], codes[keep], coefs[keep]
        free = ~active[k][idx]
        codes[free, k] = offsets[k] + idx[free]
        idx, codes, coefs = _merge(*_transpose_apply(net.weights[k], idx, codes, coefs))
    return GradientTerms(idx, codes, coefs, offsets)


@dataclass
class LipOptProblem:
    """The polyopt problem and what its variables stand for."""

    problem: po.Problem
    inputs: np.ndarray  # input coordinates with a variable t_i
    neurons: np.ndarray  # global neuron ids with a variable u


def _names(neurons: np.ndarray, offsets: np.ndarray) -> list[str]:
    layer = np.searchsorted(offsets, neurons, side="right") - 1
    return [f"u{k + 1}_{j - offsets[k] + 1}" for j, k in zip(neurons, layer)]


def build_problem(terms: GradientTerms, norm: str, rounding: float = 0.0) -> LipOptProblem:
    """``max p(t, u) + rounding`` over the unit ball of ``norm`` times ``[0, 1]^N``.

    ``rounding`` bounds the error of the computed coefficients of ``p`` over that domain
    (the constant keeps the maximum above the exact polynomial's).
    """
    inputs = np.unique(terms.inputs)
    neurons = np.unique(terms.codes[terms.codes >= 0])
    ts = [Variable(f"t{i + 1}") for i in inputs]
    rs = [Variable(f"r{i + 1}") for i in inputs] if norm == "1" else []
    us = [Variable(name) for name in _names(neurons, terms.offsets)]
    variables = ts + rs + us
    sentinel = len(variables)
    u_pos = np.full(int(terms.offsets[-1]), sentinel, dtype=np.int64)
    u_pos[neurons] = len(ts) + len(rs) + np.arange(neurons.size)
    u_cols = np.where(terms.codes >= 0, u_pos[np.maximum(terms.codes, 0)], sentinel)
    rows = np.column_stack([np.searchsorted(inputs, terms.inputs), u_cols])
    objective = Polynomial.from_codes(variables, rows, terms.coefs)
    if rounding:
        objective = objective + float(rounding)
    cons: list = []
    for t in ts:
        cons += [t >= -1, t <= 1]
    for t, r in zip(ts, rs):
        cons += [r >= 0, r <= 1, r - t >= 0, r + t >= 0]
    if rs:
        cons.append(1 - po.polysum(rs) >= 0)
    for u in us:
        cons += [u >= 0, u <= 1]
    problem = po.Problem(maximize=objective, constraints=cons, variables=variables)
    return LipOptProblem(problem, inputs, neurons)


def _check_degree(degree: Any, depth: int) -> int:
    if degree is None:
        return depth + 1
    if isinstance(degree, bool) or not isinstance(degree, int | np.integer) or degree < 1:
        raise ValueError(f"degree must be a positive integer, got {degree!r}")
    return int(degree)


def _check_inputs(norm: str, sparse: Any) -> None:
    if not isinstance(sparse, bool | np.bool_):
        raise TypeError(f"sparse must be True or False, got {sparse!r}")
    if norm == "2":
        raise ValueError(
            "LipOpt needs a polyhedral input norm ('inf' or '1'): the l2 ball is not linear, "
            "so the LP hierarchy does not apply (use upper_bound(..., norm='2'))"
        )


def sparse_cliques(terms: GradientTerms, norm: str) -> list[list[int]] | None:
    """Cliques of the sparse LP (``None``: polyopt's correlative cliques, for ``"inf"``).

    For ``"1"``: the correlative cliques of the ``(t, u)`` problem, each with every ``r``
    added (so that ``sum r <= 1`` multiplies the ``u`` and ``r_i -+ t_i`` products; the
    cliques of the lifted problem would separate ``r`` from ``u``). Adding the same set to
    every clique keeps the running intersection property.
    """
    if norm == "inf":
        return None
    base = build_structure(build_problem(terms, "inf").problem).cliques
    n = np.unique(terms.inputs).size
    rs = set(range(n, 2 * n))
    return [sorted({v if v < n else v + n for v in c} | rs) for c in base]


def _solve(lp: LipOptProblem, degree: int, sparse: bool, unstable: int, **options: Any):
    try:
        return lp.problem.solve(method="lp", degree=degree, **options)
    except ValueError as exc:
        if "products" not in str(exc):
            raise
        hint = "only a lower degree helps" if sparse else "use a lower degree or sparse=True"
        raise ValueError(
            f"LipOpt-{degree} is too large for this network ({lp.problem.nvars} polynomial "
            f"variables, {unstable} unstable neurons, {'sparse' if sparse else 'dense'}): "
            f"{exc} ({hint})"
        ) from exc


def _sizes(lp: LipOptProblem, r: po.Result) -> dict[str, Any]:
    info = r.relax.info
    cliques = info.get("cliques", [tuple(range(lp.problem.nvars))])
    return {
        "variables": lp.problem.nvars,
        "constraints": len(lp.problem.constraints),
        "factors": info.get("factors"),
        "products": info.get("products"),
        "lp_rows": r.sizes["inequalities"] + r.sizes["equalities"],
        "lp_columns": r.sizes["variables"],
        "cliques": len(cliques),
        "largest_clique": max(len(c) for c in cliques),
    }


def lipopt(
    net: ReLUNetwork,
    degree: int | None = None,
    norm: Any = "inf",
    domain: Any = "global",
    output: Any = None,
    sparse: bool = True,
    solver: str | None = None,
    *,
    time_limit: float | None = None,
    solver_options: dict[str, Any] | None = None,
) -> LipschitzBound:
    """LipOpt-``degree`` upper bound on the Lipschitz constant of ``c . net`` on ``domain``.

    Parameters
    ----------
    net
        The network.
    degree
        Degree of the Krivine-Stengle LP relaxation; default ``depth + 1``, the degree of the
        LipOpt polynomial (it must be at least that polynomial's degree after fixing stable
        neurons). ``method`` is ``f"lipopt-{degree}"``.
    norm
        The input norm: ``"inf"`` (default) or ``"1"``; ``"2"`` raises ``ValueError``.
    domain
        ``"global"`` (the box of radius 10 around 0), a :class:`Box` or ``(center, radius)``;
        neurons stable on it are fixed.
    output
        ``None`` (scalar networks), an int, ``(i, r)`` or a vector ``c``.
    sparse
        Restrict products to the cliques of the correlative sparsity pattern of the
        polynomial (default; for ``"1"`` each clique also holds every ``r``), or use every
        product (``False``).
    solver, time_limit, solver_options
        Passed to :func:`polyopt.solve` (default solver: HiGHS). A solve stopped by the time
        limit gives ``value = nan`` and ``status = "time_limit"``.
    """
    t0 = time.perf_counter()
    norm, box, c = resolve(net, norm, domain, output)
    _check_inputs(norm, sparse)
    k = _check_degree(degree, net.depth)
    _, active, inactive = stability(net, box)
    counts = NeuronCounts.from_masks(active, inactive)
    common = {"norm": norm, "neurons": counts.as_dict()}
    terms = gradient_terms(net, c, active, inactive)
    # error of the computed coefficients, per input (every monomial is at most 1 in magnitude)
    err = gradient_error(net, c, inactive, columns=max(terms.coefs.size, 1) + 1)
    rounding = dual_norm_upper(err, norm)
    fdeg = terms.u_degree + 1
    if k < fdeg:
        raise ValueError(
            f"degree {k} is below the degree {fdeg} of the LipOpt polynomial on this domain "
            "(1 + the hidden layers with unstable neurons on a path)"
        )
    if terms.u_degree == 0:  # no free neuron on any path: the gradient is constant
        g = terms.constant_gradient(net.input_dim)
        value = dual_norm_upper(np.abs(g) + err, norm)
        return LipschitzBound(
            value,
            "upper",
            f"lipopt-{k}",
            seconds=time.perf_counter() - t0,
            info={"exact": True, "degree": k, "sparse": bool(sparse), "rounding": rounding},
            **common,
        )
    lp = build_problem(terms, norm, rounding)
    opts = {"solver": solver, "time_limit": time_limit, "solver_options": solver_options}
    if sparse:
        cliques = sparse_cliques(terms, norm)
        opts.update({"sparsity": "correlative"} if cliques is None else {"cliques": cliques})
    r = _solve(lp, k, bool(sparse), counts.total_unstable, **opts)
    sound = r.sound_bound is not None
    return LipschitzBound(
        float(r.sound_bound if sound else r.bound),
        "upper",
        f"lipopt-{k}",
        status=r.status,
        sound=sound,
        seconds=time.perf_counter() - t0,
        sizes=_sizes(lp, r),
        info={
            "solver": r.solver,
            "degree": k,
            "objective_degree": fdeg,
            "sparse": bool(sparse),
            "build_seconds": r.build_seconds,
            "solve_seconds": r.solve_seconds,
            "dual_value": r.dual_value,
            "primal_value": r.primal_value,
            "rounding": rounding,
            "result": r,
        },
        **common,
    )
