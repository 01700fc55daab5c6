"""Graph metrics of NetGAN (Bojchevski et al. 2018, Section 4 and Table 1): generated walks -> a score
matrix -> an assembled graph, compared with the training graph; link prediction from the scores.

- score_matrix: the transition counts of the walks, symmetrized (count(i -> j) + count(j -> i));
- assemble_graph: NetGAN's edge sampling (the code's graph_from_scores): the diagonal zeroed; every
  node, in a random order, draws one edge with probability proportional to its row of scores (so
  every node with a score gets an edge); then edges are drawn without replacement from the upper
  triangle, proportional to the scores, until the graph has as many edges as the training graph;
- edge_overlap: the fraction of the training graph's edges that the assembled graph has (NetGAN's EO);
- graph_statistics: edges, max degree, triangle count, global clustering coefficient (transitivity,
  3 triangles / connected triples, NetGAN's "clustering"), degree assortativity (Pearson correlation of
  the degrees at the two ends of the edges), characteristic path length (mean shortest-path length over
  the connected pairs of the largest component), the largest component's size;
- degree_distance: the Wasserstein-1 distance between the two graphs' degree distributions;
- block_ari: spectral clustering of the assembled graph (scikit-learn, adjacency as affinity) into as
  many clusters as true blocks, scored by the adjusted Rand index against the blocks (an SBM);
- link_prediction: ROC AUC and average precision (scikit-learn) of the score matrix's entries at the
  held-out edges against as many held-out non-edges (NetGAN's link prediction protocol).

Metric `graph` (token data from data set `graph`) reports them for the graph assembled from the
generated walks. Adjacencies are dense (N x N) NumPy arrays: the graphs here have hundreds of nodes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

from ..registry import METRICS, ConfigError


def score_matrix(walks: np.ndarray, n: int) -> np.ndarray:
    """(N, N) float: counts of the transitions i -> j in `walks` (B, L) plus those j -> i."""
    w = np.asarray(walks, dtype=np.int64)
    a, b = w[:, :-1].ravel(), w[:, 1:].ravel()
    m = np.bincount(a * n + b, minlength=n * n).reshape(n, n).astype(np.float64)   # (i, j) counts
    return m + m.T


def adjacency(n: int, edges: np.ndarray) -> np.ndarray:
    """(N, N) symmetric 0/1 float adjacency of undirected `edges` (E, 2)."""
    A = np.zeros((n, n))
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    A[e[:, 0], e[:, 1]] = 1.0
    A[e[:, 1], e[:, 0]] = 1.0
    return A


def assemble_graph(scores: np.ndarray, n_edges: int, rng: np.random.Generator) -> np.ndarray:
    """NetGAN's graph from a score matrix: (N, N) symmetric 0/1 adjacency with `n_edges` undirected
    edges (fewer only if the first phase already gave more, or too few pairs have a score). First every
    node with a score, in random order, draws one neighbour proportionally to its row; then the
    remaining edges are drawn without replacement from the upper triangle proportionally to the
    scores (the pairs already joined excluded)."""
    s = np.array(scores, dtype=np.float64)
    np.fill_diagonal(s, 0.0)
    n = len(s)
    A = np.zeros((n, n))
    for i in rng.permutation(n):
        row = s[i]
        tot = row.sum()
        if tot <= 0:
            continue
        j = rng.choice(n, p=row / tot)
        A[i, j] = A[j, i] = 1.0
    missing = int(n_edges - A.sum() / 2)
    if missing > 0:
        iu, ju = np.triu_indices(n, 1)
        w = s[iu, ju] * (A[iu, ju] == 0)
        k = min(missing, int((w > 0).sum()))
        if k > 0:
            pick = rng.choice(len(w), size=k, replace=False, p=w / w.sum())
            A[iu[pick], ju[pick]] = A[ju[pick], iu[pick]] = 1.0
    return A


def edge_overlap(A_ref: np.ndarray, A: np.ndarray) -> float:
    """Fraction of A_ref's edges that A also has (NetGAN's EO)."""
    ref = np.triu(A_ref > 0, 1)
    return float((ref & np.triu(A > 0, 1)).sum() / max(ref.sum(), 1))


def triangle_count(A: np.ndarray) -> int:
    """trace(A^3) / 6."""
    B = (A > 0).astype(np.float64)
    return int(round(np.trace(B @ B @ B) / 6))


def transitivity(A: np.ndarray) -> float:
    """3 x triangles / connected triples, sum_i d_i (d_i - 1) / 2 (0 for a graph without triples)."""
    d = (A > 0).sum(1).astype(np.float64)
    triples = (d * (d - 1) / 2).sum()
    return float(3 * triangle_count(A) / triples) if triples else 0.0


def assortativity(A: np.ndarray) -> float:
    """Degree assortativity: the Pearson correlation of (d_u, d_v) over both orientations of every edge
    (Newman 2002); NaN when every edge joins nodes of the same degrees (no variance)."""
    B = A > 0
    d = B.sum(1).astype(np.float64)
    u, v = np.nonzero(B)                               # both orientations
    x, y = d[u], d[v]
    sx = x.std()
    if len(x) == 0 or sx == 0:
        return float("nan")
    return float(((x - x.mean()) * (y - y.mean())).mean() / (sx * y.std()))


def largest_component(A: np.ndarray) -> np.ndarray:
    """Node indices of the largest connected component."""
    from scipy import sparse   # here, not at import: scipy.sparse costs every `ganscape` start ~60 ms
    from scipy.sparse.csgraph import connected_components
    _, lab = connected_components(sparse.csr_matrix(A > 0), directed=False)
    return np.flatnonzero(lab == np.bincount(lab).argmax())


def path_length(A: np.ndarray) -> float:
    """Characteristic path length: mean shortest-path length over ordered pairs of distinct nodes of the
    largest connected component (hops)."""
    lcc = largest_component(A)
    if len(lcc) < 2:
        return 0.0
    from scipy import sparse
    from scipy.sparse.csgraph import shortest_path
    D = shortest_path(sparse.csr_matrix((A > 0)[np.ix_(lcc, lcc)].astype(np.float64)), unweighted=True,
                      directed=False)
    m = len(lcc)
    return float(D.sum() / (m * (m - 1)))


def degree_distance(A_ref: np.ndarray, A: np.ndarray) -> float:
    """Wasserstein-1 distance between the degree distributions of the two graphs."""
    from scipy.stats import wasserstein_distance
    return float(wasserstein_distance((A_ref > 0).sum(1), (A > 0).sum(1)))


def graph_statistics(A: np.ndarray) -> Dict[str, float]:
    """NetGAN's Table 1 statistics (those defined for any graph) of adjacency A."""
    d = (A > 0).sum(1)
    return {"edges": float((A > 0).sum() / 2), "max_degree": float(d.max() if len(d) else 0),
            "triangles": float(triangle_count(A)), "clustering": transitivity(A),
            "assortativity": assortativity(A), "path_length": path_length(A),
            "lcc": float(len(largest_component(A)))}


