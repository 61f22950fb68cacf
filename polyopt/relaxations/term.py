"""Term sparsity: the TSSOS hierarchy and its combination with correlative sparsity (CS-TSSOS).

Specification: Wang, Magron, Lasserre, "TSSOS: a moment-SOS hierarchy that exploits term
sparsity", SIAM J. Optim. 31 (2021), section 3; Wang, Magron, Lasserre, Mai, "CS-TSSOS:
correlative and term sparsity for large-scale polynomial optimization", ACM TOMS 48 (2022),
section 3.

Each moment or localizing matrix ``M_B(g_j y)`` (basis ``B``, one per correlative clique and
constraint) gets a graph on ``B``: ``{b, c}`` is an edge when some monomial of
``b + c + supp(g_j)`` lies in the current support ``S``. The matrix is replaced by its principal
blocks on the maximal cliques of a chordal extension of that graph. TS step 1 starts from
``S = supp(f) + supp(g_j) + supp(h_i) + {2 b : b in the moment basis}`` (the union); step
``k + 1`` takes for ``S`` every monomial the blocks of step ``k`` use. With
``ts_chordal="block"`` (the maximal chordal extension: each connected component made
complete) the bounds increase with the step and reach the (correlative) dense bound once the
graphs stop growing; ``"min_degree"`` / ``"min_fill"`` give smaller blocks (every block of step
``k`` still lies inside a block of step ``k + 1``). An equality ``h = 0`` keeps the rows
``L(h m) = 0`` for the multipliers ``m`` (degree ``<= 2d - deg h``) for which ``m + supp(h)``
meets ``S``.

Every block is a principal submatrix of the dense (or correlative) relaxation's matrices and
every row one of its rows, so the bound is never above theirs (for minimization).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import product

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..model import Problem
from ..monomials import basis_codes, code_degrees, code_products, lower_triangle, pack
from ..structure import build_structure, elimination_cliques
from ..time_limit import check_time
from .assemble import EqualityFamily, LocalizingBlock, Relaxation, Term, check_order, finish
from .sparse import _Coded

TS_CHORDAL = ("block", "min_degree", "min_fill")

CHUNK_ROWS = 200_000
"""Support monomials decomposed at once (bounds the temporary arrays to ~100 MB at width 8)."""


class CodeSet:
    """A set of monomial codes with a vectorized membership / position lookup."""

    def __init__(self, codes: np.ndarray, nvars: int) -> None:
        keys = pack(codes, top=nvars)
        self.keys, first = np.unique(keys, return_index=True)
        self.codes = codes[first]
        self.nvars = nvars

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def find(self, codes: np.ndarray) -> np.ndarray:
        """Position of each row of ``codes`` in the set, -1 where absent."""
        if codes.shape[0] == 0 or len(self) == 0:
            return np.full(codes.shape[0], -1, dtype=np.int64)
        q = pack(codes, top=self.nvars)
        pos = np.searchsorted(self.keys, q)
        pos = np.minimum(pos, len(self) - 1)
        return np.where(self.keys[pos] == q, pos, -1)


def _assignments(k: int, parts: int) -> np.ndarray:
    """All maps of ``k`` slots to ``parts`` labels, one per row."""
    return np.array(list(product(range(parts), repeat=k)), dtype=np.int64).reshape(parts**k, k)


def _select(codes: np.ndarray, mask: np.ndarray, nvars: int) -> np.ndarray:
    """Rows of ``codes`` with the slots outside ``mask`` set to the sentinel, sorted."""
    out = np.where(mask, codes, nvars)
    out.sort(axis=1)
    return out


def _splits(support: np.ndarray, parts: int, nvars: int):
    """Every way to deal the slots of each support monomial into ``parts`` labelled parts:
    yields ``(rows, labels)`` chunks, one row per (monomial, split), ``labels`` the part of
    each slot (slots past the degree hold the sentinel and are labelled 0, harmlessly)."""
    width = support.shape[1]
    degs = code_degrees(support, nvars)
    for k in np.unique(degs):
        rows = support[degs == k]
        labels = _assignments(int(k), parts)
        labels = np.concatenate([labels, np.zeros((labels.shape[0], width - k), np.int64)], 1)
        per = max(1, CHUNK_ROWS // max(1, labels.shape[0]))
        for start in range(0, rows.shape[0], per):
            check_time()
            block = rows[start : start + per]
            yield (
                np.repeat(block, labels.shape[0], axis=0),
                np.tile(labels, (block.shape[0], 1)),
            )


def split_support(
    support: np.ndarray, nodes: CodeSet, g: CodeSet | None, node_degree: int, nvars: int
) -> np.ndarray:
    """Edges ``(i, j)``, ``i <= j``, of nodes with ``node_i + node_j + t`` in ``support`` for a
    monomial ``t`` of ``g`` (``t = 1`` when ``g`` is None).

    Each support monomial of degree ``k`` is split over its ``k`` slots into the two nodes and
    ``t`` in every way (``2^k`` or ``3^k`` splits), so the cost grows with the support, not
    with the square of the basis."""
    found: list[np.ndarray] = []
    for s, lab in _splits(support, 2 if g is None else 3, nvars):
        a = _select(s, lab == 0, nvars)
        b = _select(s, lab == 1, nvars)
        ok = (code_degrees(a, nvars) <= node_degree) & (code_degrees(b, nvars) <= node_degree)
        if g is not None:
            ok_idx = np.flatnonzero(ok)
            ok[ok_idx[g.find(_select(s[ok_idx], lab[ok_idx] == 2, nvars)) < 0]] = False
        ia, ib = nodes.find(a[ok]), nodes.find(b[ok])
        hit = (ia >= 0) & (ib >= 0)
        ia, ib = ia[hit], ib[hit]
        found.append(np.stack([np.minimum(ia, ib), np.maximum(ia, ib)], axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    edges = np.concatenate(found)
    return np.unique(edges, axis=0) if edges.size else edges


def multipliers_of(support: np.ndarray, h: CodeSet, max_degree: int, nvars: int) -> np.ndarray:
    """Monomials ``m`` of degree ``<= max_degree`` with ``m + t`` in ``support`` for a monomial
    ``t`` of ``h`` (the equality rows ``L(h m) = 0`` that touch the support)."""
    out: list[np.ndarray] = []
    for s, lab in _splits(support, 2, nvars):
        m = _select(s, lab == 0, nvars)
        ok = (code_degrees(m, nvars) <= max_degree) & (h.find(_select(s, lab == 1, nvars)) >= 0)
        out.append(m[ok])
    if not out:
        return np.zeros((0, support.shape[1]), dtype=np.int64)
    return CodeSet(np.concatenate(out), nvars).codes


def chordal_blocks(n_nodes: int, edges: np.ndarray, chordal: str) -> list[np.ndarray]:
    """Node sets of the maximal cliques of a chordal extension of the graph."""
    if chordal == "block":
        graph = sp.coo_matrix(
            (np.ones(edges.shape[0]), (edges[:, 0], edges[:, 1])), shape=(n_nodes, n_nodes)
        )
        _, label = connected_components(graph, directed=False)
        order = np.argsort(label, kind="stable")
        cuts = np.flatnonzero(np.diff(label[order])) + 1
        return [np.sort(c) for c in np.split(order, cuts)]
    G = nx.Graph()
    G.add_nodes_from(range(n_nodes))
    G.add_edges_from(map(tuple, edges[edges[:, 0] != edges[:, 1]].tolist()))
    return [np.array(sorted(c)) for c in elimination_cliques(G, chordal)]


def block_support(basis: np.ndarray, blocks: Sequence[np.ndarray], width: int, nvars: int):
    """Every product ``b_i + b_j`` of two nodes in one block (diagonal included)."""
    out = []
    for blk in blocks:
        i, j = lower_triangle(len(blk))
        out.append(code_products(basis[blk[i]], basis[blk[j]], width, nvars))
    return np.concatenate(out) if out else np.zeros((0, width), dtype=np.int64)


def plus_terms(codes: np.ndarray, g: Term | None, width: int, nvars: int) -> np.ndarray:
    """``codes + supp(g)`` (all sums)."""
    if g is None or codes.shape[0] == 0:
        return codes
    t = g.codes.shape[0]
    return code_products(
        np.repeat(codes, t, axis=0), np.tile(g.codes, (codes.shape[0], 1)), width, nvars
    )


class _Matrix:
    """One moment or localizing matrix of the relaxation: its basis, graph blocks and name."""

    def __init__(
        self, name: str, basis: np.ndarray, g: Term | None, degree: int, clique: int = 0
    ) -> None:
        self.name, self.basis, self.g, self.degree = name, basis, g, degree
        self.clique = clique
        self.blocks: list[np.ndarray] = []


class _SupportByVariable:
    """Support monomials sorted by their first variable, to pick those inside a clique
    without scanning the whole support once per clique."""

    def __init__(self, support: np.ndarray, nvars: int) -> None:
        order = np.argsort(support[:, 0], kind="stable")
        self.rows = support[order]
        self.starts = np.searchsorted(self.rows[:, 0], np.arange(nvars + 2))
        self.nvars = nvars

    def inside(self, clique: np.ndarray) -> np.ndarray:
        """The monomials whose variables all lie in ``clique`` (the constant included)."""
        firsts = np.append(np.asarray(clique, dtype=np.int64), self.nvars)
        parts = [self.rows[self.starts[v] : self.starts[v + 1]] for v in firsts]
        cand = np.concatenate(parts) if parts else self.rows[:0]
        return cand[np.isin(cand, firsts).all(axis=1)]


def check_ts_options(ts_step: int = 1, ts_chordal: str = "block") -> None:
    """Raise ValueError naming a bad ``ts_step`` or ``ts_chordal``."""
    if not isinstance(ts_step, int | np.integer) or isinstance(ts_step, bool) or ts_step < 1:
        raise ValueError(f"ts_step must be an integer >= 1, got {ts_step!r}")
    if ts_chordal not in TS_CHORDAL:
        raise ValueError(f"unknown ts_chordal {ts_chordal!r}; choose one of {TS_CHORDAL}")


@dataclass
class TermPlan:
    """The blocks of a term-sparse relaxation before assembly."""

    sc: _Coded
    order: int
    matrices: list[_Matrix]
    equalities: list[tuple[str, Term, np.ndarray]]  # (name, h, multipliers)
    info: dict

    @property
    def largest_block(self) -> int:
        return max((len(b) for m in self.matrices for b in m.blocks), default=0)


def plan_term(
    problem: Problem,
    order: int | None = None,
    ts_step: int = 1,
    ts_chordal: str = "block",
    correlative: bool = False,
    cliques: Sequence[Iterable[int | str]] | None = None,
    chordal: str = "min_degree",
    scale: bool = True,
) -> TermPlan:
    """The graphs and blocks of :func:`term_sparse` (same arguments), not yet assembled."""
    d = check_order(problem, order)
    check_ts_options(ts_step, ts_chordal)
    if not correlative and cliques is not None:
        raise ValueError("cliques= needs sparsity='correlative+term'")
    width = 2 * d
    sc = _Coded(problem, width, scale)
    n = sc.nvars
    info: dict = {}
    if correlative:
        structure = build_structure(problem, cliques, chordal)
        groups = [np.array(c, dtype=np.int64) for c in structure.cliques]
        assignment = list(structure.assignment)
        info.update(cliques=structure.cliques, assignment=structure.assignment)
    else:
        groups = [np.arange(n)]
        assignment = [0] * len(problem.constraints)

    matrices: list[_Matrix] = []
    eq_specs: list[tuple[str, Term, int]] = []
    for k, clique in enumerate(groups):
        tag = f" clique {k}" if correlative else ""
        basis = basis_codes(clique, d, width, n)
        matrices.append(_Matrix(f"moment matrix{tag}", basis, None, d, k))
    for i, (kind, g) in enumerate(zip(sc.kinds, sc.polys)):
        k = assignment[i]
        tag = f" clique {k}" if correlative else ""
        if kind == "ineq":
            dg = d - (g.degree + 1) // 2
            basis = basis_codes(groups[k], dg, width, n)
            matrices.append(_Matrix(f"localizing c{i}{tag}", basis, g, dg, k))
        else:
            eq_specs.append((f"equality c{i}{tag}", g, k))

    # TS step 0: supp(f), supp(g_j), supp(h_i) and the diagonals {2b} of the moment matrices
    seeds = [sc.objective.codes] + [g.codes for g in sc.polys]
    seeds += [code_products(m.basis, m.basis, width, n) for m in matrices if m.g is None]
    support = CodeSet(np.concatenate(seeds), n).codes
    multipliers: list[np.ndarray] = []
    history = []
    for _step in range(ts_step):
        check_time()
        grown = [support]
        by_var = _SupportByVariable(support, n) if correlative else None
        local: dict[int, np.ndarray] = {}
        for m in matrices:
            if by_var is None:
                near = support
            else:  # a clique's blocks only see the monomials of its own variables
                if m.clique not in local:
                    local[m.clique] = by_var.inside(groups[m.clique])
                near = local[m.clique]
            nodes = CodeSet(m.basis, n)
            gset = None if m.g is None else CodeSet(m.g.codes, n)
            edges = split_support(near, nodes, gset, m.degree, n)
            m.basis = nodes.codes  # CodeSet order: node i of the edges is row i
            m.blocks = chordal_blocks(len(nodes), edges, ts_chordal)
            grown.append(plus_terms(block_support(m.basis, m.blocks, width, n), m.g, width, n))
        multipliers = []
        for _name, h, k in eq_specs:
            if by_var is not None and k not in local:
                local[k] = by_var.inside(groups[k])
            near = support if by_var is None else local[k]
            mult = multipliers_of(near, CodeSet(h.codes, n), width - h.degree, n)
            mult = mult[np.isin(mult, np.append(groups[k], n)).all(axis=1)]
            multipliers.append(mult)
            grown.append(plus_terms(mult, h, width, n))
        new_support = CodeSet(np.concatenate(grown), n).codes
        history.append(max((len(b) for m in matrices for b in m.blocks), default=0))
        stable = new_support.shape[0] == support.shape[0]
        support = new_support
        if stable:
            break  # the graphs no longer grow: later steps are this one
    info.update(
        ts_step=ts_step,
        ts_chordal=ts_chordal,
        ts_steps_taken=len(history),
        largest_block_by_step=history,
        block_sizes=sorted((len(b) for m in matrices for b in m.blocks), reverse=True),
    )
    equalities = [(name, h, mult) for (name, h, _k), mult in zip(eq_specs, multipliers)]
    return TermPlan(sc, d, matrices, equalities, info)


def term_sparse(
    problem: Problem,
    order: int | None = None,
    ts_step: int = 1,
    ts_chordal: str = "block",
    correlative: bool = False,
    cliques: Sequence[Iterable[int | str]] | None = None,
    chordal: str = "min_degree",
    scale: bool = True,
) -> Relaxation:
    """The TSSOS relaxation of order ``d`` at TS step ``ts_step`` (CS-TSSOS with
    ``correlative=True``: term sparsity inside the cliques of the correlative pattern).

    ``ts_chordal``: ``"block"`` (maximal chordal extension: connected components, monotone
    bounds) or ``"min_degree"`` / ``"min_fill"`` (an approximately smallest chordal extension).
    ``cliques`` / ``chordal`` configure the correlative part as in
    :func:`~polyopt.relaxations.sparse.correlative`.
    """
    plan = plan_term(problem, order, ts_step, ts_chordal, correlative, cliques, chordal, scale)
    sc, width, n = plan.sc, 2 * plan.order, plan.sc.nvars
    blocks: list[LocalizingBlock] = []
    scalars: list[tuple[str, Term]] = []
    for m in plan.matrices:
        for b, nodes in enumerate(m.blocks):
            name = f"{m.name} block {b}" if len(m.blocks) > 1 else m.name
            if len(nodes) == 1:  # a 1 x 1 block is the scalar row L(g b^2) >= 0
                sq = code_products(m.basis[nodes], m.basis[nodes], width, n)
                g = m.g if m.g is not None else Term(np.full((1, width), n), np.ones(1), n)
                scalars.append(
                    (f"{name} (1 x 1)", Term(plus_terms(sq, g, width, n), g.coeffs.copy(), n))
                )
            else:
                blocks.append(LocalizingBlock(name, m.basis[nodes], m.g))
    eqs = [EqualityFamily(name, mult, h) for name, h, mult in plan.equalities if mult.shape[0]]
    kind = "correlative+term" if correlative else "term"
    return finish(sc, plan.order, kind, problem.sense, blocks, scalars, eqs, plan.info)


def resolve_term(problem: Problem, order, sparsity: str, options: dict) -> Relaxation:
    """Dispatch ``sparsity="term" | "correlative+term"`` with their options."""
    allowed = {"ts_step", "ts_chordal", "scale"}
    if sparsity == "correlative+term":
        allowed |= {"cliques", "chordal"}
    bad = set(options) - allowed
    if bad:
        raise ValueError(f"unknown option(s) {sorted(bad)} for sparsity={sparsity!r}")
    return term_sparse(problem, order, correlative=sparsity == "correlative+term", **options)
