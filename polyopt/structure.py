"""Correlative sparsity: the variable graph, chordal extension, cliques, clique tree and RIP.

Variables are referred to by their position in ``problem.variables``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

from .model import Problem

CHORDAL_METHODS = ("min_degree", "min_fill", "maximal")


def supports(problem: Problem) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Variable positions of every objective term, and of every constraint (whole support)."""
    vars_ = problem.variables
    n = len(vars_)
    terms = [np.unique(row[row != n]) for row in problem.objective.codes_in(vars_)]
    cons = [
        np.sort(np.array([pos for pos in _positions(c.poly, vars_)], dtype=np.int64))
        for c in problem.constraints
    ]
    return terms, cons


def _positions(poly, variables) -> list[int]:
    index = {v.id: k for k, v in enumerate(variables)}
    return [index[v.id] for v in poly.variables]


def csp_graph(
    problem: Problem, include: Sequence[int] | None = None, objective: bool = True
) -> nx.Graph:
    """The correlative sparsity graph: variables adjacent when they share an objective term or
    a constraint (only the constraints listed in ``include``, all by default)."""
    terms, cons = supports(problem)
    G = nx.Graph()
    G.add_nodes_from(range(problem.nvars))
    groups: list[np.ndarray] = list(terms) if objective else []
    idx = range(len(cons)) if include is None else include
    groups += [cons[k] for k in idx]
    for g in groups:
        g = list(g)
        G.add_edges_from((g[a], g[b]) for a in range(len(g)) for b in range(a + 1, len(g)))
    return G


def elimination_cliques(G: nx.Graph, method: str = "min_degree") -> list[frozenset[int]]:
    """Maximal cliques of a chordal extension of ``G`` by a greedy elimination ordering.

    ``method``: ``"min_degree"`` (eliminate a vertex of least current degree), ``"min_fill"``
    (least fill-in) or ``"maximal"`` (``G`` must already be chordal: its maximal cliques).
    """
    if method == "maximal":
        if not nx.is_chordal(G):
            raise ValueError("the graph is not chordal: use method='min_degree' or 'min_fill'")
        return sorted((frozenset(c) for c in nx.chordal_graph_cliques(G)), key=min)
    if method not in CHORDAL_METHODS:
        raise ValueError(f"unknown chordal extension {method!r}; choose one of {CHORDAL_METHODS}")
    adj = {v: set(G.neighbors(v)) for v in G.nodes}
    alive = set(adj)

    def score(v: int) -> int:
        if method == "min_degree":
            return len(adj[v])
        nb = list(adj[v])
        missing = 0
        for a in range(len(nb)):
            na = adj[nb[a]]
            missing += sum(1 for b in range(a + 1, len(nb)) if nb[b] not in na)
        return missing

    heap = [(score(v), v) for v in adj]
    heapq.heapify(heap)
    current = {v: s for s, v in heap}
    cliques: list[frozenset[int]] = []
    while heap:
        s, v = heapq.heappop(heap)
        if v not in alive or current[v] != s:
            continue
        nb = adj[v]
        cliques.append(frozenset(nb | {v}))
        for a in nb:
            adj[a] |= nb - {a}
            adj[a].discard(v)
        alive.discard(v)
        del adj[v]
        touched = set(nb)
        if method == "min_fill":
            for a in nb:
                touched |= adj[a]
        for a in touched:
            if a in alive:
                current[a] = score(a)
                heapq.heappush(heap, (current[a], a))
    return _maximal_only(cliques)


def _maximal_only(cliques: Iterable[frozenset[int]]) -> list[frozenset[int]]:
    """Drop cliques contained in another one (sorted by size, then first element)."""
    ordered = sorted(set(cliques), key=len, reverse=True)
    where: dict[int, list[int]] = {}
    keep: list[frozenset[int]] = []
    for c in ordered:
        first = next(iter(c))
        candidates = where.get(first, [])
        if any(c <= keep[k] for k in candidates):
            continue
        for v in c:
            where.setdefault(v, []).append(len(keep))
        keep.append(c)
    return sorted(keep, key=lambda c: (min(c), len(c)))


@dataclass
class CliqueStructure:
    """Cliques in an order with the running intersection property, with their tree."""

    cliques: list[tuple[int, ...]]
    parents: list[int]  # parent index in the clique tree (-1 for roots)
    assignment: list[int]  # constraint index -> clique index
    nvars: int

    @property
    def sizes(self) -> list[int]:
        return [len(c) for c in self.cliques]


def clique_tree(cliques: Sequence[frozenset[int]]) -> tuple[list[int], list[int]]:
    """A maximum-weight spanning forest of the clique intersection graph.

    Returns ``(order, parents)``: a visiting order (each clique after its parent) and the parent
    of each clique in that order. For the maximal cliques of a chordal graph this ordering
    has the running intersection property.
    """
    k = len(cliques)
    T = nx.Graph()
    T.add_nodes_from(range(k))
    holders: dict[int, list[int]] = {}
    for i, c in enumerate(cliques):
        for v in c:
            holders.setdefault(v, []).append(i)
    seen: set[tuple[int, int]] = set()
    for hs in holders.values():
        for a in range(len(hs)):
            for b in range(a + 1, len(hs)):
                e = (hs[a], hs[b])
                if e not in seen:
                    seen.add(e)
                    T.add_edge(*e, weight=len(cliques[e[0]] & cliques[e[1]]))
    forest = nx.maximum_spanning_tree(T, weight="weight")
    order: list[int] = []
    parent_of: dict[int, int] = {}
    for comp in sorted(nx.connected_components(forest), key=min):
        root = min(comp)
        parent_of[root] = -1
        for a, b in nx.bfs_edges(forest, root):
            parent_of[b] = a
        order.extend([root] + [b for _, b in nx.bfs_edges(forest, root)])
    return order, [parent_of[i] for i in order]


