"""Low-rank augmented Lagrangian (Burer-Monteiro) solver for moment relaxations.

The program is first put in the low-rank form of :mod:`polyopt.solvers.lowrank.form` (over
the block entries). Each block of side ``s >= 2`` is factored ``M_k = R_k R_k^T`` with
``R_k`` of ``r_k << s`` columns, so the PSD constraints hold by construction and the
remaining linear constraints go into an augmented Lagrangian minimized by L-BFGS (Burer and
Monteiro 2003; SDPLR). One iteration costs a few matrix products with the factors, never an
eigendecomposition, which is what makes relaxations with one large moment matrix (the LCEP
of a wide network) tractable.

The augmented Lagrangian's multipliers are a dual point: ``mu`` and ``z`` for the linear
rows, and for each block the matrix ``S_k = C_k - A_k^*(lambda)`` (the Gram matrix of the
SOS certificate), mapped back to the program by :func:`recover`. It is only approximately
PSD; :func:`polyopt.result.sound_lower_bound` turns it into a bound that holds exactly
(minimum eigenvalue times a trace bound), so the solver's accuracy affects tightness, never
validity.

Warm starts. ``solver_options={"warm_start": previous}`` starts from the factors and the
multipliers of an earlier solve (a :class:`BackendResult` of this backend, a
:class:`polyopt.Result`, or the ``raw["state"]`` dict they carry) of a program with the same
constraints: only the objective may differ (e.g. the LCEPs of several logits or pairs of
one network). The state records a digest of the constraints
(:func:`polyopt.solvers.lowrank.form.constraint_signature`); a state from other constraints
raises ``ValueError``. The penalty restarts at its initial value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.optimize import minimize

from ...conic import ConicProgram
from .form import LowRankForm, build_lowrank_form, constraint_signature

DEFAULTS = {
    "rank": None,  # columns of each factor: None = from the constraint count, capped
    "max_rank": 64,
    "sigma": 10.0,  # initial penalty (rows and objective are normalized)
    "sigma_growth": 4.0,
    "max_sigma": 1e8,
    "max_outer": 200,
    "inner_iters": 400,
    "seed": 0,
    "stall_outer": 15,  # stop ("inaccurate") when the certified value stalls this long
    "warm_start": None,  # a BackendResult / Result / raw["state"] of the same constraints
}


def _warm_state(previous) -> dict:
    """The solver state carried by ``previous`` (a result of this backend, or its state)."""
    for attr in ("backend_result", "raw"):
        if hasattr(previous, attr):
            previous = getattr(previous, attr)
    if isinstance(previous, dict) and "state" in previous:
        previous = previous["state"]
    keys = {"theta", "lam_eq", "lam_in", "sigma", "signature"}
    if not isinstance(previous, dict) or not keys <= set(previous):
        raise ValueError(
            "warm_start needs a result of the lowrank solver (a BackendResult or Result whose "
            "raw['state'] holds the factors and multipliers), or that state dict"
        )
    return previous


class _Lagrangian:
    """Value and gradient of the augmented Lagrangian in the factors."""

    def __init__(self, form: LowRankForm) -> None:
        self.f = form
        self.nx = form.c.size
        self.AeT = form.A_eq.T.tocsr()
        self.AiT = form.A_in.T.tocsr()

    def split(self, theta: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """The factors (fixed rows scaled to their norms) and the free moments."""
        Rs = []
        for g in self.f.groups:
            P = theta[g.offset : g.offset + g.nparams].reshape(g.blocks.size, g.size, g.rank)
            if g.fixed is not None:
                P = P.copy()
                rows = P.reshape(-1, g.rank)
                sub = rows[g.fixed]
                norms = np.linalg.norm(sub, axis=1)
                norms[norms == 0] = 1.0
                rows[g.fixed] = sub * (np.sqrt(g.fixed_sq) / norms)[:, None]
            Rs.append(P)
        return Rs, theta[self.f.nparams - self.f.free_pos.size :]

    def fixed_multipliers(self, Rs, Ss) -> list[np.ndarray]:
        """Multipliers of the fixed-norm rows from stationarity, ``S_final R = 0`` on them."""
        out = []
        for g, R, S in zip(self.f.groups, Rs, Ss):
            if g.fixed is None:
                out.append(np.zeros(0))
                continue
            SR = (S @ R).reshape(-1, g.rank)[g.fixed]
            out.append(np.einsum("ij,ij->i", SR, R.reshape(-1, g.rank)[g.fixed]) / g.fixed_sq)
        return out

    def dual_blocks(self, theta, gx, teq) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The dual matrices with the fixed rows' multipliers subtracted, and those."""
        Rs, _ = self.split(theta)
        Ss = self.slack_blocks(gx)
        for k, extra in enumerate(self.factored_slack(teq)):
            if extra is not None:
                Ss[k] = Ss[k] + extra
        lams = self.fixed_multipliers(Rs, Ss)
        for g, S, lam in zip(self.f.groups, Ss, lams):
            if g.fixed is not None:
                b, i = np.divmod(g.fixed, g.size)
                S[b, i, i] -= lam
        return Ss, lams

    def entries(self, theta: np.ndarray, Rs: list[np.ndarray] | None = None) -> np.ndarray:
        """The block entries and free moments ``x`` (``Rs``: the factors, if already split)."""
        if Rs is None:
            Rs, _ = self.split(theta)
        w = theta[self.f.nparams - self.f.free_pos.size :]
        x = np.zeros(self.nx)
        for g, R in zip(self.f.groups, Rs):
            V = R @ R.transpose(0, 2, 1)
            x[g.pos] = V.reshape(-1)[g.flat]
        x[self.f.free_pos] = w
        return x

    def factored_values(self, Rs: list[np.ndarray]) -> np.ndarray:
        """The factored terms ``coef ||R^T f||^2`` summed into their A_eq rows."""
        out = np.zeros(self.f.b_eq.size)
        for fg in self.f.factored:
            R = Rs[fg.group]
            # f^T R for each term: gather the term's block, then a row-wise product
            FR = _rows_times(fg.F, R, fg.slot)
            out += np.bincount(fg.row, fg.coef * np.einsum("ij,ij->i", FR, FR), out.size)
        return out

    def factored_grad(self, Rs: list[np.ndarray], teq: np.ndarray) -> list[np.ndarray | None]:
        """Per group: ``-2 sum_r teq_r coef_r f_r f_r^T R`` (the factored rows' part of the
        gradient ``2 S R``), or None."""
        out: list[np.ndarray | None] = [None] * len(self.f.groups)
        for fg in self.f.factored:
            R = Rs[fg.group]
            FR = _rows_times(fg.F, R, fg.slot)
            W = (teq[fg.row] * fg.coef)[:, None] * FR
            G = np.zeros_like(R)
            for slot in np.unique(fg.slot):
                on = fg.slot == slot
                G[slot] = fg.F[on].T @ W[on]
            out[fg.group] = -2.0 * G if out[fg.group] is None else out[fg.group] - 2.0 * G
        return out

    def factored_slack(self, teq: np.ndarray) -> list[np.ndarray | None]:
        """Per group: ``-sum_r teq_r coef_r f_r f_r^T`` stacked like the blocks, or None."""
        out: list[np.ndarray | None] = [None] * len(self.f.groups)
        for fg in self.f.factored:
            g = self.f.groups[fg.group]
            S = np.zeros((g.blocks.size, g.size, g.size))
            for slot in np.unique(fg.slot):
                on = np.flatnonzero(fg.slot == slot)
                Fs = fg.F[on]
                w = sp.diags(teq[fg.row[on]] * fg.coef[on])
                S[slot] -= (Fs.T @ (w @ Fs)).toarray()
            out[fg.group] = S if out[fg.group] is None else out[fg.group] + S
        return out

    def multipliers(self, x, lam_eq, lam_in, sigma, Rs=None):
        h = self.f.A_eq @ x - self.f.b_eq
        if self.f.factored:
            h = h + self.factored_values(Rs)
        gi = self.f.A_in @ x - self.f.b_in
        teq = lam_eq - sigma * h
        tin = np.maximum(0.0, lam_in - sigma * gi)
        return h, gi, teq, tin

    def grad_x(self, teq, tin) -> np.ndarray:
        return self.f.c - self.AeT @ teq - self.AiT @ tin

    def slack_blocks(self, gx: np.ndarray) -> list[np.ndarray]:
        """The symmetric dual matrices ``S`` per group, shape ``(g, s, s)``."""
        out = []
        for g in self.f.groups:
            n = g.blocks.size * g.size * g.size
            S = np.bincount(g.flat, weights=gx[g.pos], minlength=n).reshape(-1, g.size, g.size)
            out.append(0.5 * (S + S.transpose(0, 2, 1)))
        return out

    def __call__(self, theta, lam_eq, lam_in, sigma):
        Rs, _ = self.split(theta)
        x = self.entries(theta, Rs)
        h, gi, teq, tin = self.multipliers(x, lam_eq, lam_in, sigma, Rs)
        val = (
            float(self.f.c @ x)
            - float(lam_eq @ h)
            + 0.5 * sigma * float(h @ h)
            + (float(tin @ tin) - float(lam_in @ lam_in)) / (2.0 * sigma)
        )
        gx = self.grad_x(teq, tin)
        grad = np.empty_like(theta)
        extra = self.factored_grad(Rs, teq) if self.f.factored else [None] * len(Rs)
        for g, R, S, E in zip(self.f.groups, Rs, self.slack_blocks(gx), extra):
            G = 2.0 * (S @ R)
            if E is not None:
                G = G + E
            if g.fixed is not None:  # chain rule through the row normalization
                P = theta[g.offset : g.offset + g.nparams].reshape(-1, g.rank)[g.fixed]
                norms = np.linalg.norm(P, axis=1)
                norms[norms == 0] = 1.0
                unit = P / norms[:, None]
                Gr = G.reshape(-1, g.rank)
                Gf = Gr[g.fixed]
                Gf = Gf - np.einsum("ij,ij->i", Gf, unit)[:, None] * unit
                Gr[g.fixed] = Gf * (np.sqrt(g.fixed_sq) / norms)[:, None]
            grad[g.offset : g.offset + g.nparams] = G.ravel()
        grad[self.f.nparams - self.f.free_pos.size :] = gx[self.f.free_pos]
        return val, grad


