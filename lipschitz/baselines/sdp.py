"""LipSDP-Neuron (Fazlyab et al. 2019) for ``c . f`` (notation of :mod:`lipschitz.baselines`),
with the certificate of its solution.

On the stacked vector
``v = (x, a_1, ..., a_L)``, with ``A = [blkdiag(W_1, ..., W_L) 0]`` (``A v`` the
pre-activations minus biases) and ``B = [0 I]`` (``B v`` the activations), every neuron
whose slope lies in ``[alpha_j, beta_j]`` satisfies, for any two inputs,
``(Dz_j, Da_j) Q_j (Dz_j, Da_j)^T >= 0`` with
``Q = [[-2 diag(alpha beta) T, diag(alpha + beta) T], [diag(alpha + beta) T, -2 T]]`` and
``T = diag(t) >= 0``. If

    M(rho, T) = [A; B]^T Q [A; B] + blkdiag(-rho I, 0, ..., 0, w w^T)  <=  0

then ``(w . Da_L)^2 <= rho ||Dx||_2^2``: ``sqrt(rho)`` bounds the l2 Lipschitz constant.
Slopes are ``[0, 1]`` (unstable), and on the box ``[1, 1]`` / ``[0, 0]`` for the neurons
that interval bounds prove active / inactive (``local=True``; these equality constraints
are substituted, ``a = z`` / ``a = 0``, which attains the LMI's infimum as their
multipliers grow). The solver's ``(rho, T)`` is re-certified in numpy (Schur complement
and an eigenvalue check with a rounding margin) before it is reported as sound.

LipSDP and SeqLip bound the l2 norm of the gradient; other input norms use
``||g||_1 <= sqrt(n) ||g||_2`` (input norm ``"inf"``, scale ``sqrt(n)``) and
``||g||_inf <= ||g||_2`` (input norm ``"1"``, scale 1), as in the paper.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..network import ReLUNetwork, dot_error, gamma, round_up
from ..result import LipschitzBound
from ..spec import dual_norm_upper
from .closed_form import ldexp_up, naive_bound, op_product, output_row
from .common import EPS, Setup, check_bool, l2_scale, make_bound, setup

SDP_SOLVERS = ("CLARABEL", "SCS", "MOSEK", "CVXOPT", "SDPA", "COPT")
"""cvxpy solvers that handle semidefinite constraints."""
LIPSDP_DELTA = 1e-8
"""First strictness margin of the activation block of the LMI (normalized units)."""
LIPSDP_SOLVES = 4
"""Solves tried, each with a 100 times larger margin, before giving up on certification."""


def _log2_scale(M: np.ndarray) -> int:
    """The exponent of a power of two near the spectral norm of ``M`` (nonzero): dividing by
    it is exact in floating point. The norm is taken after an exact rescaling by the largest
    entry, so that tiny or huge matrices neither underflow nor overflow."""
    M = np.atleast_2d(np.asarray(M, dtype=float))
    e = int(np.frexp(np.abs(M).max())[1])
    nrm = np.linalg.norm(np.ldexp(M, -e), 2)
    return e + int(np.round(np.log2(nrm)))


@dataclass
class _LMI:
    """The LipSDP LMI on ``v = (x, unstable activations)``, in normalized units:
    ``M(rho, t) = h h^T - rho E_x + sum_j t_j (A_j^T e_j^T + e_j A_j - 2 e_j e_j^T)``.

    Row ``A_j`` maps ``v`` to the pre-activation (minus biases) of free neuron ``j``, ``e_j``
    is its own coordinate and ``h`` maps ``v`` to ``c . f`` (minus constants); ``Aabs`` and
    ``habs`` are the same maps built from absolute values, which bound rounding errors.
    """

    n0: int
    A: np.ndarray  # (N, d)
    Aabs: np.ndarray
    h: np.ndarray  # (d,)
    habs: np.ndarray
    free: list[np.ndarray]  # per hidden layer: neurons with a multiplier
    cum: list[int]  # per hidden layer: log2 of the product of the layer scales so far
    log2_factor: int  # log2 of the l2 constant of the network over that of the normalized one

    @property
    def factor(self) -> float:
        """``2**log2_factor`` (may under- or overflow; the bound itself uses the exponent)."""
        with np.errstate(over="ignore", under="ignore"):
            return float(np.ldexp(1.0, self.log2_factor))

    @property
    def depth(self) -> int:
        return len(self.free)

    @property
    def d(self) -> int:
        return self.A.shape[1]

    @property
    def N(self) -> int:
        return self.A.shape[0]

    def coefficients(self) -> Any:
        """Sparse ``(d*d, N)`` matrix whose column ``j`` is ``vec(M_j)`` (column-major)."""
        import scipy.sparse as sp

        d, n0 = self.d, self.n0
        rows, cols, vals = [], [], []
        for j in range(self.N):
            idx = np.append(np.flatnonzero(self.A[j]), n0 + j)  # its inputs and itself
            a = np.append(self.A[j, idx[:-1]], 0.0)
            e = np.zeros(idx.size)
            e[-1] = 1.0
            block = np.outer(a, e) + np.outer(e, a) - 2.0 * np.outer(e, e)
            r, q = np.meshgrid(idx, idx, indexing="ij")
            rows.append((r + d * q).ravel())
            cols.append(np.full(idx.size**2, j))
            vals.append(block.ravel())
        return sp.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(d * d, self.N),
        )

    def dense(self, rho: float, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``M(rho, t)`` built directly in numpy, and the same sum of magnitudes (for the
        rounding errors of the build)."""
        n0 = self.n0
        out = []
        for A, h, sign in ((self.A, self.h, -1.0), (self.Aabs, self.habs, 1.0)):
            M = np.outer(h, h)
            cross = A.T * t  # A^T diag(t), the x/a columns times the a rows
            M[:, n0:] += cross
            M[n0:, :] += cross.T
            M[n0:, n0:] += 2.0 * sign * np.diag(t)
            M[:n0, :n0] += sign * rho * np.eye(n0)
            out.append(M)
        return out[0], out[1]


