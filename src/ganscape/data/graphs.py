"""Graphs as random walks (NetGAN, Bojchevski et al. 2018): data set `graph`.

A graph is read or made with networkx (its built-in karate club, Les
Miserables and Florentine families; a stochastic block model or a
Barabasi-Albert graph drawn from `graph_seed`; any edge-list file), kept to
its largest connected component (NetGAN's experiments use the LCC), made
undirected and unweighted, and its nodes renumbered 0..N-1 (in networkx's
node order; the original names are in info["graph"]["nodes"]).

Link prediction split, as NetGAN's: a fraction `heldout` of the edges is
held out (and as many non-edges, drawn uniformly among the node pairs that
are not edges of the whole graph); the edges of a random spanning tree are
never held out, so the training graph stays connected and every node keeps
an edge (NetGAN's `train_val_test_split_adjacency` with every_node and
connected). One held-out set here (NetGAN draws a validation and a test
set); the model never sees it.

The examples are first-order random walks of `walk_length` (16) on the
training graph: a start node drawn uniformly, then a uniformly drawn
neighbour at each step (NetGAN's walker with p = q = 1). Tokens are node
ids (kind "tokens", vocab_size = N). The stored split holds `n_walks`
walks; with `fresh_walks` (the default) the training loop redraws every
batch as new walks, a pure function of (run seed, batch index) through the
data set's transform, as NetGAN draws a fresh batch of walks per step. The
test split holds walks drawn with another seed.

info["graph"] holds what the graph metrics (metrics/graphs.py) read:
n_nodes, train_edges (E, 2) with i < j, heldout_edges and heldout_non_edges
(H, 2), blocks (N,) for a block model (else None), name.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

from ..registry import DATASETS, ConfigError
from .base import ArrayDataset, check_split

GRAPHS = ("karate", "les-miserables", "florentine", "sbm", "barabasi-albert", "edge-list")


@dataclass(frozen=True)
class GraphParams:
    graph: str = "sbm"
    path: Optional[str] = None        # edge-list: a file of "u v" lines (networkx read_edgelist; '#' comments)
    blocks: int = 4                   # sbm: number of blocks
    block_size: int = 25              # sbm: nodes per block
    p_in: float = 0.3                 # sbm: edge probability inside a block
    p_out: float = 0.02               # sbm: edge probability between blocks
    ba_nodes: int = 100               # barabasi-albert: nodes
    ba_m: int = 2                     # barabasi-albert: edges each new node attaches
    graph_seed: int = 0               # the draw of a random graph and of the held-out split
    heldout: float = 0.1              # fraction of the edges held out for link prediction
    walk_length: int = 16
    n_walks: int = 10000              # walks stored in the train split (and n_walks // 5 in test)
    fresh_walks: bool = True          # redraw every training batch as fresh walks

    def validate(self, where: str) -> None:
        if self.graph not in GRAPHS:
            raise ConfigError(f"{where}.graph: {self.graph!r} is not allowed; choose one of: {', '.join(GRAPHS)}")
        if self.graph == "edge-list" and not self.path:
            raise ConfigError(f"{where}.path: graph edge-list needs the file of edges (one 'u v' pair a line)")
        for k, lo in (("blocks", 1), ("block_size", 2), ("ba_nodes", 3), ("ba_m", 1), ("walk_length", 2),
                      ("n_walks", 1)):
            if getattr(self, k) < lo:
                raise ConfigError(f"{where}.{k}: must be >= {lo}, got {getattr(self, k)}")
        for k in ("p_in", "p_out"):
            if not 0.0 <= getattr(self, k) <= 1.0:
                raise ConfigError(f"{where}.{k}: a probability in [0, 1], got {getattr(self, k)}")
        if not 0.0 <= self.heldout < 0.5:
            raise ConfigError(f"{where}.heldout: a fraction in [0, 0.5), got {self.heldout}")
        if self.graph == "barabasi-albert" and self.ba_m >= self.ba_nodes:
            raise ConfigError(f"{where}.ba_m: must be < ba_nodes ({self.ba_nodes}), got {self.ba_m}")


def load_graph(p: GraphParams):
    """The networkx graph `p` names (undirected, simple, before the LCC is taken) and its block
    labels by node (None unless a block model)."""
    import networkx as nx

    blocks = None
    if p.graph == "karate":
        g = nx.karate_club_graph()
    elif p.graph == "les-miserables":
        g = nx.les_miserables_graph()
    elif p.graph == "florentine":
        g = nx.florentine_families_graph()
    elif p.graph == "sbm":
        sizes = [p.block_size] * p.blocks
        probs = [[p.p_in if a == b else p.p_out for b in range(p.blocks)] for a in range(p.blocks)]
        g = nx.stochastic_block_model(sizes, probs, seed=p.graph_seed)
        blocks = {v: d["block"] for v, d in g.nodes(data=True)}
    elif p.graph == "barabasi-albert":
        g = nx.barabasi_albert_graph(p.ba_nodes, p.ba_m, seed=p.graph_seed)
    else:
        path = Path(p.path).expanduser()
        if not path.is_file():
            raise ConfigError(f"data.params.path: {path} is not a file (an edge list, one 'u v' pair a line)")
        try:
            g = nx.read_edgelist(path, nodetype=str, data=False)
        except Exception as e:   # networkx raises TypeError / IndexError on malformed lines
            raise ConfigError(f"data.params.path: {path} is not an edge list of 'u v' lines "
                              f"({type(e).__name__}: {e})") from None
    g = nx.Graph(g)                                     # drops weights' multiplicity and direction
    g.remove_edges_from(list(nx.selfloop_edges(g)))
    return g, blocks


def to_edges(p: GraphParams):
    """(N, edges (E, 2) int64 with i < j sorted, node names, blocks (N,) or None) of the LCC."""
    import networkx as nx

    g, blocks = load_graph(p)
    if g.number_of_edges() == 0:
        raise ConfigError(f"data.params: graph {p.graph!r} has no edges")
    lcc = max(nx.connected_components(g), key=len)
    nodes = [v for v in g.nodes if v in lcc]            # networkx's node order, kept to the LCC
    index = {v: i for i, v in enumerate(nodes)}
    e = np.array(sorted(tuple(sorted((index[u], index[v]))) for u, v in g.subgraph(lcc).edges), dtype=np.int64)
    b = None if blocks is None else np.array([blocks[v] for v in nodes], dtype=np.int64)
    return len(nodes), e, [str(v) for v in nodes], b


def spanning_tree_mask(n: int, edges: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """bool (E,): the edges of a random spanning tree (Kruskal on a random edge order, union-find)."""
    parent = np.arange(n)

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    keep = np.zeros(len(edges), dtype=bool)
    for i in rng.permutation(len(edges)):
        ra, rb = find(edges[i, 0]), find(edges[i, 1])
        if ra != rb:
            parent[ra] = rb
            keep[i] = True
    return keep


def split_edges(n: int, edges: np.ndarray, frac: float, rng: np.random.Generator):
    """(train edges, held-out edges, held-out non-edges): round(frac E) edges held out, never one of a
    random spanning tree's (the training graph stays connected), and as many non-edges drawn uniformly
    from the node pairs that are not edges of the whole graph, without repeats."""
    tree = spanning_tree_mask(n, edges, rng)
    free = np.flatnonzero(~tree)
    k = int(round(frac * len(edges)))
    if k > len(free):
        raise ConfigError(f"data.params.heldout: {k} held-out edges asked, but only {len(free)} edges lie "
                          f"outside a spanning tree of this graph ({len(edges)} edges, {n} nodes)")
    out = np.zeros(len(edges), dtype=bool)
    out[rng.choice(free, size=k, replace=False)] = True
    existing = set(map(tuple, edges.tolist()))
    if k > n * (n - 1) // 2 - len(edges):
        raise ConfigError(f"data.params.heldout: {k} non-edges asked, the graph has fewer")
    non = set()
    while len(non) < k:
        a, b = rng.integers(0, n, size=2)
        pair = (int(min(a, b)), int(max(a, b)))
        if a != b and pair not in existing:
            non.add(pair)
    non_edges = np.array(sorted(non), dtype=np.int64).reshape(-1, 2)
    return edges[~out], edges[out], non_edges


def csr(n: int, edges: np.ndarray):
    """(indptr (N+1,), indices) of the undirected graph's neighbour lists, each sorted."""
    both = np.concatenate([edges, edges[:, ::-1]]) if len(edges) else np.zeros((0, 2), np.int64)
    order = np.lexsort((both[:, 1], both[:, 0]))
    both = both[order]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, both[:, 0] + 1, 1)
    return np.cumsum(indptr), both[:, 1].copy()