def _rows_times(F: sp.csr_matrix, R: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """``F[t] @ R[slot[t]]`` for each term ``t`` (R stacked ``(blocks, side, rank)``)."""
    out = np.empty((F.shape[0], R.shape[2]))
    for s in np.unique(slot):
        on = slot == s
        out[on] = F[on] @ R[s]
    return out


def _min_eigs(blocks: list[np.ndarray]) -> float:
    """The smallest eigenvalue over all stacked dual blocks."""
    lam = np.inf
    for S in blocks:
        if S.shape[1] > 200:  # only the smallest eigenvalue (LAPACK's MRRR)
            for Sk in S:
                v = scipy.linalg.eigh(
                    Sk,
                    eigvals_only=True,
                    subset_by_index=[0, 0],
                    driver="evr",
                    check_finite=False,
                )
                lam = min(lam, float(v[0]))
        else:
            lam = min(lam, float(np.linalg.eigvalsh(S).min()))
    return lam


@dataclass
class Run:
    """The outcome of :func:`augmented_lagrangian`: the best iterate (factors ``theta`` and
    multipliers) in the terms of the low-rank form; :func:`recover` maps it to the program."""

    form: LowRankForm
    lagrangian: _Lagrangian
    theta: np.ndarray
    lam_eq: np.ndarray
    lam_in: np.ndarray
    status: str
    iterations: int
    seconds: float
    history: list
    state: dict


def augmented_lagrangian(
    program: ConicProgram,
    opts: dict,
    tol: float,
    max_iters: int | None = None,
    time_limit: float | None = None,
    verbose: bool = False,
) -> Run:
    """Minimize the augmented Lagrangian of ``program``'s low-rank form over the factors, with
    the options ``opts`` (every key of :data:`DEFAULTS`), to tolerance ``tol``; ``max_iters``
    bounds the outer iterations (default ``opts["max_outer"]``), ``time_limit`` the seconds."""
    t0 = time.perf_counter()
    form_ = build_lowrank_form(program, opts)
    fun = _Lagrangian(form_)
    signature = constraint_signature(form_)
    if opts["warm_start"] is not None:
        # same constraints, another objective: start from the earlier factors and
        # multipliers (both objectives are normalized to unit norm, so the multipliers are
        # on the same scale) with the initial penalty: the grown penalty of a converged
        # solve makes the first subproblem of a new objective ill-conditioned
        warm = _warm_state(opts["warm_start"])
        if warm["signature"] != signature:
            raise ValueError(
                "warm_start comes from a program with different constraints (or another "
                "factor rank): only the objective may change between warm-started solves"
            )
        theta = np.array(warm["theta"], dtype=float)
        lam_eq = np.array(warm["lam_eq"], dtype=float)
        lam_in = np.array(warm["lam_in"], dtype=float)
        sigma = float(opts["sigma"])
    else:
        rng = np.random.default_rng(opts["seed"])
        theta = rng.standard_normal(form_.nparams)
        for g in form_.groups:
            theta[g.offset : g.offset + g.nparams] /= np.sqrt(g.size * g.rank)
        lam_eq = np.zeros(form_.b_eq.size)
        lam_in = np.zeros(form_.b_in.size)
        sigma = float(opts["sigma"])
    prev_inf = np.inf
    status = "iteration_limit"
    iterations = 0
    max_outer = int(max_iters or opts["max_outer"])
    history = []
    gtol = 1e-2
    best = (-np.inf, theta, lam_eq, lam_in)
    since_improved = 0
    deadline = None if time_limit is None else t0 + time_limit

    def stop_at_deadline(intermediate_result) -> None:
        # the time limit holds inside an inner L-BFGS run too (its last iterate is kept)
        if deadline is not None and time.perf_counter() > deadline:
            raise StopIteration

    for outer in range(max_outer):
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            status = "time_limit"
            break
        res = minimize(
            fun,
            theta,
            args=(lam_eq, lam_in, sigma),
            jac=True,
            method="L-BFGS-B",
            callback=stop_at_deadline,
            options={
                "maxiter": int(opts["inner_iters"]),
                "gtol": gtol,
                "ftol": 0.0,
                "maxcor": 20,
            },
        )
        theta = res.x
        iterations += int(res.nit)
        Rs_now = fun.split(theta)[0]
        x = fun.entries(theta, Rs_now)
        h, gi, teq, tin = fun.multipliers(x, lam_eq, lam_in, sigma, Rs_now)
        lam_eq, lam_in = teq, tin
        pinf = max(float(np.abs(h).max(initial=0.0)), float(np.maximum(-gi, 0.0).max(initial=0.0)))
        gx = fun.grad_x(lam_eq, lam_in)
        primal = float(form_.c @ x)
        Ss, lams = fun.dual_blocks(theta, gx, lam_eq)
        dual = float(lam_eq @ form_.b_eq + lam_in @ form_.b_in)
        dual += sum(float(lam @ g.fixed_sq) for g, lam in zip(form_.groups, lams) if lam.size)
        # a certified-looking dual value: eigenvalue deficit times (a guess of) the trace
        dinf = max(0.0, -_min_eigs(Ss))
        trace = 1.0 + sum(float(np.sum(R * R)) for R in fun.split(theta)[0])
        corrected = dual - dinf * 2.0 * trace
        if form_.free_pos.size:
            corrected -= float(np.abs(gx[form_.free_pos]) @ (1.0 + np.abs(x[form_.free_pos])))
        if corrected > best[0] + tol * (1.0 + abs(best[0])) or not np.isfinite(best[0]):
            since_improved = 0
        else:
            since_improved += 1
        if corrected > best[0]:
            best = (corrected, theta, lam_eq, lam_in)
        gap = (primal - best[0]) / (1.0 + abs(primal))
        history.append((outer, primal, dual, pinf, dinf, sigma, int(res.nit)))
        if verbose:
            print(
                f"lowrank {outer:3d}: primal {primal:+.8e} dual {dual:+.8e} "
                f"certified~ {best[0]:+.8e} pinf {pinf:.2e} dinf {dinf:.2e} "
                f"sigma {sigma:.1e} inner {res.nit} {time.perf_counter() - t0:.1f}s",
                flush=True,
            )
        if pinf < tol and gap < tol:
            status = "optimal"
            break
        if since_improved >= int(opts["stall_outer"]):
            status = "inaccurate"
            break
        if pinf > max(tol, 0.25 * prev_inf):
            sigma = min(sigma * float(opts["sigma_growth"]), float(opts["max_sigma"]))
        prev_inf = min(prev_inf, pinf)
        gtol = max(gtol * 0.3, tol * 1e-2)
    _, theta_b, lam_eq, lam_in = best
    seconds = time.perf_counter() - t0
    state = {
        "theta": theta_b,
        "lam_eq": lam_eq,
        "lam_in": lam_in,
        "sigma": sigma,
        "signature": signature,
    }
    return Run(form_, fun, theta_b, lam_eq, lam_in, status, iterations, seconds, history, state)


def recover(
    run: Run, program: ConicProgram
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """``(y, mu, z, X)`` of ``program`` from the factors and multipliers of ``run``: the
    moments from the factors, the multipliers and Gram matrices with the row and objective
    scaling undone (``X_k = S_k``, 1 x 1 blocks from their inequality rows)."""
    form_, fun, theta, lam_eq, lam_in = run.form, run.lagrangian, run.theta, run.lam_eq, run.lam_in
    x = fun.entries(theta)
    y = form_.y_map @ x
    gx = fun.grad_x(lam_eq, lam_in)
    scale = form_.obj_scale
    # back to the conic program's multipliers (undo the row and objective scaling)
    mu = np.zeros(program.A_eq.shape[0])
    keep = form_.eq_origin >= 0
    mu[form_.eq_origin[keep]] = (scale * lam_eq / form_.eq_scale)[keep]
    z = np.zeros(program.A_ineq.shape[0])
    lin = scale * lam_in / form_.in_scale
    from_rows = form_.in_origin >= 0
    z[form_.in_origin[from_rows]] = lin[from_rows]
    X: list[np.ndarray | None] = [None] * len(program.block_sizes)
    for k in np.flatnonzero(~from_rows):
        X[-1 - form_.in_origin[k]] = np.array([[lin[k]]])
    Ss, lams = fun.dual_blocks(theta, gx, lam_eq)
    for g, S, lam in zip(form_.groups, Ss, lams):
        for slot, k in enumerate(g.blocks):
            X[k] = scale * S[slot]
        if g.fixed is not None:
            conic = g.fixed_origin >= 0
            np.add.at(mu, g.fixed_origin[conic], scale * lam[conic] / g.fixed_coef[conic])
    for k, s in enumerate(program.block_sizes):
        if X[k] is None:  # a block with no used entry
            X[k] = np.zeros((s, s))
    return y, mu, z, X