def _lmi(net: ReLUNetwork, s: Setup, local: bool) -> _LMI:
    """The LMI of ``c . net`` with every layer and ``w`` divided by a power of two near its
    norm (exact in floating point); the l2 constant scales back by ``factor``.

    Free neurons have slopes in ``[0, 1]``. With ``local``, the neurons proved active
    (slope ``[1, 1]``) or inactive (``[0, 0]``) on the box are substituted (``a = z`` or
    ``a = 0``) instead of getting a multiplier: their quadratic constraint is an equality,
    which the LMI only enforces as its multiplier goes to infinity; the substitution attains
    that infimum, and the maps ``A`` and ``h`` then run through the stable neurons.
    """
    n0 = net.input_dim
    free = [~(a | i) if local else np.ones(a.size, bool) for a, i in zip(s.active, s.inactive)]
    N = int(sum(f.sum() for f in free))
    d = n0 + N
    P = np.hstack([np.eye(n0), np.zeros((n0, N))])  # v -> a_{k-1}
    Pabs = P.copy()
    rows, rows_abs, cum, col = [], [], [], n0
    for k, Wk in enumerate(net.weights[:-1]):
        e_k = _log2_scale(Wk)
        cum.append(e_k + (cum[-1] if cum else 0))
        W = np.ldexp(Wk, -e_k)
        Z, Zabs = W @ P, np.abs(W) @ Pabs
        rows.append(Z[free[k]])
        rows_abs.append(Zabs[free[k]])
        on = s.active[k] & ~free[k]  # substituted active neurons: a = z
        P, Pabs = np.where(on[:, None], Z, 0.0), np.where(on[:, None], Zabs, 0.0)
        idx = np.flatnonzero(free[k])
        P[idx, col + np.arange(idx.size)] = 1.0
        Pabs[idx, col + np.arange(idx.size)] = 1.0
        col += idx.size
    ew = _log2_scale(s.w)
    w = np.ldexp(s.w, -ew)
    A = np.vstack(rows) if N else np.zeros((0, d))
    Aabs = np.vstack(rows_abs) if N else np.zeros((0, d))
    return _LMI(n0, A, Aabs, w @ P, np.abs(w) @ Pabs, free, cum, cum[-1] + ew)


def _multipliers(lmi: _LMI, t: np.ndarray) -> list[np.ndarray]:
    """The multipliers per hidden layer for the original weights (nan for substituted
    neurons): with ``a_k = S_k a~_k`` (``S_k`` the product of the layer scales) and the
    inequality multiplied by ``factor^2``, ``t_kj = t~_kj factor^2 / S_k^2``."""
    out, start = [], 0
    for free, cum in zip(lmi.free, lmi.cum):
        layer = np.full(free.size, np.nan)
        n = int(free.sum())
        with np.errstate(over="ignore", under="ignore"):
            layer[free] = t[start : start + n] * np.ldexp(1.0, 2 * (lmi.log2_factor - cum))
        out.append(layer)
        start += n
    return out


def _eig_margin(lmi: _LMI, M: np.ndarray, Mabs: np.ndarray) -> float:
    """Bound on ``|lambda_max(M_exact) - eigvalsh(M_computed)[-1]|``: rounding in the build
    (products of <= depth + 2 factors summed over <= d terms: elementwise a few
    ``(depth + 2) d eps`` times the magnitudes ``Mabs``) plus the backward error of the
    symmetric eigensolver (a modest multiple of ``d eps ||M||``)."""
    d = M.shape[0]
    return 8.0 * (lmi.depth + 2) * (d + 4) * EPS * (np.linalg.norm(Mabs) + np.linalg.norm(M))