def random_walks(indptr: np.ndarray, indices: np.ndarray, starts: np.ndarray, length: int,
                 rng: np.random.Generator) -> np.ndarray:
    """(len(starts), length) int64 first-order walks: from each start, a uniformly drawn neighbour at
    every step. Every node must have a neighbour."""
    deg = np.diff(indptr)
    if (deg[starts] == 0).any() if len(starts) else False:
        raise ValueError("random_walks: a start node has no neighbour")
    walks = np.empty((len(starts), length), dtype=np.int64)
    cur = np.asarray(starts, dtype=np.int64)
    walks[:, 0] = cur
    for t in range(1, length):
        off = np.floor(rng.random(len(cur)) * deg[cur]).astype(np.int64)
        cur = indices[indptr[cur] + np.minimum(off, deg[cur] - 1)]
        walks[:, t] = cur
    return walks


def draw_walks(n_nodes: int, indptr, indices, count: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """`count` walks from uniformly drawn start nodes (NetGAN's source node choice)."""
    return random_walks(indptr, indices, rng.integers(0, n_nodes, size=count), length, rng)


@dataclass(frozen=True)
class _Graph:
    n: int
    train_edges: np.ndarray
    heldout_edges: np.ndarray
    heldout_non_edges: np.ndarray
    nodes: tuple
    blocks: Optional[np.ndarray]


_CACHE: Dict[GraphParams, _Graph] = {}


def graph_data(p: GraphParams) -> _Graph:
    """The graph and its held-out split, built once per process per params."""
    if p not in _CACHE:
        n, edges, nodes, blocks = to_edges(p)
        rng = np.random.default_rng([int(p.graph_seed), 7])
        tr, he, hn = split_edges(n, edges, p.heldout, rng)
        _CACHE[p] = _Graph(n, tr, he, hn, tuple(nodes), blocks)
    return _CACHE[p]


class FreshWalks:
    """The transform that replaces a training batch by fresh walks: a pure function of (seed, batch index)
    and the batch's size (NetGAN draws new walks every step)."""

    def __init__(self, n: int, indptr: np.ndarray, indices: np.ndarray, length: int):
        self.n, self.indptr, self.indices, self.length = n, indptr, indices, length

    def __call__(self, x: torch.Tensor, seed: int, k: int) -> torch.Tensor:
        rng = np.random.default_rng([int(seed), int(k), 0x6e6574])
        w = draw_walks(self.n, self.indptr, self.indices, len(x), self.length, rng)
        return torch.from_numpy(w).to(x.device)


@DATASETS.register("graph", params=GraphParams, metrics=("graph",))
def graph(params: GraphParams, split: str, seed: int = 0) -> ArrayDataset:
    """Random walks of length 16 on a graph (networkx's or a file's), with held-out edges for link prediction."""
    check_split(split)
    g = graph_data(params)
    indptr, indices = csr(g.n, g.train_edges)
    count = params.n_walks if split == "train" else max(params.n_walks // 5, 1)
    rng = np.random.default_rng([int(params.graph_seed), 0 if split == "train" else 1, 11])
    walks = draw_walks(g.n, indptr, indices, count, params.walk_length, rng)
    info = {"graph": {"name": params.graph, "n_nodes": g.n, "train_edges": g.train_edges,
                      "heldout_edges": g.heldout_edges, "heldout_non_edges": g.heldout_non_edges,
                      "blocks": g.blocks, "nodes": g.nodes}}
    fresh = FreshWalks(g.n, indptr, indices, params.walk_length) if params.fresh_walks and split == "train" else None
    return ArrayDataset(x=torch.from_numpy(walks), kind="tokens", vocab_size=g.n, transform=fresh, info=info)