def has_rip(cliques: Sequence[Iterable[int]]) -> bool:
    """Running intersection property of the given order: every clique meets the union of
    the earlier ones inside a single earlier clique."""
    seen: set[int] = set()
    earlier: list[set[int]] = []
    for c in cliques:
        c = set(c)
        inter = c & seen
        if earlier and inter and not any(inter <= e for e in earlier):
            return False
        earlier.append(c)
        seen |= c
    return True


def _fits(support: np.ndarray, cliques: Sequence[frozenset[int]], holders: dict) -> int:
    """Index of the smallest clique containing ``support`` (-1 if none)."""
    if support.size == 0:
        return 0 if cliques else -1
    best, size = -1, None
    for k in holders.get(int(support[0]), []):
        if all(int(v) in cliques[k] for v in support) and (size is None or len(cliques[k]) < size):
            best, size = k, len(cliques[k])
    return best


def build_structure(
    problem: Problem,
    cliques: Sequence[Iterable[int | str]] | None = None,
    method: str = "min_degree",
    constraints: Sequence[int] | None = None,
    objective_degree_over: int = 0,
) -> CliqueStructure:
    """Cliques with RIP covering the problem, and the assignment of constraints to them.

    Parameters
    ----------
    cliques
        Optional caller cliques (variable positions or names). They are validated and, when
        they do not have the running intersection property, completed by a chordal extension
        of their union graph (each given clique stays inside one result clique).
    method
        Chordal extension heuristic for detected cliques (see :func:`elimination_cliques`).
    constraints
        Constraint indices that must fit in a clique (default: all).
    objective_degree_over
        Only objective terms of degree above this must fit in a clique (0: all terms).
    """
    n = problem.nvars
    terms, cons = supports(problem)
    obj_deg = problem.objective.term_degrees()
    needed_terms = [t for t, d in zip(terms, obj_deg) if d > objective_degree_over]
    idx = list(range(len(cons))) if constraints is None else list(constraints)
    if cliques is None:
        G = nx.Graph()
        G.add_nodes_from(range(n))
        for g in needed_terms + [cons[k] for k in idx]:
            g = list(g)
            G.add_edges_from((g[a], g[b]) for a in range(len(g)) for b in range(a + 1, len(g)))
        found = elimination_cliques(G, method)
    else:
        found = _complete_cliques(problem, cliques, method)
    order, parents_raw = clique_tree(found)
    ordered = [found[i] for i in order]
    pos = {old: new for new, old in enumerate(order)}
    parents = [pos[p] if p >= 0 else -1 for p in parents_raw]
    holders: dict[int, list[int]] = {}
    for k, c in enumerate(ordered):
        for v in c:
            holders.setdefault(v, []).append(k)
    missing = sorted(set(range(n)) - set(holders))
    if missing:
        names = [problem.variables[v].name for v in missing[:5]]
        raise ValueError(f"the cliques do not cover the variable(s) {names}")
    for t in needed_terms:
        if _fits(t, ordered, holders) < 0:
            names = [problem.variables[v].name for v in t]
            raise ValueError(f"the objective term in {names} lies in no clique")
    assignment = [-1] * len(cons)
    for k in idx:
        a = _fits(cons[k], ordered, holders)
        if a < 0:
            raise ValueError(
                f"constraint {k} ({problem.constraints[k]}) involves variables that lie in no "
                "single clique; pass larger cliques or mark it as a bad constraint"
            )
        assignment[k] = a
    cl = [tuple(int(v) for v in sorted(c)) for c in ordered]
    return CliqueStructure(cl, parents, assignment, n)


def _complete_cliques(
    problem: Problem, given: Sequence[Iterable[int | str]], method: str
) -> list[frozenset[int]]:
    names = {v.name: k for k, v in enumerate(problem.variables)}
    out = []
    for c in given:
        members = set()
        for v in c:
            if isinstance(v, str):
                if v not in names:
                    raise ValueError(f"unknown variable {v!r} in a clique")
                members.add(names[v])
            else:
                k = int(v)
                if not 0 <= k < problem.nvars:
                    raise ValueError(f"variable index {k} out of range in a clique")
                members.add(k)
        if not members:
            raise ValueError("a clique is empty")
        out.append(frozenset(members))
    out = _maximal_only(out)
    order, _ = clique_tree(out)
    if has_rip([out[i] for i in order]):
        return out
    G = nx.Graph()
    G.add_nodes_from(set().union(*out))  # the union graph: uncovered variables stay uncovered
    for c in out:
        c = list(c)
        G.add_edges_from((c[a], c[b]) for a in range(len(c)) for b in range(a + 1, len(c)))
    return elimination_cliques(G, method)