def _certify(lmi: _LMI, t: np.ndarray) -> tuple[float | None, dict[str, Any]]:
    """A ``rho`` for which ``M(rho, t) <= 0`` provably holds, or None.

    ``rho`` enters ``M`` only through ``-rho I`` in the x-block, so once the activation
    block ``M_aa`` (independent of rho) is negative definite, ``M(rho) <= 0`` holds exactly
    when ``rho I >= N_xx + N_xa (-M_aa)^{-1} N_ax`` (Schur complement, ``N = M(0)``): the
    smallest valid rho for the solver's multipliers is the largest eigenvalue of that
    complement (adding the violation's eigenvalue to rho would not suffice in general, as
    the violating direction need not lie in the x-block). It is computed in floating point,
    then inflated and checked on the whole matrix with ``eigvalsh`` against a margin
    covering rounding: that check is the proof.
    """
    n0 = lmi.n0
    N0, _ = lmi.dense(0.0, t)
    try:
        chol = np.linalg.cholesky(-N0[n0:, n0:])
    except np.linalg.LinAlgError:
        return None, {"reason": "activation block not negative definite"}
    Y = np.linalg.solve(chol, N0[n0:, :n0])
    schur = N0[:n0, :n0] + Y.T @ Y
    rho_req = max(float(np.linalg.eigvalsh((schur + schur.T) / 2)[-1]), 0.0)
    M, Mabs = lmi.dense(rho_req, t)
    step = 2.0 * _eig_margin(lmi, M, Mabs) + 1e-9 * rho_req
    for _ in range(6):
        rho = rho_req + step
        M, Mabs = lmi.dense(rho, t)
        margin = _eig_margin(lmi, M, Mabs)
        lam = float(np.linalg.eigvalsh(M)[-1])
        if lam <= -margin:
            return rho, {"rho_schur": rho_req, "lambda_max": lam, "margin": margin}
        step *= 10.0
    return None, {"reason": "eigenvalue check failed", "lambda_max": lam, "margin": margin}


def _resolve_solver(solver: str | None) -> str:
    import cvxpy as cp

    if solver is None:
        return "CLARABEL"
    if not isinstance(solver, str):
        raise TypeError(f"solver must be a string or None, got {solver!r}")
    name = solver.upper()
    if name not in SDP_SOLVERS:
        raise ValueError(f"unknown SDP solver {solver!r}; choose one of {SDP_SOLVERS}")
    if name not in cp.installed_solvers():
        raise ValueError(f"solver {solver!r} is not installed (cvxpy has {cp.installed_solvers()})")
    return name


def _solve_lmi(lmi: _LMI, F: Any, solver: str, delta: float) -> tuple[str, float, np.ndarray]:
    """Minimize rho s.t. ``M(rho, t) + delta blkdiag(0, I) <= 0``, ``t >= 0`` (cvxpy)."""
    import cvxpy as cp

    d, n0 = lmi.d, lmi.n0
    t = cp.Variable(lmi.N, nonneg=True)
    rho = cp.Variable(nonneg=True)
    shift = np.outer(lmi.h, lmi.h)
    shift[n0:, n0:] += delta * np.eye(d - n0)
    ex = np.zeros((d, d))
    ex[:n0, :n0] = np.eye(n0)
    M = cp.reshape(F @ t, (d, d), order="F") + shift - rho * ex
    problem = cp.Problem(cp.Minimize(rho), [(M + M.T) / 2 << 0])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "inaccurate" goes into the status
            problem.solve(solver=solver)
    except cp.error.SolverError as err:
        return f"solver_error: {err}", np.nan, np.zeros(lmi.N)
    if rho.value is None or t.value is None:
        return str(problem.status), np.nan, np.zeros(lmi.N)
    return str(problem.status), float(rho.value), np.maximum(np.asarray(t.value, float), 0.0)


