"""Baselines of the experiments: LipSDP, SeqLip and CLEVER (Jordan & Dimakis 2020, app. F.1).

All three concern the scalar function ``x -> c . f(x)`` and its gradient
``g(x)^T = w^T D_L W_L ... D_1 W_1`` with ``w = W_out^T c`` and ``D_k = diag(ReLU'(z_k))``.
The Lipschitz constant for the input norm ``p`` is the largest dual norm of ``g`` over the
domain.

* :func:`lipsdp` -- LipSDP-Neuron (Fazlyab et al. 2019). On the stacked vector
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
* :func:`seqlip` -- SeqLip (Virmaux & Scaman 2018): with SVDs ``M_i = U_i S_i V_i^T`` of
  ``M_0 = W_1, ..., M_{L-1} = W_L, M_L = w^T``,

      ||g||_2 <= prod_{k=1..L} max_{sigma in {0,1}^{n_k}}
                 || S~_k V_k^T diag(sigma) U_{k-1} S~_{k-1} ||_2

  where ``S~_i = S_i`` for ``i = 0`` and ``i = L`` and ``S_i^{1/2}`` otherwise.
* :func:`clever` -- the CLEVER score (Weng et al. 2018): the location of a reverse Weibull
  distribution fitted to batch maxima of sampled gradient dual norms. An *estimate*, not a
  bound.

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

from .lcep import NeuronCounts, stability
from .network import ReLUNetwork, dot_error, gamma, round_up
from .result import LipschitzBound
from .spec import Box, dual_norm, dual_norm_upper, resolve_domain, resolve_norm, resolve_output

FLOAT_SAFETY = 1e-12
"""Relative inflation of the SeqLip bound, covering the rounding of its SVDs and products."""

EPS = float(np.finfo(float).eps)
SDP_SOLVERS = ("CLARABEL", "SCS", "MOSEK", "CVXOPT", "SDPA", "COPT")
"""cvxpy solvers that handle semidefinite constraints."""
LIPSDP_DELTA = 1e-8
"""First strictness margin of the activation block of the LMI (normalized units)."""
LIPSDP_SOLVES = 4
"""Solves tried, each with a 100 times larger margin, before giving up on certification."""
SEQLIP_EXACT_MAX = 24
"""Largest ``exact_limit`` accepted (``2^24`` patterns per layer)."""
SEQLIP_MEMORY = 200_000_000
"""Bytes per stack of matrices in the SeqLip enumeration."""
CLEVER_MEMORY = 100_000_000
"""Bytes of activations per chunk of CLEVER's gradient evaluations."""
CLEVER_C_INIT = (0.1, 1.0, 5.0, 10.0, 20.0, 50.0, 100.0)
"""Initial Weibull shapes of the CLEVER repository; the fit with the best KS p-value wins."""
CLEVER_MIN_PVALUE = 0.001
"""Below this KS p-value the CLEVER repository rejects the fit and uses the sampled maximum."""


# ---------------------------------------------------------------------- shared helpers


def _check_net(net: Any) -> None:
    if not isinstance(net, ReLUNetwork):
        raise TypeError(f"net must be a ReLUNetwork, got {type(net).__name__}")


