"""Reliability branching for the proof's branch-and-bound (Achterberg, Koch and Martin 2005).

Each binary keeps pseudocosts: the average loss of the node bound per unit of fractionality
when it was fixed down (to 0) or up (to 1). A binary with fewer than :data:`RELIABLE`
observations in either direction is *strong-branched*: both children's LPs are solved and
their bounds both scored and recorded. The binary with the best product score
``max(loss_down, eps) * max(loss_up, eps)`` is branched on.

Strong branching also bounds the node: its integral points lie in one of the two children, so
the larger child bound bounds the node, and a child at or below the proof's target needs no
node of its own. On trained [10, 20, 30, 2] networks the hardest direction programs closed
in 44 and 89 nodes where the most fractional binary took 349 and 135; on the L-inf
[16, 16, 16, 2] network of seed 4, in 619 nodes where 20,000 did not close it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

RELIABLE = 1
"""Observations per direction after which a binary's pseudocosts are trusted."""

STRONG_CANDIDATES = 8
"""At most this many unreliable binaries (best pseudocost score first) are strong-branched
per node."""

SCORE_EPS = 1e-6
"""Floor of each side's loss in the product score."""

FRACTIONAL = 1e-6
"""A binary whose LP value is within this of 0 or 1 is not a candidate."""


@dataclass
class ChildBound:
    """A child of a strong-branched node: its variable bounds after propagation, its LP
    solve (None when propagation emptied it) and its rigorous bound."""

    lb: np.ndarray
    ub: np.ndarray
    bound: float
    solve: Any = None


@dataclass
class Branching:
    """The decision at one node: the binary to branch on, the node's bound (tightened by
    strong branching) and, where strong branching solved them, the two children."""

    var: int
    bound: float
    children: tuple[ChildBound | None, ChildBound | None] = (None, None)
    fixings: list[tuple[int, float, float]] = field(default_factory=list)
    """``(var, value, bound)``: binaries whose other child is bounded at or below the target
    (by ``bound``), to be fixed at ``value`` in the node, which is then solved again."""


@dataclass
class Pseudocosts:
    """Per-binary pseudocosts of one proof (``ints``: the binaries' column indices)."""

    ints: np.ndarray
    total: np.ndarray = field(init=False)
    count: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.total = np.zeros((2, self.ints.size))
        self.count = np.zeros((2, self.ints.size))

    def unit_loss(self, side: int) -> np.ndarray:
        """Average loss per unit of fractionality; the mean over observed binaries (1 before
        any) where a binary has none."""
        seen = self.count[side] > 0
        mean = self.total[side][seen].sum() / self.count[side][seen].sum() if seen.any() else 1.0
        out = np.full(self.ints.size, mean)
        out[seen] = self.total[side][seen] / self.count[side][seen]
        return out

    def record(self, i: int, side: int, loss: float, frac: float) -> None:
        self.total[side, i] += max(loss, 0.0) / max(frac, FRACTIONAL)
        self.count[side, i] += 1

    def choose(
        self,
        lb: np.ndarray,
        ub: np.ndarray,
        x: np.ndarray,
        bound: float,
        target: float,
        child: Callable[[int, float], ChildBound],
        out_of_time: Callable[[], bool],
        limit: int | None = STRONG_CANDIDATES,
    ) -> Branching:
        """The branching decision at a node with LP point ``x`` and bound ``bound``; its
        ``bound`` at or below ``target`` means strong branching closed the node (``var`` is
        then -1), and ``fixings`` that it fixed binaries instead (``var`` is -1 too).
        ``child(var, value)`` fixes one binary and returns the child's propagated bounds and
        LP bound. At most ``limit`` binaries are strong-branched (None: every unreliable
        one, as at the root)."""
        ints = self.ints
        xi = x[ints]
        up_frac = np.clip(xi - np.floor(xi), 0.0, 1.0)
        free = lb[ints] < ub[ints]
        cand = np.flatnonzero(free & (np.minimum(up_frac, 1.0 - up_frac) > FRACTIONAL))
        if cand.size == 0:  # integral LP point with free binaries left
            cand = np.flatnonzero(free)
            up_frac = np.full(ints.size, 0.5)
        down_gain = self.unit_loss(0)[cand] * up_frac[cand]
        up_gain = self.unit_loss(1)[cand] * (1.0 - up_frac[cand])
        score = np.maximum(down_gain, SCORE_EPS) * np.maximum(up_gain, SCORE_EPS)
        order = np.argsort(-score)
        unreliable = [
            k for k in order if min(self.count[0, cand[k]], self.count[1, cand[k]]) < RELIABLE
        ][:limit]
        strong: dict[int, tuple[ChildBound, ChildBound]] = {}
        fixings: list[tuple[int, float, float]] = []
        node_bound = bound  # losses are measured from the LP bound, not from this
        for k in unreliable:
            if out_of_time():
                break
            i = int(cand[k])
            pair = (child(int(ints[i]), 0.0), child(int(ints[i]), 1.0))
            loss = []
            for side, ch in enumerate(pair):
                frac = up_frac[i] if side == 0 else 1.0 - up_frac[i]
                loss.append(max(bound - min(ch.bound, bound), SCORE_EPS))
                if ch.solve is not None:
                    self.record(i, side, loss[-1], frac)
            score[k] = loss[0] * loss[1]
            strong[k] = pair
            # the node's integral points lie in one of the children
            node_bound = min(node_bound, max(pair[0].bound, pair[1].bound))
            if node_bound <= target:
                return Branching(-1, node_bound)
            for side, ch in enumerate(pair):
                if ch.bound <= target:  # that side needs no node: fix the other one
                    fixings.append((int(ints[i]), float(1 - side), ch.bound))
        if fixings:
            return Branching(-1, node_bound, fixings=fixings)
        best = int(np.argmax(score))
        var = int(ints[cand[best]])
        return Branching(var, node_bound, strong.get(best, (None, None)))
