"""Interval bounds of a ReLU network on a box: which neurons they prove stable, and the
magnitudes and rounding errors of the pre-activations.

* :func:`stability` -- the interval bounds (:meth:`ReLUNetwork.interval_bounds`, rounded
  outward) and the masks of the neurons they prove active / inactive, with a margin
  (:data:`STABILITY_MARGIN`) against cancellation; :class:`NeuronCounts` counts them;
* :func:`forward_error` -- per hidden layer, a bound on the error of the pre-activations'
  affine expressions folded through stable-active neurons, and their magnitudes;
* :func:`affine_interval` -- the outward-rounded range of an affine form over a box of
  variables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .network import ETA, ReLUNetwork, dot_error, gamma, round_down, round_up
from .spec import Box

STABILITY_MARGIN = 1e-9
"""Relative margin: a neuron is stable only if its interval bound clears 0 by this much."""


@dataclass
class NeuronCounts:
    """Stable and unstable neurons per hidden layer on the domain."""

    active: list[int]
    inactive: list[int]
    unstable: list[int]

    @classmethod
    def from_masks(cls, active: list[np.ndarray], inactive: list[np.ndarray]) -> NeuronCounts:
        return cls(
            [int(a.sum()) for a in active],
            [int(i.sum()) for i in inactive],
            [int((~(a | i)).sum()) for a, i in zip(active, inactive)],
        )

    def as_dict(self) -> dict[str, list[int]]:
        return {"active": self.active, "inactive": self.inactive, "unstable": self.unstable}

    @property
    def total_unstable(self) -> int:
        return int(sum(self.unstable))

    @property
    def total_stable(self) -> int:
        return int(sum(self.active) + sum(self.inactive))


def stability(net: ReLUNetwork, box: Box) -> tuple[list, list[np.ndarray], list[np.ndarray]]:
    """Interval bounds and the active / inactive masks per hidden layer."""
    bounds = net.interval_bounds(box)
    active, inactive = [], []
    # the margin scales with the sum of the magnitudes of the terms (not with the result),
    # so that cancellation in floating point cannot make an unstable neuron look stable
    mag = np.maximum(np.abs(box.lower), np.abs(box.upper))
    for (lo, hi), W, b in zip(bounds, net.weights, net.biases):
        terms = np.abs(W) @ mag + np.abs(b)
        margin = STABILITY_MARGIN * (1.0 + terms)
        active.append(lo > margin)
        inactive.append(hi < -margin)
        mag = np.maximum(np.maximum(lo, 0.0), np.maximum(hi, 0.0))
    return bounds, active, inactive


def forward_error(
    net: ReLUNetwork,
    box: Box,
    active: list[np.ndarray],
    inactive: list[np.ndarray],
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per hidden layer: a bound on the error of the pre-activations' affine expressions folded
    through stable-active neurons (zero where nothing was folded), and the magnitudes of those
    expressions over the box (sum of the magnitudes of their terms).

    The expression of ``z_k`` in the variables is ``W_k`` applied to the previous layer's
    expressions; folding an active neuron substitutes its own expression, whose coefficients
    are then sums of products. Evaluated at the network's point (``x`` and the activations of
    unstable neurons computed from the folded expressions), the folded ``z_k`` differs from
    the exact pre-activation by at most the returned bound.
    """
    mag = np.maximum(np.abs(box.lower), np.abs(box.upper))
    err = np.zeros_like(mag)
    folded = np.zeros(mag.shape, bool)
    errs, mags = [], []
    with np.errstate(over="ignore", invalid="ignore"):
        for k, (W, b) in enumerate(zip(net.weights[:-1], net.biases[:-1])):
            A = np.abs(W)
            z_mag = round_up((A @ mag + np.abs(b)) * (1.0 + 2.0 * gamma(W.shape[1] + 2)))
            z_err = A @ err
            if np.any(folded):
                fold = A @ np.where(folded, mag, 0.0)
                z_err = (
                    z_err
                    + dot_error(fold, W.shape[1] + 1)
                    + (W.shape[1] + 2) * ETA * (mag.size + 1)
                )
            z_err = round_up(z_err * (1.0 + 2.0 * gamma(W.shape[1] + 2)))
            errs.append(z_err)
            mags.append(z_mag)
            keep = ~inactive[k]
            mag = np.where(keep, z_mag, 0.0)
            err = np.where(keep, z_err, 0.0)
            folded = active[k].copy()
    return errs, mags


def affine_interval(a: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[float, float]:
    """Bounds of the affine form ``a`` (its float coefficients taken as exact) over the variable
    box, rounded outward."""
    nz = np.flatnonzero(a[:-1])
    c, lo, hi = a[nz], lo[nz], hi[nz]
    terms_lo = np.where(c > 0, c * lo, c * hi)
    terms_hi = np.where(c > 0, c * hi, c * lo)
    mag = np.abs(terms_lo).sum() + np.abs(terms_hi).sum() + abs(a[-1])
    err = float(dot_error(mag, nz.size + 1))
    low = round_down(a[-1] + terms_lo.sum() - err)
    high = round_up(a[-1] + terms_hi.sum() + err)
    return float(low), float(high)