def lipsdp(
    net: ReLUNetwork,
    norm: Any = "inf",
    domain: Any = "global",
    output: Any = None,
    solver: str | None = None,
    local: bool = True,
) -> LipschitzBound:
    """LipSDP-Neuron upper bound on the Lipschitz constant of ``c . net`` (see module doc).

    ``solver`` is a cvxpy SDP solver (default Clarabel). ``local=True`` fixes the slopes of
    the neurons proved stable on ``domain`` (substituted, see :func:`_lmi`);
    ``local=False`` is the global LipSDP (slopes ``[0, 1]`` everywhere).
    The solver's multipliers ``t`` are clipped to ``>= 0`` and ``rho`` is recomputed so that
    the LMI provably holds (``info["rho_solver"]`` vs ``info["rho"]``). The solve imposes a
    small strictness margin on the activation block (``info["attempts"]``), enlarged and
    retried when the certificate fails; if no try certifies, the first solve's value is
    returned with ``sound=False`` and status ``"inaccurate"``. ``rho``, ``rho_solver`` and
    ``multipliers`` in ``info`` are for the original weights; the values in
    ``info["attempts"]`` are in the normalized units of the solve. The value is
    ``sqrt(rho) * scale`` with ``scale = sqrt(n)`` for ``norm="inf"`` and 1 otherwise.
    """
    t0 = time.perf_counter()
    s = setup(net, norm, domain, output)
    check_bool(local, "local")
    name = _resolve_solver(solver)
    scale = l2_scale(s.norm, net.input_dim)
    info: dict[str, Any] = {"solver": name, "scale": scale, "local": bool(local)}
    w, w_err = output_row(net, s.c)
    w_zero = not np.any((net.weights[-1] != 0).T @ (s.c != 0))  # every product is 0
    if w_zero or not all(np.any(W) for W in net.weights[:-1]):
        info.update(l2=0.0, exact=True)  # c . f is constant
        return make_bound(0.0, "lipsdp", s, t0, info, kind="upper")
    if not np.any(s.w):  # W_out^T c cancels to 0 in floating point: no LMI to scale
        info.update(note="W_out^T c rounds to 0: the bound is the naive one")
        value = naive_bound(net, s.c, s.norm)
        return make_bound(value, "lipsdp", s, t0, info, kind="upper")
    # W_out^T c carries a rounding error: the l2 constant moves by at most its l2 norm times
    # the product of the hidden layers' spectral norms
    mant, expo = op_product(net, "2")
    m, ex = np.frexp(dual_norm_upper(w_err, "2"))
    w_shift = ldexp_up(float(round_up(m * mant * (1.0 + 4.0 * gamma(2)))), expo + int(ex))
    scale_up = float(round_up(scale))

    def final(l2_normalized: float) -> float:
        """The normalized l2 bound scaled back, widened and turned into the dual norm."""
        l2 = ldexp_up(float(round_up(l2_normalized)), lmi.log2_factor)
        return float(round_up(round_up(l2 + w_shift) * scale_up))

    lmi = _lmi(net, s, local)
    factor = lmi.factor
    sizes = {"lmi": lmi.d, "multipliers": lmi.N}
    if not np.any(lmi.habs):  # the output sees only inactive neurons: constant on the box
        info.update(l2=0.0, exact=True)
        return make_bound(0.0, "lipsdp", s, t0, info, "upper", sizes=sizes)
    if lmi.N == 0:  # every neuron substituted: c . f is affine on the box, gradient h
        # h is a sum of products folded through the active neurons: its error is relative to
        # the same sums of magnitudes, habs
        n_ops = net.depth + 4 + lmi.d + sum(net.hidden_sizes)
        h_up = np.abs(lmi.h) + dot_error(lmi.habs, n_ops)
        value = final(dual_norm_upper(h_up, "2"))
        info.update(l2=value / scale_up, exact=True)
        return make_bound(value, "lipsdp", s, t0, info, "upper", sizes=sizes)
    F = lmi.coefficients()
    delta, attempts = LIPSDP_DELTA, []
    status, rho_solver, rho_cert, first = "", np.nan, None, np.nan
    for _ in range(LIPSDP_SOLVES):
        status, rho_solver, t = _solve_lmi(lmi, F, name, delta)
        if not np.isfinite(rho_solver):
            attempts.append({"delta": delta, "status": status})
            break
        first = rho_solver if np.isnan(first) else first
        rho_cert, cert = _certify(lmi, t)
        attempts.append({"delta": delta, "status": status, "rho_solver": rho_solver, **cert})
        if rho_cert is not None:
            info["multipliers"] = _multipliers(lmi, t)
            break
        delta *= 100.0
    info.update(attempts=attempts, normalization=factor, solver_status=status)
    with np.errstate(over="ignore", under="ignore"):
        info["rho_solver"] = rho_solver * factor**2
    if rho_cert is None:  # no certificate: the least tightened solve's value, flagged
        l2 = float(np.sqrt(first)) * factor if np.isfinite(first) else np.nan
        info["l2"] = l2
        st = "inaccurate" if np.isfinite(l2) else status
        return make_bound(
            l2 * scale, "lipsdp", s, t0, info, "upper", status=st, sound=False, sizes=sizes
        )
    value = final(float(np.sqrt(rho_cert)))
    with np.errstate(over="ignore", under="ignore"):
        info.update(l2=value / scale_up, rho=rho_cert * factor**2, rho_normalized=rho_cert)
    return make_bound(value, "lipsdp", s, t0, info, "upper", sizes=sizes)
