"""Benchmark (c) of issue 21: NetGAN (Bojchevski et al. 2018) on a stochastic block model and on Les
Miserables: the graph assembled from generated walks next to the training graph.

    python benchmarks/bench_netgan.py                                  # 2 runs of the netgan-sbm preset
    python benchmarks/bench_netgan.py --steps 1000 --runs /tmp/netgan  # keeps the runs (reused when present)
    python benchmarks/bench_netgan.py --graphs sbm --steps 3000         # the preset's own length, SBM only
    python benchmarks/bench_netgan.py --table docs/bench_netgan.txt --figure docs/netgan_graphs.png

For each graph (the preset's SBM: 4 blocks of 25, p_in 0.3, p_out 0.02; and networkx's Les Miserables,
77 nodes, 254 edges; 10% of the edges held out with as many non-edges), the preset as shipped is trained
for --steps steps (its evaluator scores 3000 generated walks every --eval-every steps: the curves),
then --walks walks are drawn from the final generator and assembled into a graph by NetGAN's edge
sampling with the training graph's edge count. Rows of the table:

- training graph: the statistics of the graph NetGAN is trained on (the target);
- walks of the training graph: --walks walks drawn from the training graph itself, assembled the same
  way (what a generator that had learnt the walk distribution exactly would give; its edge overlap is
  the ceiling of the procedure, its link AUC ~0.5 since a held-out edge is never walked);
- NetGAN, step 0: the untrained generator (the floor);
- NetGAN, final step.

Columns: edge overlap with the training graph (EO), Wasserstein-1 distance of the degree
distributions, max degree, triangles, global clustering (transitivity), degree assortativity,
characteristic path length, the largest component's size, block recovery (adjusted Rand index of a
spectral clustering vs the true blocks; SBM only) and link prediction from the score matrix (ROC AUC
and average precision on the held-out edges vs non-edges).

For context (not comparable: another, larger graph and far longer training), NetGAN's own link
prediction on Cora-ML is quoted in docs/bench_netgan.txt from the authors' notebook.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import ganscape
from ganscape.data.graphs import GraphParams, csr, draw_walks, graph_data
from ganscape.metrics import graphs as gm
from ganscape.metrics.sequences import generate_tokens
from ganscape.train import rundir

GRAPHS = {"sbm": [], "les-miserables": ["data.params.graph=les-miserables"]}
COLS = ("edge_overlap", "degree_w1", "max_degree", "triangles", "clustering", "assortativity", "path_length",
        "lcc", "block_ari", "lp_auc", "lp_ap")
HEAD = ("EO", "deg W1", "dmax", "tri", "clust", "assort", "path", "LCC", "ARI", "AUC", "AP")


def train(name: str, steps: int, eval_every: int, runs: Path, threads: int):
    """(run folder, seconds its training took): reused when a finished run of `steps` is there."""
    run = runs / name
    took = run / "bench_seconds.txt"
    if (run / rundir.CHECKPOINTS / "latest.pt").exists() and rundir.read_status(run).get("step") == steps \
            and took.exists():
        return run, float(took.read_text())
    over = GRAPHS[name] + [f"train.steps={steps}", f"eval.every={eval_every}", "eval.n=3000",
                           f"train.checkpoint_every={steps}", "train.progress=true", f"train.threads={threads}"]
    t = time.time()
    run = ganscape.train("netgan-sbm", overrides=over, run_dir=run)
    took.write_text(f"{time.time() - t:.1f}\n")
    return run, time.time() - t


def real_row(info) -> dict:
    n = int(info["n_nodes"])
    A = gm.adjacency(n, info["train_edges"])
    row = gm.graph_statistics(A)
    row.update(edge_overlap=1.0, degree_w1=0.0)
    if info.get("blocks") is not None:
        row["block_ari"] = gm.block_ari(A, np.asarray(info["blocks"]))
    return row


def fmt(row: dict) -> str:
    out = []
    for c in COLS:
        v = row.get(c)
        if v is None:
            out.append(f"{'-':>7}")
        elif c in ("max_degree", "triangles", "lcc"):
            out.append(f"{v:7.0f}")
        else:
            out.append(f"{v:7.3f}")
    return " ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--walks", type=int, default=20000, help="generated walks for the final graph")
    ap.add_argument("--runs", type=Path, default=Path("/tmp/bench_netgan"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--graphs", default=",".join(GRAPHS), help=f"comma-separated, of {', '.join(GRAPHS)}")
    ap.add_argument("--table", type=Path)
    ap.add_argument("--figure", type=Path)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    lines, fig_data, trained, scoring = [], {}, 0.0, 0.0
    names = [g for g in a.graphs.split(",") if g]
    bad = [g for g in names if g not in GRAPHS]
    if bad:
        ap.error(f"--graphs: {', '.join(bad)} unknown; choose from {', '.join(GRAPHS)}")
    for name in names:
        run, secs = train(name, a.steps, a.eval_every, a.runs, a.threads)
        trained += secs
        t_score = time.time()
        cfg = ganscape.load_run(run)
        p = GraphParams(**dict(cfg.data.params))
        g = graph_data(p)
        info = {"n_nodes": g.n, "train_edges": g.train_edges, "heldout_edges": g.heldout_edges,
                "heldout_non_edges": g.heldout_non_edges, "blocks": g.blocks}
        rows = [("training graph", real_row(info))]
        indptr, indices = csr(g.n, g.train_edges)
        ref = draw_walks(g.n, indptr, indices, a.walks, p.walk_length, np.random.default_rng(1))
        rows.append(("walks of the training graph", gm.compare_graph(ref, info)))
        G = ganscape.load_generator(run)
        G0 = ganscape.load_generator(run)
        torch.manual_seed(cfg.seed)                        # the untrained generator: the run's own init
        from ganscape.train.state import DataSpec, build_state, load_data
        G0.load_state_dict(build_state(cfg, DataSpec.of(load_data(cfg)), torch.device("cpu"))[0].nets["G"]
                           .state_dict())
        w0 = generate_tokens(G0.eval(), a.walks, seed=2).numpy()
        rows.append(("NetGAN, step 0", gm.compare_graph(w0, info)))
        w = generate_tokens(G, a.walks, seed=2).numpy()
        final = gm.compare_graph(w, info)
        rows.append((f"NetGAN, step {a.steps}", final))
        lines.append(f"{name}: {g.n} nodes, {len(g.train_edges)} training edges, {len(g.heldout_edges)} held-out "
                     f"edges and as many non-edges; trained {a.steps} steps in {secs:.0f} s")
        lines.append(f"{'':30s} " + " ".join(f"{h:>7}" for h in HEAD))
        lines += [f"{label:30s} {fmt(r)}" for label, r in rows]
        lines.append("")
        curve = [(r["step"], r["results"]) for r in rundir.read_jsonl(run / rundir.METRICS)
                 if r.get("source") == "train" and "results" in r]
        A_real = gm.adjacency(g.n, g.train_edges)
        A_gen = gm.assemble_graph(gm.score_matrix(w, g.n), len(g.train_edges), np.random.default_rng(0))
        fig_data[name] = (A_real, A_gen, curve, g.blocks)
        scoring += time.time() - t_score
    lines.append(f"training {trained:.0f} s in all (--threads {a.threads}), scoring {scoring:.0f} s; "
                 f"{a.walks} walks for each final graph")
    text = "\n".join(lines)
    print(text)
    if a.table:
        a.table.write_text(HEADER + text + "\n" + CONTEXT)
    if a.figure:
        figure(fig_data, a.figure)


HEADER = ("NetGAN (benchmarks/bench_netgan.py): the graph assembled from generated walks vs the training graph\n"
          "EO edge overlap; deg W1 degree distributions' Wasserstein-1; clust transitivity; path characteristic "
          "path length;\nARI block recovery (spectral clustering, SBM); AUC / AP link prediction on held-out edges "
          "from the score matrix\n\n")

CONTEXT = ("\nFor context (another graph and scale, not comparable): NetGAN's link prediction on Cora-ML, the\n"
           "authors' pretrained model in their notebook link_prediction_pretrained.ipynb (github.com/danielzuegner/\n"
           "netgan; 10^4 x 10^4 = 10^8 generated walks of 16, 5% of the edges held out as the test set):\n"
           "ROC AUC 0.951, AP 0.952. The paper's own link prediction table (Bojchevski et al. 2018) was not\n"
           "found with the search tool and is not quoted.\n")


def figure(data: dict, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(data), 3, figsize=(13, 4.2 * len(data)))
    for row, (name, (A_real, A_gen, curve, blocks)) in zip(np.atleast_2d(axes), data.items()):
        order = np.argsort(blocks, kind="stable") if blocks is not None else \
            np.argsort(-A_real.sum(1), kind="stable")
        for ax, A, title in ((row[0], A_real, "training graph"), (row[1], A_gen, "assembled from NetGAN's walks")):
            ax.imshow(A[np.ix_(order, order)], cmap="Greys", interpolation="nearest")
            ax.set_title(f"{name}: {title}\n({int(A.sum() / 2)} edges)", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
        ax = row[2]
        steps = [s for s, _ in curve]
        for key, label in (("edge_overlap", "edge overlap"), ("lp_auc", "link AUC"), ("block_ari", "block ARI")):
            vals = [r.get(key) for _, r in curve]
            if any(v is not None for v in vals):
                ax.plot(steps, vals, marker="o", label=label)
        ax.set_xlabel("step")
        ax.set_ylim(-0.1, 1)
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_title(f"{name}: during training\n(3000 generated walks each)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