def block_ari(A: np.ndarray, blocks: np.ndarray, seed: int = 0) -> float:
    """Adjusted Rand index of a spectral clustering of A (k = the number of true blocks) vs the blocks."""
    from sklearn.cluster import SpectralClustering
    from sklearn.metrics import adjusted_rand_score
    k = int(np.unique(blocks).size)
    if k < 2:
        return 1.0
    # an isolated node would make the affinity's graph disconnected: a tiny uniform term keeps the
    # embedding defined without changing which blocks the edges carve out
    aff = (A > 0).astype(np.float64) + 1e-6
    labels = SpectralClustering(k, affinity="precomputed", random_state=seed, assign_labels="kmeans",
                                n_init=10).fit_predict(aff)
    return float(adjusted_rand_score(blocks, labels))


def link_prediction(scores: np.ndarray, edges: np.ndarray, non_edges: np.ndarray) -> Dict[str, float]:
    """ROC AUC and average precision of scores[i, j] at held-out edges (label 1) vs non-edges (label 0)."""
    from sklearn.metrics import average_precision_score, roc_auc_score
    e, ne = np.asarray(edges).reshape(-1, 2), np.asarray(non_edges).reshape(-1, 2)
    if not len(e) or not len(ne):
        raise ConfigError("link prediction needs held-out edges and non-edges (data.params.heldout > 0)")
    y = np.r_[np.ones(len(e)), np.zeros(len(ne))]
    s = np.r_[scores[e[:, 0], e[:, 1]], scores[ne[:, 0], ne[:, 1]]]
    return {"lp_auc": float(roc_auc_score(y, s)), "lp_ap": float(average_precision_score(y, s))}


def compare_graph(walks: np.ndarray, info: Dict, seed: int = 0) -> Dict[str, float]:
    """Everything metric `graph` reports, from generated walks and data set `graph`'s info["graph"]."""
    n = int(info["n_nodes"])
    A_train = adjacency(n, info["train_edges"])
    S = score_matrix(walks, n)
    A = assemble_graph(S, len(info["train_edges"]), np.random.default_rng(seed))
    out = {"edge_overlap": edge_overlap(A_train, A), "degree_w1": degree_distance(A_train, A)}
    out.update(graph_statistics(A))
    out.pop("edges")
    if info.get("blocks") is not None:
        out["block_ari"] = block_ari(A, np.asarray(info["blocks"]), seed)
    if len(info.get("heldout_edges", ())):
        out.update(link_prediction(S, info["heldout_edges"], info["heldout_non_edges"]))
    return out


GRAPH_RESULTS = ("edge_overlap", "degree_w1", "max_degree", "triangles", "clustering", "assortativity",
                 "path_length", "lcc", "block_ari", "lp_auc", "lp_ap")
# larger is better for these (the others are read against the training graph's own value)
HIGHER_IS_BETTER = {"edge_overlap", "block_ari", "lp_auc", "lp_ap"}


@dataclass(frozen=True)
class GraphMetricParams:
    walks: int = 0      # generate at least this many walks for the score matrix (0: eval's n samples)
    seed: int = 0       # the assembly's and the clustering's random draws

    def validate(self, where: str) -> None:
        if self.walks < 0:
            raise ConfigError(f"{where}.walks: must be >= 0, got {self.walks}")


@METRICS.register("graph", params=GraphMetricParams, results=GRAPH_RESULTS, data="tokens")
def _graph(p: GraphMetricParams, ctx) -> Dict[str, float]:
    """NetGAN's graph from generated walks vs the training graph: edge overlap, statistics, block ARI, link AUC/AP."""
    info: Optional[Dict] = (ctx.info or {}).get("graph")
    if info is None:
        from .sequences import NotApplicable
        raise NotApplicable("metric graph scores walks on a graph (data: graph)")
    walks = ctx.fake
    if p.walks > len(walks) and ctx.generator is not None:
        import torch
        from .sequences import generate_tokens
        walks = torch.cat([walks, generate_tokens(ctx.generator, p.walks - len(walks), seed=p.seed + 1)])
    return compare_graph(np.asarray(walks.cpu() if hasattr(walks, "cpu") else walks), info, p.seed)
