"""Data set `graph` (data/graphs.py): networkx's graphs, the held-out split, and first-order random walks
whose transitions match the training graph's transition matrix."""
import networkx as nx
import numpy as np
import pytest
import torch
from scipy import stats

from ganscape.data.graphs import GraphParams, csr, draw_walks, graph, graph_data, random_walks, split_edges
from ganscape.registry import DATASETS, ConfigError


def test_walk_transitions_match_the_transition_matrix():
    """On the karate club (unequal degrees) the walks' transition counts from each node fit the
    uniform-neighbour law: chi-square per node, no transition along a non-edge, starts uniform."""
    g = nx.karate_club_graph()
    n = g.number_of_nodes()
    edges = np.array(sorted(tuple(sorted(e)) for e in g.edges), dtype=np.int64)
    indptr, indices = csr(n, edges)
    assert np.array_equal(np.diff(indptr), [g.degree(v) for v in range(n)])
    w = draw_walks(n, indptr, indices, 4000, 16, np.random.default_rng(0))
    counts = np.zeros((n, n))
    np.add.at(counts, (w[:, :-1].ravel(), w[:, 1:].ravel()), 1)
    A = nx.to_numpy_array(g, nodelist=range(n), weight=None)
    assert counts[A == 0].sum() == 0
    P = A / A.sum(1, keepdims=True)                     # the transition matrix, D^-1 A
    chi2, dof = 0.0, 0
    for i in range(n):
        nb = np.flatnonzero(A[i])
        exp = counts[i].sum() * P[i, nb]
        chi2 += (((counts[i, nb] - exp) ** 2) / exp).sum()
        dof += len(nb) - 1
    assert stats.chi2.sf(chi2, dof) > 1e-3, (chi2, dof)
    # a walker biased towards the first-listed neighbour is caught by the same statistic
    biased = counts.copy()
    for i in range(n):
        biased[i, np.flatnonzero(A[i])[0]] += 0.3 * counts[i].sum() / max(g.degree(i), 1)
    chi2b = sum(((((biased[i, nb] - biased[i].sum() * P[i, nb]) ** 2) / (biased[i].sum() * P[i, nb])).sum())
                for i in range(n) for nb in [np.flatnonzero(A[i])])
    assert stats.chi2.sf(chi2b, dof) < 1e-6
    assert stats.chisquare(np.bincount(w[:, 0], minlength=n)).pvalue > 1e-3


def test_walks_on_a_path_are_exact():
    """On the path 0-1-2 a walk from 1 goes to 0 or 2 and must come back: every odd position is 1."""
    indptr, indices = csr(3, np.array([[0, 1], [1, 2]]))
    w = random_walks(indptr, indices, np.ones(200, dtype=np.int64), 9, np.random.default_rng(1))
    assert (w[:, ::2] == 1).all() and set(np.unique(w[:, 1::2])) == {0, 2}
    ends = w[:, 1]
    assert 70 < (ends == 0).sum() < 130


@pytest.mark.parametrize("name,nodes,edges", [("karate", 34, 78), ("les-miserables", 77, 254),
                                              ("florentine", 15, 20)])
def test_builtin_graphs_and_the_split(name, nodes, edges):
    p = GraphParams(graph=name, heldout=0.1)
    g = graph_data(p)
    assert g.n == nodes
    assert len(g.train_edges) + len(g.heldout_edges) == edges
    assert len(g.heldout_edges) == round(0.1 * edges) == len(g.heldout_non_edges)
    train = nx.Graph(list(map(tuple, g.train_edges)))
    assert train.number_of_nodes() == nodes and nx.is_connected(train)   # every node keeps an edge
    full = set(map(tuple, g.train_edges.tolist())) | set(map(tuple, g.heldout_edges.tolist()))
    assert not set(map(tuple, g.heldout_edges.tolist())) & set(map(tuple, g.train_edges.tolist()))
    assert not set(map(tuple, g.heldout_non_edges.tolist())) & full
    assert all(a < b for a, b in g.heldout_non_edges.tolist())


def test_data_set_walks_sbm_blocks_and_fresh_batches():
    p = GraphParams(graph="sbm", blocks=3, block_size=10, p_in=0.6, p_out=0.05, n_walks=50, walk_length=16)
    d = DATASETS.build("graph", {"graph": "sbm", "blocks": 3, "block_size": 10, "p_in": 0.6, "p_out": 0.05,
                                 "n_walks": 50}, "train")
    assert d.kind == "tokens" and tuple(d.x.shape) == (50, 16) and d.vocab_size == graph_data(p).n
    info = d.info["graph"]
    assert info["blocks"] is not None and len(info["blocks"]) == d.vocab_size
    adj = set(map(tuple, info["train_edges"].tolist()))
    x = d.x.numpy()
    assert all(tuple(sorted((a, b))) in adj for a, b in zip(x[:, :-1].ravel(), x[:, 1:].ravel()))
    b1, b2, b3 = d.transform(d.x[:8], 3, 5), d.transform(d.x[:8], 3, 5), d.transform(d.x[:8], 3, 6)
    assert torch.equal(b1, b2) and not torch.equal(b1, b3) and b1.dtype == torch.int64
    t = graph(p, "test")
    assert len(t) == 10 and t.transform is None


def test_edge_list_file_and_bad_input(tmp_path):
    f = tmp_path / "e.txt"
    f.write_text("# a square with a tail\na b\nb c\nc d\nd a\nd e\nx y\n")
    g = graph_data(GraphParams(graph="edge-list", path=str(f), heldout=0.0))
    assert g.n == 5 and len(g.train_edges) == 5 and g.nodes[:2] == ("a", "b")   # the LCC: x-y dropped
    with pytest.raises(ConfigError, match="graph edge-list needs the file"):
        GraphParams(graph="edge-list").validate("data.params")
    with pytest.raises(ConfigError, match="'cora' is not allowed; choose one of: karate"):
        GraphParams(graph="cora").validate("data.params")
    with pytest.raises(ConfigError, match="lie outside a spanning tree"):
        split_edges(3, np.array([[0, 1], [1, 2]]), 0.4, np.random.default_rng(0))
