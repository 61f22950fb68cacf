"""Lower bounds on Lipschitz constants: gradient norms at points of the domain.

Every value returned is the dual norm of an actual gradient at a point of the box (the point
is in ``info["argmax"]``), hence a valid lower bound on the Lipschitz constant. The reported
value holds in exact arithmetic: at the returned point the activation pattern is proved by
outward-rounded interval evaluation (every pre-activation's enclosure excludes 0, so the
network is affine around the point), and the gradient's dual norm is bounded below from its
outward-rounded enclosure (:func:`certified_gradient_norm`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .network import ETA, ReLUNetwork, affine_enclosure, gamma, round_down
from .result import LipschitzBound
from .spec import Box, dual_norm, resolve

LOWER_METHODS = ("sampling", "search", "best")


def _backward(net: ReLUNetwork, X: np.ndarray, c: np.ndarray):
    """Pre-activations, ReLU masks, backward vectors ``b_k`` and gradients at a batch."""
    zs = net.preactivations(X)
    masks = [(z > 0).astype(float) for z in zs]
    b = np.broadcast_to(c @ net.weights[-1], (X.shape[0], net.weights[-1].shape[1]))
    backs = [None] * net.depth
    for k in range(net.depth - 1, -1, -1):
        backs[k] = b
        b = (b * masks[k]) @ net.weights[k]
    return zs, masks, backs, b


def _interior(net: ReLUNetwork, zs: list[np.ndarray]) -> np.ndarray:
    """Points where no pre-activation that varies with x is 0: there the chain-rule gradient
    is the network's derivative. A neuron whose weights reach only locally constant inputs
    (all zero in layer 1, only inactive neurons below) has a constant pre-activation there
    and may be 0 without harm (ReLU'(0) = 0 is then its true derivative)."""
    ok = np.ones(zs[0].shape[0], dtype=bool)
    varying_in = np.ones((zs[0].shape[0], net.input_dim), dtype=bool)
    for k, z in enumerate(zs):
        W = net.weights[k]
        varies = (varying_in.astype(float) @ (W != 0).T) > 0
        ok &= ~np.any((z == 0) & varies, axis=1)
        varying_in = varies & (z > 0)
    return ok


def certified_gradient_norm(net: ReLUNetwork, x: np.ndarray, c: np.ndarray, norm: str) -> float:
    """A lower bound, valid in exact arithmetic, on ``||grad (c . f)(x)||_*``, or ``nan`` when
    a pre-activation at ``x`` cannot be proved nonzero (the point may sit on a region's
    boundary, where the gradient is not the derivative of one affine piece)."""
    lo = hi = np.asarray(x, dtype=float).reshape(-1)
    masks = []
    varying = np.ones(lo.size, dtype=bool)  # inputs that vary with x around the point
    for W, b in zip(net.weights[:-1], net.biases[:-1]):
        zl, zu = affine_enclosure(W, b, lo, hi)
        varies = ((W != 0) & varying[None, :]).any(axis=1)
        if np.any((zl <= 0) & (zu >= 0) & varies):
            return float("nan")
        # a pre-activation that does not vary is locally constant: whatever its sign, it
        # passes no derivative (mask 0), and its value lies in its enclosure
        on = (zl > 0) & varies
        masks.append(on)
        lo, hi = np.maximum(zl, 0.0), np.maximum(zu, 0.0)
        varying = on
    W_out = net.weights[-1]
    glo, ghi = affine_enclosure(W_out.T, np.zeros(W_out.shape[1]), c, c)
    for k in range(net.depth - 1, -1, -1):
        glo, ghi = np.where(masks[k], glo, 0.0), np.where(masks[k], ghi, 0.0)
        W = net.weights[k]
        glo, ghi = affine_enclosure(W.T, np.zeros(W.shape[1]), glo, ghi)
    # the smallest magnitude in each component's enclosure
    low = np.where(glo > 0, glo, np.where(ghi < 0, -ghi, 0.0))
    n = low.size
    if norm == "1":  # dual: L-inf
        return float(low.max(initial=0.0))
    if norm == "inf":
        val = float(low.sum())
    else:
        val = float(np.sqrt(np.sum(low * low)))
    return float(round_down(max(val * (1 - 2 * gamma(n + 4)) - (n + 4) * ETA, 0.0)))


def _dual_direction(g: np.ndarray, norm: str) -> np.ndarray:
    """A unit vector ``t`` of the input norm with ``t . g = ||g||_*``."""
    if norm == "inf":
        return np.sign(g)
    if norm == "2":
        n = np.linalg.norm(g, axis=1, keepdims=True)
        return np.divide(g, n, out=np.zeros_like(g), where=n > 0)
    t = np.zeros_like(g)
    i = np.abs(g).argmax(axis=1)
    t[np.arange(g.shape[0]), i] = np.sign(g[np.arange(g.shape[0]), i])
    return t


def sample_gradients(
    net: ReLUNetwork,
    box: Box,
    c: np.ndarray,
    norm: str,
    n: int,
    rng: np.random.Generator,
    batch: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """Dual gradient norms at ``n`` uniform points of the box: ``(values, points)``."""
    vals, pts = [], []
    for start in range(0, n, batch):
        X = box.sample(min(batch, n - start), rng)
        zs, _, _, g = _backward(net, X, c)
        vals.append(np.where(_interior(net, zs), dual_norm(g, norm), -np.inf))
        pts.append(X)
    return np.concatenate(vals), np.vstack(pts)


def region_search(
    net: ReLUNetwork, box: Box, c: np.ndarray, norm: str, starts: np.ndarray, steps: int = 60
) -> tuple[float, np.ndarray]:
    """Hill-climbing over activation regions, from a batch of starting points.

    At each point, ``t`` is the dual direction of the gradient ``g`` and each neuron's effect
    on ``t . g`` if it switched is ``f_kj b_kj`` (``f`` the forward image of ``t`` through the
    current linear region, ``b`` the backward vector). The point takes a signed step, as
    large as a fraction of the box, that pushes the pre-activations of the neurons in the
    wrong state toward their boundaries (the closest ones first); the step shrinks
    geometrically. The best point ever visited is returned.
    """
    X = box.clip(np.asarray(starts, dtype=float))
    best_val, best_x = -np.inf, X[0]
    for step in range(steps):
        zs, masks, backs, g = _backward(net, X, np.asarray(c, float))
        vals = np.where(_interior(net, zs), dual_norm(g, norm), -np.inf)
        i = int(vals.argmax())
        if vals[i] > best_val:
            best_val, best_x = float(vals[i]), X[i].copy()
        t = _dual_direction(g, norm)
        f = t
        alphas = []
        for k in range(net.depth):
            f = f @ net.weights[k].T
            benefit = f * backs[k]
            wrong = (benefit > 0) != (masks[k] > 0)
            alphas.append(np.where(wrong, np.sign(benefit), 0.0) / (np.abs(zs[k]) + 1e-6))
            f = f * masks[k]
        # gradient in x of sum_k alpha_k . z_k through the current linear region
        gx = np.zeros((X.shape[0], net.weights[net.depth - 1].shape[0]))
        for k in range(net.depth - 1, -1, -1):
            gx = gx + alphas[k]
            gx = gx @ net.weights[k]
            if k > 0:
                gx = gx * masks[k - 1]
        eta = 0.25 * 0.85**step
        X = box.clip(X + eta * box.radius * np.sign(gx))
    return best_val, best_x


def lower_bound(
    net: ReLUNetwork,
    method: str = "best",
    norm: Any = "inf",
    domain: Any = "global",
    output: Any = None,
    samples: int = 50_000,
    starts: int = 64,
    steps: int = 60,
    seed: int | None = 0,
) -> LipschitzBound:
    """A lower bound on the Lipschitz constant of ``c . net`` on ``domain``.

    ``method="sampling"`` is the paper's LBS: the largest dual norm of the gradient at
    ``samples`` uniform random points (batched). ``"search"`` runs :func:`region_search` from
    the ``starts`` best sampled points (and ``samples`` is the size of that pool);
    ``"best"`` (default) returns the larger of the two. Seeded.
    """
    t0 = time.perf_counter()
    norm, box, c = resolve(net, norm, domain, output)
    if method not in LOWER_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {LOWER_METHODS}")
    if int(samples) < 1 or int(starts) < 1 or int(steps) < 0:
        raise ValueError("samples and starts must be >= 1 and steps >= 0")
    rng = np.random.default_rng(seed)
    vals, pts = sample_gradients(net, box, c, norm, int(samples), rng)
    i = int(vals.argmax())
    value, point, used = float(vals[i]), pts[i], "sampling"
    info: dict[str, Any] = {"sampling": value, "samples": int(samples)}
    if method in ("search", "best"):
        top = np.argsort(vals)[::-1][: int(starts)]
        sval, spoint = region_search(net, box, c, norm, pts[top], steps=int(steps))
        info["search"] = sval
        if method == "search" or sval > value:
            value, point, used = sval, spoint, "search"
    # the value reported is proved at its point; else the best proved sample
    proved = certified_gradient_norm(net, point, c, norm)
    if not np.isfinite(proved):
        proved = 0.0
        for k in np.argsort(vals)[::-1][:64]:
            v = certified_gradient_norm(net, pts[k], c, norm)
            if np.isfinite(v):
                proved, point, used = v, pts[k], "sampling"
                break
    info["float_value"] = value
    value = proved
    info["argmax"] = point
    info["found_by"] = used
    return LipschitzBound(
        value, "lower", method, seconds=time.perf_counter() - t0, norm=norm, info=info
    )