def _check_bool(value: Any, name: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def _positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def l2_scale(norm: str, n: int) -> float:
    """Factor turning an l2 gradient bound into one on the dual norm of ``norm``."""
    return float(np.sqrt(n)) if norm == "inf" else 1.0


def _log2_scale(M: np.ndarray) -> int:
    """The exponent of a power of two near the spectral norm of ``M`` (nonzero): dividing by
    it is exact in floating point. The norm is taken after an exact rescaling by the largest
    entry, so that tiny or huge matrices neither underflow nor overflow."""
    M = np.atleast_2d(np.asarray(M, dtype=float))
    e = int(np.frexp(np.abs(M).max())[1])
    nrm = np.linalg.norm(np.ldexp(M, -e), 2)
    return e + int(np.round(np.log2(nrm)))


def _scale_up(x: float, exponent: int) -> float:
    """``x * 2**exponent`` rounded up (positive whenever ``x`` is, also below the smallest
    float).

    Raises
    ------
    ValueError
        When the result overflows float64.
    """
    y = float(np.ldexp(x, exponent))
    if x > 0:
        y = float(np.nextafter(y, np.inf))
    if not np.isfinite(y):
        raise ValueError("the LipSDP bound overflows float64: the network's weights are too large")
    return y


def naive_bound(net: ReLUNetwork, c: np.ndarray, norm: str) -> float:
    """The product of the hidden layers' operator norms for the input norm, times the dual
    norm of ``W_out^T c``, rounded up (a rigorous upper bound on the Lipschitz constant).

    ``W_out^T c`` gets its rounding error (relative to ``|W_out|^T |c|``, so cancellation in
    ``f_i - f_r`` is covered); the operator norms (sums of magnitudes, or the spectral norm
    bounded through a verified eigenvalue test) are inflated by their rounding errors; the
    product is formed in base-2 exponent and mantissa so that it neither underflows nor
    overflows before the final result, which is rounded up.
    """
    w, w_err = _output_row(net, c)
    mant, expo = _op_product(net, norm)
    head = dual_norm_upper(np.abs(w) + w_err, norm)
    m, ex = np.frexp(head)
    value = _scale_up(float(round_up(m * mant * (1.0 + 4.0 * gamma(2)))), expo + int(ex))
    return value if head > 0 else 0.0


def _output_row(net: ReLUNetwork, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``w = W_out^T c`` computed in floating point and a bound on its error."""
    net.check()
    n_out = net.weights[-1].shape[0]
    w = net.weights[-1].T @ c
    return w, dot_error(np.abs(net.weights[-1]).T @ np.abs(c), n_out)


def _spectral_norm_upper(V: np.ndarray) -> float:
    """``||V||_2`` bounded above in exact arithmetic: ``lambda_max`` of the computed Gram
    matrix from a shift that passes Rump's Cholesky test (:mod:`polyopt.certificate`), plus
    the Gram matrix's rounding error (its entrywise bound summed: above the spectral norm)."""
    from polyopt.certificate import psd_lower_bounds

    tall = V.shape[0] >= V.shape[1]
    G = V.T @ V if tall else V @ V.T
    absV = np.abs(V)
    mag = absV.T @ absV if tall else absV @ absV.T
    err = float(np.sum(dot_error(mag, max(V.shape))))
    lam = -float(psd_lower_bounds([-G])[0])
    val = float(np.sqrt(round_up(max(lam, 0.0) + err * (1 + gamma(G.size)))))
    return float(round_up(val * (1.0 + 4.0 * gamma(2))))


def _op_product(net: ReLUNetwork, norm: str) -> tuple[float, int]:
    """An upper bound ``mant * 2**expo`` on the product of the hidden layers' operator norms
    for the input norm ``norm``."""
    mant, expo = 1.0, 0
    for W in net.weights[:-1]:
        e = int(np.frexp(np.abs(W).max())[1]) if np.any(W) else 0
        V = np.ldexp(W, -e)  # exact unless entries become subnormal (covered below)
        if norm == "inf":
            op = np.abs(V).sum(axis=1).max()
        elif norm == "1":
            op = np.abs(V).sum(axis=0).max()
        else:
            op = _spectral_norm_upper(V) if np.any(V) else 0.0
        op = op * (1.0 + 16.0 * gamma(sum(W.shape) + 8)) + W.size * 2.0**-1000
        m, ex = np.frexp(op * mant)
        mant, expo = float(round_up(m * (1.0 + 4.0 * gamma(2)))), expo + e + int(ex)
    return mant, expo


def gradient_bounds(net: ReLUNetwork, box: Box, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rigorous interval bounds on every generalized gradient of ``c . f`` over the box
    (FastLip's backward interval propagation, rounded outward)."""
    from .network import affine_enclosure

    _, active, inactive = stability(net, box)
    w, w_err = _output_row(net, c)
    lo, hi = np.nextafter(w - w_err, -np.inf), np.nextafter(w + w_err, np.inf)
    for k in range(net.depth - 1, -1, -1):
        unstable = ~(active[k] | inactive[k])
        lo = np.where(active[k], lo, np.where(unstable, np.minimum(lo, 0.0), 0.0))
        hi = np.where(active[k], hi, np.where(unstable, np.maximum(hi, 0.0), 0.0))
        W = net.weights[k]
        lo, hi = affine_enclosure(W.T, np.zeros(W.shape[1]), lo, hi)
    return lo, hi


def fastlip_bound(net: ReLUNetwork, box: Box, c: np.ndarray, norm: str) -> float:
    """FastLip: the dual norm of the largest-magnitude gradient in :func:`gradient_bounds`,
    rounded up."""
    lo, hi = gradient_bounds(net, box, c)
    return dual_norm_upper(np.maximum(np.abs(lo), np.abs(hi)), norm)


@dataclass
class _Setup:
    """Resolved arguments shared by the three baselines."""

    norm: str
    box: Box
    c: np.ndarray
    w: np.ndarray  # W_out^T c
    active: list[np.ndarray]
    inactive: list[np.ndarray]
    neurons: dict[str, list[int]]


def _setup(net: Any, norm: Any, domain: Any, output: Any) -> _Setup:
    _check_net(net)
    norm = resolve_norm(norm)
    box = resolve_domain(domain, net.input_dim)
    c = resolve_output(output, net.output_dim)
    _, active, inactive = stability(net, box)
    neurons = NeuronCounts.from_masks(active, inactive).as_dict()
    return _Setup(norm, box, c, net.weights[-1].T @ c, active, inactive, neurons)


# ---------------------------------------------------------------------- LipSDP


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


def _lmi(net: ReLUNetwork, s: _Setup, local: bool) -> _LMI:
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
    s = _setup(net, norm, domain, output)
    _check_bool(local, "local")
    name = _resolve_solver(solver)
    scale = l2_scale(s.norm, net.input_dim)
    info: dict[str, Any] = {"solver": name, "scale": scale, "local": bool(local)}
    w, w_err = _output_row(net, s.c)
    w_zero = not np.any((net.weights[-1] != 0).T @ (s.c != 0))  # every product is 0
    if w_zero or not all(np.any(W) for W in net.weights[:-1]):
        info.update(l2=0.0, exact=True)  # c . f is constant
        return _bound(0.0, "lipsdp", s, t0, info, kind="upper")
    if not np.any(s.w):  # W_out^T c cancels to 0 in floating point: no LMI to scale
        info.update(note="W_out^T c rounds to 0: the bound is the naive one")
        value = naive_bound(net, s.c, s.norm)
        return _bound(value, "lipsdp", s, t0, info, kind="upper")
    # W_out^T c carries a rounding error: the l2 constant moves by at most its l2 norm times
    # the product of the hidden layers' spectral norms
    mant, expo = _op_product(net, "2")
    m, ex = np.frexp(dual_norm_upper(w_err, "2"))
    w_shift = _scale_up(float(round_up(m * mant * (1.0 + 4.0 * gamma(2)))), expo + int(ex))
    scale_up = float(round_up(scale))

    def final(l2_normalized: float) -> float:
        """The normalized l2 bound scaled back, widened and turned into the dual norm."""
        l2 = _scale_up(float(round_up(l2_normalized)), lmi.log2_factor)
        return float(round_up(round_up(l2 + w_shift) * scale_up))

    lmi = _lmi(net, s, local)
    factor = lmi.factor
    sizes = {"lmi": lmi.d, "multipliers": lmi.N}
    if not np.any(lmi.habs):  # the output sees only inactive neurons: constant on the box
        info.update(l2=0.0, exact=True)
        return _bound(0.0, "lipsdp", s, t0, info, "upper", sizes=sizes)
    if lmi.N == 0:  # every neuron substituted: c . f is affine on the box, gradient h
        # h is a sum of products folded through the active neurons: its error is relative to
        # the same sums of magnitudes, habs
        n_ops = net.depth + 4 + lmi.d + sum(net.hidden_sizes)
        h_up = np.abs(lmi.h) + dot_error(lmi.habs, n_ops)
        value = final(dual_norm_upper(h_up, "2"))
        info.update(l2=value / scale_up, exact=True)
        return _bound(value, "lipsdp", s, t0, info, "upper", sizes=sizes)
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
        return _bound(
            l2 * scale, "lipsdp", s, t0, info, "upper", status=st, sound=False, sizes=sizes
        )
    value = final(float(np.sqrt(rho_cert)))
    with np.errstate(over="ignore", under="ignore"):
        info.update(l2=value / scale_up, rho=rho_cert * factor**2, rho_normalized=rho_cert)
    return _bound(value, "lipsdp", s, t0, info, "upper", sizes=sizes)


def _bound(
    value: float,
    method: str,
    s: _Setup,
    t0: float,
    info: dict[str, Any],
    kind: str,
    status: str = "optimal",
    sound: bool = True,
    sizes: dict[str, Any] | None = None,
) -> LipschitzBound:
    return LipschitzBound(
        float(value),
        kind,
        method,
        status=status,
        sound=sound,
        seconds=time.perf_counter() - t0,
        norm=s.norm,
        sizes=sizes or {},
        neurons=s.neurons,
        info=info,
    )


# ---------------------------------------------------------------------- SeqLip


def _factor_norms(base: np.ndarray, Lu: np.ndarray, Ru: np.ndarray, P: np.ndarray) -> np.ndarray:
    """``|| base + Lu diag(P[b]) Ru ||_2`` for every row ``P[b]`` of a 0/1 pattern stack."""
    mats = base + (Lu[None, :, :] * P[:, None, :]) @ Ru
    if min(mats.shape[1:]) == 1:
        return np.sqrt((mats * mats).sum(axis=(1, 2)))
    return np.linalg.norm(mats, 2, axis=(1, 2))


def _patterns(start: int, stop: int, n: int) -> np.ndarray:
    """The 0/1 patterns numbered ``start .. stop - 1`` (bits of the number)."""
    idx = np.arange(start, stop, dtype=np.int64)
    return ((idx[:, None] >> np.arange(n, dtype=np.int64)) & 1).astype(float)


def _layer_exact(base: np.ndarray, Lu: np.ndarray, Ru: np.ndarray) -> float:
    """Max of the factor norm over all ``2^n_u`` patterns (a convex function of sigma on the
    cube, so the max over ``[0, 1]^n_u`` is attained at a vertex), in memory-bounded chunks."""
    n = Lu.shape[1]
    per = 8 * (base.size + Lu.size + base.shape[0] * Ru.shape[1]) + 8 * n
    chunk = max(1, SEQLIP_MEMORY // per)
    best = 0.0
    for start in range(0, 2**n, chunk):
        vals = _factor_norms(base, Lu, Ru, _patterns(start, min(start + chunk, 2**n), n))
        best = max(best, float(vals.max()))
    return best


def _layer_greedy(base: np.ndarray, Lu: np.ndarray, Ru: np.ndarray) -> float:
    """Greedy SeqLip: from the all-ones pattern, flip one coordinate at a time when the
    flip increases the norm; sweep until no flip helps (a lower estimate of the layer max)."""
    n = Lu.shape[1]
    sigma = np.ones(n)
    best = float(_factor_norms(base, Lu, Ru, sigma[None])[0])
    for _sweep in range(50):
        changed = False
        for j in range(n):
            sigma[j] = 1.0 - sigma[j]
            val = float(_factor_norms(base, Lu, Ru, sigma[None])[0])
            if val > best * (1 + 1e-12):
                best, changed = val, True
            else:
                sigma[j] = 1.0 - sigma[j]
        if not changed:
            break
    return best


def seqlip(
    net: ReLUNetwork,
    norm: Any = "inf",
    domain: Any = "global",
    output: Any = None,
    exact_limit: int = 16,
    local: bool = True,
) -> LipschitzBound:
    """SeqLip bound on the Lipschitz constant of ``c . net`` (see the module doc).

    Why it holds: ``g^T = M_L D_L M_{L-1} ... D_1 M_0``; inserting the SVDs and dropping the
    outer orthogonal factors ``U_L`` and ``V_0^T`` (norm-preserving),
    ``||g|| = || prod_{k=L..1} [S~_k V_k^T D_k U_{k-1} S~_{k-1}] ||`` because each middle
    ``S_i`` splits as ``S_i^{1/2} S_i^{1/2}`` between its two neighbouring factors;
    submultiplicativity and ``D_k = diag(sigma)``, ``sigma in [0, 1]^{n_k}`` (every
    generalized derivative of ReLU) give the product of per-layer maxima. With ``local=True``
    the neurons proved active (inactive) on the box have ``sigma = 1`` (0).

    A layer with at most ``exact_limit`` free neurons is maximized exactly by enumeration;
    a larger one by Greedy SeqLip, which makes the result an estimate (``kind="estimate"``,
    ``sound=False``, status ``"heuristic"``). The l2 value is scaled like :func:`lipsdp`'s.
    """
    t0 = time.perf_counter()
    s = _setup(net, norm, domain, output)
    _check_bool(local, "local")
    exact_limit = _positive_int(exact_limit, "exact_limit", minimum=0)
    if exact_limit > SEQLIP_EXACT_MAX:
        raise ValueError(f"exact_limit must be <= {SEQLIP_EXACT_MAX}, got {exact_limit}")
    scale = l2_scale(s.norm, net.input_dim)
    mats = [*net.weights[:-1], s.w[None, :]]
    svds = [np.linalg.svd(M, full_matrices=False) for M in mats]
    last = len(mats) - 1
    halves = [S if i in (0, last) else np.sqrt(S) for i, (_, S, _) in enumerate(svds)]
    factors, modes, free = [], [], []
    for k in range(1, last + 1):  # hidden layer k sits between mats[k - 1] and mats[k]
        left = halves[k][:, None] * svds[k][2]  # S~_k V_k^T
        right = svds[k - 1][0] * halves[k - 1][None, :]  # U_{k-1} S~_{k-1}
        fixed_on = s.active[k - 1] if local else np.zeros(left.shape[1], bool)
        fixed_off = s.inactive[k - 1] if local else np.zeros(left.shape[1], bool)
        u = ~(fixed_on | fixed_off)
        base = left[:, fixed_on] @ right[fixed_on, :]
        exact = int(u.sum()) <= exact_limit
        solve = _layer_exact if exact else _layer_greedy
        value = solve(base, left[:, u], right[u, :])
        # rounding of the factor's entries and of its norm (sums of length n_k)
        value += 16.0 * (left.shape[1] + 4) * EPS * halves[k].max() * halves[k - 1].max()
        factors.append(value)
        modes.append("exact" if exact else "greedy")
        free.append(int(u.sum()))
    l2 = float(np.prod(factors))
    # SVD reconstruction error ||U S V^T - M|| <~ d eps ||M||, relayed through the product
    dmax = max(max(M.shape) for M in mats)
    naive = float(np.prod([S.max() for _, S, _ in svds]))
    l2 += 16.0 * (last + 1) * (dmax + 4) * EPS * naive
    sound = all(m == "exact" for m in modes)
    info = {
        "l2": l2,
        "scale": scale,
        "local": bool(local),
        "factors": factors,
        "modes": modes,
        "free_neurons": free,
        "exact_limit": exact_limit,
        "naive_l2": naive,
    }
    if not sound:
        info["note"] = "Greedy SeqLip on layers marked 'greedy': a heuristic, not a bound"
    return _bound(
        l2 * scale * (1 + FLOAT_SAFETY),
        "seqlip",
        s,
        t0,
        info,
        kind="upper" if sound else "estimate",
        status="optimal" if sound else "heuristic",
        sound=sound,
    )


# ---------------------------------------------------------------------- CLEVER


def batch_maxima(
    net: ReLUNetwork,
    box: Box,
    c: np.ndarray,
    norm: str,
    batches: int,
    batch_size: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Largest gradient dual norm in each of ``batches`` batches of uniform points of the box,
    evaluated in chunks of bounded memory."""
    width = net.input_dim + max(net.hidden_sizes)
    chunk = max(1, CLEVER_MEMORY // (8 * 4 * width))
    total = batches * batch_size
    maxima = np.full(batches, -np.inf)
    for start in range(0, total, chunk):
        stop = min(start + chunk, total)
        X = box.sample(stop - start, rng)
        vals = dual_norm(net.gradients(X, c), norm)
        np.maximum.at(maxima, np.arange(start, stop) // batch_size, vals)
    return maxima


def _fmin_quiet(func: Any, x0: Any, args: tuple = (), disp: int = 0) -> Any:
    from scipy.optimize import fmin

    return fmin(func, x0, args=args, disp=0)


def fit_reverse_weibull(maxima: np.ndarray) -> dict[str, Any]:
    """Fit a reverse Weibull to the batch maxima as the CLEVER repository does.

    The sample is shifted by its maximum and divided by its range; ``weibull_min`` is fitted
    by maximum likelihood (Nelder-Mead) to the negated sample from each initial shape of
    :data:`CLEVER_C_INIT`, each fit is KS-tested against the original sample, and the fit with
    the best p-value is kept. Returns ``loc`` (the estimated right end point of the maxima,
    i.e. the negated Weibull location), ``shape``, ``scale``, ``ks``, ``pvalue`` and
    ``fits`` (one entry per start); ``loc`` is nan when every fit failed.
    """
    from scipy import stats

    x = np.asarray(maxima, dtype=float)
    shift = float(x.max())
    spread = float(x.max() - x.min())
    spread = spread if spread >= 1e-9 * max(1.0, abs(shift)) else 1.0
    rescaled = (x - shift) / spread
    fits = []
    for c0 in CLEVER_C_INIT:
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                shape, loc, scale = stats.weibull_min.fit(-rescaled, c0, optimizer=_fmin_quiet)
                loc, scale = -shift + loc * spread, scale * spread
                ks, pvalue = stats.kstest(-x, "weibull_min", args=(shape, loc, scale))
        except (ValueError, RuntimeError, FloatingPointError):
            continue
        fits.append(
            {"c_init": c0, "shape": shape, "loc": -loc, "scale": scale, "ks": ks, "pvalue": pvalue}
        )
    good = [f for f in fits if np.isfinite(f["pvalue"]) and np.isfinite(f["loc"])]
    if not good:
        return {"loc": np.nan, "pvalue": np.nan, "fits": fits}
    best = max(good, key=lambda f: f["pvalue"])
    return {**best, "fits": fits}


def clever(
    net: ReLUNetwork,
    norm: Any = "inf",
    domain: Any = "global",
    output: Any = None,
    batches: int = 500,
    batch_size: int = 1024,
    seed: int | np.random.Generator | None = 0,
) -> LipschitzBound:
    """The CLEVER score of ``c . net`` on ``domain``: an ESTIMATE of the Lipschitz constant.

    NOT a bound, neither upper nor lower (``kind="estimate"``, ``sound=False``). Draws
    ``batches * batch_size`` uniform points of the box, takes the largest gradient dual norm
    of each batch and fits a reverse Weibull distribution to these maxima
    (:func:`fit_reverse_weibull`, the CLEVER repository's defaults, as in the paper); the
    value is the fitted location (the distribution's right end point). When every fit fails,
    the best KS p-value is below :data:`CLEVER_MIN_PVALUE` (the repository's rule) or the
    location lies below the largest observed maximum or above the FastLip upper bound (a
    diverged fit), the value is that maximum and the status is ``"fallback"``
    (``info["fallback"]`` says why). Seeded.
    """
    t0 = time.perf_counter()
    s = _setup(net, norm, domain, output)
    batches = _positive_int(batches, "batches")
    batch_size = _positive_int(batch_size, "batch_size")
    if not (seed is None or isinstance(seed, (int, np.integer, np.random.Generator))):
        raise TypeError(f"seed must be an int, a numpy Generator or None, got {seed!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    maxima = batch_maxima(net, s.box, s.c, s.norm, batches, batch_size, rng)
    observed = float(maxima.max())
    fit = fit_reverse_weibull(maxima) if batches >= 2 else {"loc": np.nan, "pvalue": np.nan}
    info: dict[str, Any] = {
        "max_observed": observed,
        "batches": batches,
        "batch_size": batch_size,
        "location": fit["loc"],
        "pvalue": fit["pvalue"],
        "shape": fit.get("shape"),
        "weibull_scale": fit.get("scale"),
        "ks": fit.get("ks"),
        "note": "CLEVER is an estimate from sampling and extreme value theory, not a bound",
    }
    value, status = fit["loc"], "optimal"
    reason = None
    if not np.isfinite(value):
        reason = "the Weibull fit failed"
    elif not fit["pvalue"] >= CLEVER_MIN_PVALUE:
        reason = f"KS p-value {fit['pvalue']:.3g} < {CLEVER_MIN_PVALUE} (ill-conditioned sample)"
    elif value < observed:
        reason = "the fitted location is below the largest observed maximum"
    else:
        ceiling = fastlip_bound(net, s.box, s.c, s.norm)
        info["fastlip"] = ceiling
        if value > ceiling:
            reason = f"the fitted location exceeds the FastLip upper bound {ceiling:.6g}"
    if reason is not None:
        value, status = observed, "fallback"
        info["fallback"] = f"{reason}: reporting the largest observed maximum"
    return _bound(value, "clever", s, t0, info, kind="estimate", status=status, sound=False)
