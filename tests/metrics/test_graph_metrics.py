"""metrics/graphs.py: the score matrix and edge overlap by hand, each statistic against networkx, the
assembly (every node kept, the edge count, exact on an exact score matrix), block recovery, link AUC/AP."""
import networkx as nx
import numpy as np
import pytest
import torch

from ganscape.data.graphs import GraphParams, csr, draw_walks, graph_data
from ganscape.metrics import graphs as gm
from ganscape.metrics.sequences import TokenContext
from ganscape.registry import METRICS


def _adj(g):
    return nx.to_numpy_array(g, nodelist=sorted(g.nodes), weight=None)


def test_score_matrix_and_edge_overlap_by_hand():
    S = gm.score_matrix(np.array([[0, 1, 2], [2, 1, 1]]), 3)
    # transitions 0->1, 1->2, 2->1, 1->1, symmetrized: (0,1) 1, (1,2) 2 each way, (1,1) 1 + 1
    np.testing.assert_array_equal(S, [[0, 1, 0], [1, 2, 2], [0, 2, 0]])
    ref = gm.adjacency(4, np.array([[0, 1], [1, 2], [2, 3], [0, 3]]))
    A = gm.adjacency(4, np.array([[0, 1], [1, 2], [2, 3], [0, 2]]))
    assert gm.edge_overlap(ref, A) == 0.75 and gm.edge_overlap(ref, ref) == 1.0
    # degrees (2, 2, 2, 2) vs (2, 2, 3, 1): W1 = (0 + 0 + 1 + 1) / 4
    assert gm.degree_distance(ref, A) == pytest.approx(0.5)


@pytest.mark.parametrize("g", [nx.karate_club_graph(), nx.florentine_families_graph(),
                               nx.barabasi_albert_graph(60, 2, seed=3),
                               nx.disjoint_union(nx.cycle_graph(5), nx.path_graph(3))])
def test_statistics_match_networkx(g):
    g = nx.convert_node_labels_to_integers(nx.Graph(g))
    A = _adj(g)
    s = gm.graph_statistics(A)
    lcc = g.subgraph(max(nx.connected_components(g), key=len))
    assert s["edges"] == g.number_of_edges() and s["max_degree"] == max(d for _, d in g.degree)
    assert s["triangles"] == sum(nx.triangles(g).values()) / 3
    assert s["clustering"] == pytest.approx(nx.transitivity(g))
    assert s["path_length"] == pytest.approx(nx.average_shortest_path_length(lcc))
    assert s["lcc"] == lcc.number_of_nodes()
    r = nx.degree_assortativity_coefficient(g)
    assert (np.isnan(s["assortativity"]) and np.isnan(r)) or s["assortativity"] == pytest.approx(r)


def test_assembly_keeps_every_node_and_the_edge_count():
    g = graph_data(GraphParams(graph="les-miserables"))
    indptr, indices = csr(g.n, g.train_edges)
    walks = draw_walks(g.n, indptr, indices, 300, 16, np.random.default_rng(0))
    S = gm.score_matrix(walks, g.n)
    A = gm.assemble_graph(S, len(g.train_edges), np.random.default_rng(1))
    assert np.array_equal(A, A.T) and np.trace(A) == 0
    assert A.sum() / 2 == len(g.train_edges)
    seen = S.sum(1) - np.diag(S) > 0
    assert ((A.sum(1) > 0) | ~seen).all() and seen.sum() == g.n     # every node has an edge
    assert (S[A > 0] > 0).all()                                       # only pairs that were walked
    # node 3's one scored pair is a million times weaker than the others: only the first phase
    # (every node draws an edge) gives it one, in every draw
    T = np.zeros((4, 4))
    T[0, 1] = T[0, 2] = T[1, 2] = 1000.0
    T[2, 3] = 1e-3
    T = T + T.T
    for seed in range(5):
        C = gm.assemble_graph(T, 3, np.random.default_rng(seed))
        assert C[3].sum() == 1 and C.sum() / 2 >= 3
    # an exact score matrix (the training adjacency) gives back the training graph
    A_train = gm.adjacency(g.n, g.train_edges)
    B = gm.assemble_graph(A_train, len(g.train_edges), np.random.default_rng(2))
    assert np.array_equal(B, A_train) and gm.edge_overlap(A_train, B) == 1.0


def test_link_prediction_by_hand():
    S = np.zeros((4, 4))
    S[0, 1], S[2, 3], S[0, 2], S[1, 3] = 3, 1, 2, 0
    r = gm.link_prediction(S, np.array([[0, 1], [2, 3]]), np.array([[0, 2], [1, 3]]))
    # pairs (pos 3, pos 1) vs (neg 2, neg 0): 3 of 4 ordered right; AP = (1/1 + 2/3) / 2
    assert r["lp_auc"] == pytest.approx(0.75) and r["lp_ap"] == pytest.approx((1 + 2 / 3) / 2)


def test_block_recovery_and_the_registered_metric():
    p = GraphParams(graph="sbm", blocks=3, block_size=12, p_in=0.7, p_out=0.02, n_walks=400)
    g = graph_data(p)
    A_train = gm.adjacency(g.n, g.train_edges)
    assert gm.block_ari(A_train, g.blocks) > 0.9
    assert gm.block_ari(A_train, np.random.default_rng(0).permutation(g.blocks)) < 0.3
    from ganscape.data.graphs import graph
    d = graph(p, "train")
    ctx = TokenContext(fake=d.x, real=d.x, info=d.info)
    out = METRICS.get("graph").fn(METRICS.params("graph", {}), ctx)
    assert set(out) == set(gm.GRAPH_RESULTS) and all(np.isfinite(v) for v in out.values())
    assert out["edge_overlap"] > 0.5 and out["block_ari"] > 0.5
    ctx_other = TokenContext(fake=torch.zeros(2, 16, dtype=torch.long), real=d.x, info={})
    with pytest.raises(Exception, match="metric graph scores walks on a graph"):
        METRICS.get("graph").fn(METRICS.params("graph", {}), ctx_other)


def test_eval_of_a_netgan_run_defaults_to_the_graph_metric():
    """Random walks are tokens, but a graph run is judged by `graph` (the data set's own default), not by
    the token metrics; its results read with their direction."""
    from ganscape.config import load_config
    from ganscape.metrics.evaluate import direction, split_metrics
    from ganscape.registry import DATASETS
    from ganscape.train.state import build_method
    cfg = load_config("netgan-sbm")
    own = DATASETS.get(cfg.data.name).tags.get("metrics")
    assert split_metrics(build_method(cfg), None, "netgan", data_defaults=own) == (("graph",), ())
    assert "bleu" in split_metrics(build_method(cfg), None, "netgan")[0]   # without the tag: token metrics
    assert direction("lp_auc") == "higher is better" and direction("degree_w1") == "lower is better"
