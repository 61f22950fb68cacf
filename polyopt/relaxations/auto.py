"""``sparsity="auto"``: pick the relaxation by the problem's structure.

The candidates, from the tightest to the sparsest: the dense relaxation, correlative sparsity
(cliques of the variable graph), term sparsity (TSSOS) and both (CS-TSSOS). Each is sized by
its largest PSD block, computed without assembling the relaxation; a sparser candidate is
taken when its largest block is at most :data:`GAIN` times the one chosen so far. Small
problems (dense moment matrix of side at most :data:`SMALL_DENSE`) stay dense.
"""

from __future__ import annotations

from math import comb

from ..model import Problem
from ..structure import build_structure
from .assemble import Relaxation, check_order

SMALL_DENSE = 60
"""Dense moment matrices up to this side are solved as they are (well under a second)."""
GAIN = 0.8
"""A sparser relaxation must shrink the largest block to this fraction to be chosen."""
TERM_MAX_BASIS = 50_000
"""Term sparsity without cliques is sized only when the dense basis has at most this many
monomials (its graphs are built over that basis)."""

CANDIDATES = ("dense", "correlative", "term", "correlative+term")


def dense_and_correlative_sides(
    problem: Problem, order: int | None = None, chordal: str = "min_degree"
) -> tuple[int, int | None]:
    """Moment-matrix sides of the dense relaxation and of the largest correlative clique
    (None for small problems, :data:`SMALL_DENSE` or less, which stay dense)."""
    d = check_order(problem, order)
    dense = comb(problem.nvars + d, d)
    if dense <= SMALL_DENSE:
        return dense, None
    structure = build_structure(problem, None, chordal)
    return dense, comb(max(structure.sizes) + d, d)


def block_sizes(
    problem: Problem, order: int | None = None, chordal: str = "min_degree", **ts_options
) -> dict[str, int]:
    """Largest PSD block side of each candidate relaxation (not assembled)."""
    from .term import plan_term

    d = check_order(problem, order)
    dense, correlative = dense_and_correlative_sides(problem, d, chordal)
    sizes = {"dense": dense}
    if correlative is None:
        return sizes
    sizes["correlative"] = correlative
    if sizes["dense"] <= TERM_MAX_BASIS:
        sizes["term"] = plan_term(problem, d, **ts_options).largest_block
    sizes["correlative+term"] = plan_term(
        problem, d, correlative=True, chordal=chordal, **ts_options
    ).largest_block
    return sizes


def choose_sparsity(sizes: dict[str, int]) -> str:
    """The candidate :func:`block_sizes` points to (see the module docstring)."""
    chosen = "dense"
    for kind in CANDIDATES[1:]:
        if kind in sizes and sizes[kind] <= GAIN * sizes[chosen]:
            chosen = kind
    return chosen


def auto_relaxation(problem: Problem, order: int | None, options: dict) -> Relaxation:
    """Build the relaxation :func:`choose_sparsity` picks; ``info["auto"]`` holds the sizes."""
    from .dense import dense
    from .sparse import correlative
    from .term import check_ts_options, term_sparse

    allowed = {"ts_step", "ts_chordal", "chordal", "scale"}
    bad = set(options) - allowed
    if bad:
        raise ValueError(f"unknown option(s) {sorted(bad)} for sparsity='auto'")
    scale = options.get("scale", True)
    chordal = options.get("chordal", "min_degree")
    ts = {k: options[k] for k in ("ts_step", "ts_chordal") if k in options}
    check_ts_options(**ts)
    sizes = block_sizes(problem, order, chordal, **ts)
    kind = choose_sparsity(sizes)
    if kind == "dense":
        relax = dense(problem, order, scale=scale)
    elif kind == "correlative":
        relax = correlative(problem, order, chordal=chordal, scale=scale)
    else:
        both = kind == "correlative+term"
        cs = {"chordal": chordal} if both else {}
        relax = term_sparse(problem, order, correlative=both, scale=scale, **ts, **cs)
    relax.info["auto"] = {"chosen": kind, "largest_block": sizes}
    return relax
