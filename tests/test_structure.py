"""Correlative sparsity structure: chordal extensions, cliques, clique trees, RIP, caller cliques.

Expected values are graph-theoretic facts checked independently: a triangulation of the cycle
C_n has n - 2 triangles and n - 3 chords, the maximal cliques of a tree are its edges, the 3x3
grid has treewidth 3 (so every chordal extension has a clique of size >= 4), and the maximal
cliques of a chordal graph are those networkx lists (``nx.chordal_graph_cliques``).
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

import polyopt as po
from polyopt.structure import (
    build_structure,
    clique_tree,
    csp_graph,
    elimination_cliques,
    has_rip,
)

HEURISTICS = ["min_degree", "min_fill"]


# --------------------------------------------------------------------------- helpers
def clique_graph(cliques) -> nx.Graph:
    """The graph whose edges are all pairs inside some clique (the chordal extension)."""
    H = nx.Graph()
    for c in cliques:
        c = sorted(c)
        H.add_nodes_from(c)
        H.add_edges_from(itertools.combinations(c, 2))
    return H


def assert_chordal_extension(G: nx.Graph, cliques) -> nx.Graph:
    """``cliques`` are the maximal cliques of a chordal graph containing ``G``."""
    H = clique_graph(cliques)
    assert set(H.nodes) == set(G.nodes)
    for a, b in G.edges:
        assert H.has_edge(a, b), (a, b)
    assert nx.is_chordal(H)
    # maximal cliques of H, nothing more nothing less
    assert {frozenset(c) for c in cliques} == {frozenset(c) for c in nx.find_cliques(H)}
    return H


def ordered(cliques, order):
    return [cliques[i] for i in order]


# --------------------------------------------------------------------------- elimination
@pytest.mark.parametrize("method", HEURISTICS)
@pytest.mark.parametrize("n", [4, 5, 7, 10])
def test_cycle_is_triangulated_into_n_minus_2_triangles(method, n):
    G = nx.cycle_graph(n)
    cliques = elimination_cliques(G, method)
    # a minimal triangulation of C_n is a triangulated polygon: n - 2 triangles, n - 3 chords
    assert len(cliques) == n - 2
    assert all(len(c) == 3 for c in cliques)
    H = assert_chordal_extension(G, cliques)
    assert H.number_of_edges() == n + (n - 3)
    covered = {frozenset(e) for c in cliques for e in itertools.combinations(c, 2)}
    assert {frozenset(e) for e in G.edges} <= covered


@pytest.mark.parametrize("method", HEURISTICS)
@pytest.mark.parametrize("n", [2, 3, 6])
def test_path_cliques_are_its_edges(method, n):
    G = nx.path_graph(n)
    cliques = elimination_cliques(G, method)
    assert sorted(map(sorted, cliques)) == [[i, i + 1] for i in range(n - 1)]


@pytest.mark.parametrize("method", HEURISTICS)
def test_tree_cliques_are_its_edges(method):
    G = nx.balanced_tree(2, 3)  # a chordal graph: its maximal cliques are its 14 edges
    cliques = elimination_cliques(G, method)
    assert {frozenset(c) for c in cliques} == {frozenset(e) for e in G.edges}


def test_grid_3x3_min_fill_reaches_treewidth_3():
    G = nx.convert_node_labels_to_integers(nx.grid_2d_graph(3, 3))
    cliques = elimination_cliques(G, "min_fill")
    assert_chordal_extension(G, cliques)
    # treewidth of the k x k grid is k: the best chordal extension has largest clique k + 1
    assert max(len(c) for c in cliques) == 4


@pytest.mark.parametrize("method", HEURISTICS)
def test_grid_extension_is_never_below_treewidth(method):
    G = nx.convert_node_labels_to_integers(nx.grid_2d_graph(3, 4))
    cliques = elimination_cliques(G, method)
    assert_chordal_extension(G, cliques)
    assert max(len(c) for c in cliques) >= 4  # treewidth of the 3 x 4 grid is 3


def test_disconnected_graph_and_isolated_vertices():
    G = nx.Graph()
    G.add_nodes_from(range(6))
    G.add_edges_from([(0, 1), (1, 2), (0, 2), (3, 4)])
    for method in HEURISTICS:
        cliques = {frozenset(c) for c in elimination_cliques(G, method)}
        assert cliques == {frozenset({0, 1, 2}), frozenset({3, 4}), frozenset({5})}


def test_maximal_on_hand_made_chordal_graph():
    # two triangles sharing the edge 1-2, a pendant 3-4 and a K4 {4, 5, 6, 7}
    G = nx.Graph([(0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (3, 4)])
    G.add_edges_from(itertools.combinations([4, 5, 6, 7], 2))
    expected = {frozenset(s) for s in ({0, 1, 2}, {1, 2, 3}, {3, 4}, {4, 5, 6, 7})}
    assert nx.is_chordal(G)
    assert {frozenset(c) for c in elimination_cliques(G, "maximal")} == expected
    assert {frozenset(c) for c in nx.chordal_graph_cliques(G)} == expected
    # on a chordal graph min_fill eliminates simplicial vertices only: no fill at all
    assert {frozenset(c) for c in elimination_cliques(G, "min_fill")} == expected


@pytest.mark.parametrize("seed", range(4))
def test_maximal_matches_networkx_on_random_chordal_graphs(seed):
    G = nx.gnp_random_graph(12, 0.3, seed=seed)
    H = clique_graph(elimination_cliques(G, "min_degree"))  # a chordal supergraph
    H.add_nodes_from(G.nodes)
    assert nx.is_chordal(H)
    got = {frozenset(c) for c in elimination_cliques(H, "maximal")}
    assert got == {frozenset(c) for c in nx.chordal_graph_cliques(H)}
    assert {frozenset(c) for c in elimination_cliques(H, "min_fill")} == got


def test_maximal_rejects_a_non_chordal_graph():
    with pytest.raises(ValueError, match="not chordal"):
        elimination_cliques(nx.cycle_graph(5), "maximal")


def test_unknown_chordal_method():
    with pytest.raises(ValueError, match="unknown chordal extension 'bogus'"):
        elimination_cliques(nx.path_graph(3), "bogus")


# --------------------------------------------------------------------------- clique tree / RIP
def test_has_rip_hand_made_orders():
    a, b, c = {0, 1}, {1, 2}, {2, 3}
    assert has_rip([a, b, c])
    # {1, 2} meets the union {0, 1, 2, 3} of the earlier cliques in {1, 2}: in no single one
    assert not has_rip([a, c, b])
    assert has_rip([])
    assert has_rip([{0, 1, 2}])
    # the triangle of pairs has no RIP order at all
    for perm in itertools.permutations([{0, 1}, {1, 2}, {0, 2}]):
        assert not has_rip(perm)
    # disjoint cliques trivially have RIP
    assert has_rip([{0}, {1, 2}, {3}])


@pytest.mark.parametrize(
    "G",
    [
        nx.cycle_graph(9),
        nx.convert_node_labels_to_integers(nx.grid_2d_graph(3, 3)),
        nx.balanced_tree(3, 2),
        nx.gnp_random_graph(15, 0.25, seed=3),
    ],
    ids=["cycle", "grid", "tree", "random"],
)
@pytest.mark.parametrize("shuffle", [False, True])
def test_clique_tree_order_has_rip(G, shuffle):
    cliques = elimination_cliques(G, "min_fill")
    if shuffle:
        rng = np.random.default_rng(0)
        cliques = [cliques[i] for i in rng.permutation(len(cliques))]
    order, parents = clique_tree(cliques)
    assert sorted(order) == list(range(len(cliques)))
    seq = ordered(cliques, order)
    assert has_rip(seq)
    # every clique's parent comes before it and holds its intersection with all earlier ones
    pos = {c: k for k, c in enumerate(order)}
    seen: set[int] = set()
    for k, (ci, p) in enumerate(zip(order, parents)):
        inter = set(cliques[ci]) & seen
        if p == -1:
            assert not inter  # a root starts a new connected component
        else:
            assert pos[p] < k
            assert inter <= set(cliques[p])
        seen |= set(cliques[ci])


def test_clique_tree_finds_a_rip_order_for_a_bad_input_order():
    cliques = [frozenset({0, 1}), frozenset({2, 3}), frozenset({1, 2})]
    assert not has_rip(cliques)
    order, parents = clique_tree(cliques)
    assert has_rip(ordered(cliques, order))
    assert parents[0] == -1 and sum(p == -1 for p in parents) == 1  # one connected tree


# --------------------------------------------------------------------------- problems
def chain_problem(n=5):
    x = po.variables("x", n)
    f = sum(x[i] * x[i + 1] for i in range(n - 1)) + sum(x[i] ** 4 for i in range(n))
    cons = [1 - x[i] ** 2 - x[i + 1] ** 2 >= 0 for i in range(n - 1)]
    return x, po.Problem(minimize=f, constraints=cons)


def test_csp_graph_edges():
    x = po.variables("x", 5)
    f = x[0] * x[1] + x[2] ** 2 + x[4]
    cons = [1 - x[1] ** 2 - x[2] ** 2 - x[3] ** 2 >= 0, x[3] * x[4] == 0]
    P = po.Problem(minimize=f, constraints=cons)
    edges = lambda G: {frozenset(e) for e in G.edges}  # noqa: E731
    triangle = {frozenset(e) for e in itertools.combinations([1, 2, 3], 2)}
    G = csp_graph(P)
    assert set(G.nodes) == set(range(5))
    assert edges(G) == {frozenset({0, 1}), frozenset({3, 4})} | triangle
    assert edges(csp_graph(P, include=[1])) == {frozenset({0, 1}), frozenset({3, 4})}
    assert edges(csp_graph(P, include=[], objective=False)) == set()
    assert edges(csp_graph(P, objective=False)) == {frozenset({3, 4})} | triangle


@pytest.mark.parametrize("method", ["min_degree", "min_fill"])
def test_detected_chain_structure(method):
    n = 6
    _, P = chain_problem(n)
    s = build_structure(P, method=method)
    assert sorted(s.cliques) == [(i, i + 1) for i in range(n - 1)]
    assert has_rip(s.cliques)
    assert s.sizes == [2] * (n - 1)
    assert s.nvars == n
    for k, p in enumerate(s.parents):
        assert p < k
    # constraint i couples x_i and x_{i+1}: it lives in the clique {i, i+1}
    assert [s.cliques[a] for a in s.assignment] == [(i, i + 1) for i in range(n - 1)]


def test_constraint_assignment_contains_each_constraint_support():
    x = po.variables("x", 7)
    f = x[0] * x[3] + x[3] * x[6] + x[1] * x[2] * x[5] + (x**2).sum()
    cons = [
        1 - x[0] ** 2 - x[3] ** 2 >= 0,
        x[1] * x[2] - x[5] >= 0,
        x[4] ** 2 - x[6] == 0,
        1 - x[2] ** 2 >= 0,
        x[6] + x[3] + x[4] >= 0,
        2 - x[0] >= 0,
    ]
    P = po.Problem(minimize=f, constraints=cons)
    s = build_structure(P)
    assert has_rip(s.cliques)
    assert set().union(*map(set, s.cliques)) == set(range(7))
    pos = {v.name: k for k, v in enumerate(P.variables)}
    for k, c in enumerate(cons):
        support = {pos[v.name] for v in c.poly.variables}
        assert support <= set(s.cliques[s.assignment[k]]), (k, support)
    # every objective term lies in a clique
    for row in P.objective.aligned(P.variables):
        support = set(np.flatnonzero(row).tolist())
        assert any(support <= set(c) for c in s.cliques)
    # the smallest holder is chosen: x3 alone (constraint 3) lies in a clique of least size
    holders = [c for c in s.cliques if 2 in c]
    assert len(s.cliques[s.assignment[3]]) == min(map(len, holders))


# --------------------------------------------------------------------------- caller cliques
def test_valid_caller_cliques_are_kept():
    _, P = chain_problem(5)
    given = [[3, 4], [0, 1], [2, 3], [1, 2]]  # a valid cover, in a non-RIP order
    s = build_structure(P, given)
    assert sorted(s.cliques) == sorted(tuple(c) for c in given)
    assert has_rip(s.cliques)
    # larger valid cliques are kept too (no reduction to the detected pattern)
    s2 = build_structure(P, [[0, 1, 2], [2, 3, 4]])
    assert sorted(s2.cliques) == [(0, 1, 2), (2, 3, 4)]
    assert [s2.cliques[a] for a in s2.assignment][0] == (0, 1, 2)


def test_caller_cliques_by_name_and_redundant_ones():
    _, P = chain_problem(4)
    s = build_structure(P, [["x1", "x2"], ("x2", "x3"), {"x3", "x4"}, ["x2"]])
    assert sorted(s.cliques) == [(0, 1), (1, 2), (2, 3)]  # {x2} lies inside another clique


@pytest.mark.parametrize("method", HEURISTICS)
def test_non_rip_caller_cliques_are_completed(method):
    x = po.variables("x", 5)
    f = x[0] * x[1] + x[1] * x[2] + x[2] * x[3] + x[3] * x[4] + x[4] * x[0]
    P = po.Problem(minimize=f, constraints=[1 - (x**2).sum() + x[0] ** 2 >= 0])
    given = [{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 0}, {1, 2, 3, 4}]
    # no order of the given sets has RIP (the cycle 0-1-2-3-4 is chordless through 0)
    assert not any(has_rip(p) for p in itertools.permutations(given))
    s = build_structure(P, given, method=method)
    assert has_rip(s.cliques)
    for c in given:
        assert any(c <= set(r) for r in s.cliques), c
    # the completion is a chordal extension of the union graph of the given cliques
    union = clique_graph(given)
    assert_chordal_extension(union, [set(c) for c in s.cliques])
    assert set(s.cliques[s.assignment[0]]) >= {1, 2, 3, 4}


def test_caller_cliques_must_cover_every_variable():
    x = po.variables("x", 5)
    f = x[0] * x[1] + x[1] * x[2] + x[2] * x[3] + x[3] * x[0] + x[4] ** 2
    P = po.Problem(minimize=f)
    with pytest.raises(ValueError, match=r"do not cover the variable\(s\) \['x5'\]"):
        build_structure(P, [[0, 1, 2], [0, 2, 3]])
    # also when the given cliques lack RIP and have to be completed first
    with pytest.raises(ValueError, match=r"do not cover the variable\(s\) \['x5'\]"):
        build_structure(P, [[0, 1], [1, 2], [2, 3], [3, 0]])


def test_objective_term_across_cliques_is_rejected():
    _, P = chain_problem(4)
    with pytest.raises(ValueError, match=r"objective term in \['x2', 'x3'\] lies in no clique"):
        build_structure(P, [[0, 1], [2, 3], [1, 3]])


def test_constraint_in_no_clique_is_rejected():
    x = po.variables("x", 3)
    P = po.Problem(minimize=x[0] + x[1] + x[2], constraints=[1 - x[0] ** 2 - x[2] ** 2 >= 0])
    with pytest.raises(ValueError, match="constraint 0 .* lie in no single clique") as err:
        build_structure(P, [[0, 1], [1, 2]])
    assert "bad constraint" in str(err.value)
    # the constraint may be left out of the required ones (as HR-d does for bad constraints)
    s = build_structure(P, [[0, 1], [1, 2]], constraints=[])
    assert s.assignment == [-1]


def test_malformed_caller_cliques():
    _, P = chain_problem(3)
    with pytest.raises(ValueError, match="unknown variable 'y'"):
        build_structure(P, [["x1", "y"], ["x2", "x3"]])
    with pytest.raises(ValueError, match="out of range"):
        build_structure(P, [[0, 1], [1, 3]])
    with pytest.raises(ValueError, match="out of range"):
        build_structure(P, [[-1, 0, 1], [1, 2]])
    with pytest.raises(ValueError, match="empty"):
        build_structure(P, [[0, 1, 2], []])


def test_solve_rejects_unknown_chordal_method():
    _, P = chain_problem(3)
    with pytest.raises(ValueError, match="unknown chordal extension"):
        P.solve(sparsity="correlative", chordal="bogus")
    with pytest.raises(ValueError, match="unknown chordal extension"):
        P.solve(sparsity="nearly", chordal="bogus")
    with pytest.raises(ValueError, match="unknown chordal extension"):
        P.solve(method="lp", degree=4, sparsity="correlative", chordal="bogus")
