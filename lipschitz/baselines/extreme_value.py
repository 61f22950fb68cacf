"""The CLEVER score (Weng et al. 2018): the location of a reverse Weibull
distribution fitted to batch maxima of sampled gradient dual norms. An *estimate*, not a
bound.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from ..network import ReLUNetwork
from ..result import LipschitzBound
from ..spec import Box, dual_norm
from .closed_form import fastlip_bound
from .common import make_bound, positive_int, setup

CLEVER_MEMORY = 100_000_000
"""Bytes of activations per chunk of CLEVER's gradient evaluations."""
CLEVER_C_INIT = (0.1, 1.0, 5.0, 10.0, 20.0, 50.0, 100.0)
"""Initial Weibull shapes of the CLEVER repository; the fit with the best KS p-value wins."""
CLEVER_MIN_PVALUE = 0.001
"""Below this KS p-value the CLEVER repository rejects the fit and uses the sampled maximum."""


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
    s = setup(net, norm, domain, output)
    batches = positive_int(batches, "batches")
    batch_size = positive_int(batch_size, "batch_size")
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
    return make_bound(value, "clever", s, t0, info, kind="estimate", status=status, sound=False)
