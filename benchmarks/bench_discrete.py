"""GANs for discrete data and sequences (issue 9), with the published numbers
beside them:

- binary: binarized digits at a fixed budget (the bgan-binary-digits preset's
  nets and steps): BGAN with JS/GAN weights and with reverse-KL weights,
  REINFORCE BGAN, WGAN-GP on sigmoid (two-way softmax) outputs, and
  Gumbel-softmax; digits-FID and precision/recall against the binarized
  training digits (the BGAN paper: BGAN beats the WGAN-GP relaxation);
- oracle: the SeqGAN synthetic benchmark (vocabulary, length, sequences as
  given; the published setting is 5000, 20, 10,000): oracle NLL of MLE (the
  pretraining), SeqGAN, MaliGAN / BGAN and ScratchGAN-style, with the
  oracle's entropy estimate (the floor) and the published MLE 9.038 / SeqGAN
  8.736 (goal: every adversarial method at or below the MLE it starts from);
- text: characters of a real text file (default: the licence texts in
  /usr/share/common-licenses, English prose): test NLL of text-mle, and
  BLEU-2..5 / self-BLEU / in-vocabulary words of text-mle and text-gan.

    python benchmarks/bench_discrete.py [--parts binary,oracle,text] [--seeds 3] [--jobs 2]
                                        [--vocab 5000] [--adv-steps 100] [--text FILE]

Runs train in temporary folders (one thread each, --jobs at a time) and are
scored there; nothing is kept. The oracle part trains the MLE baseline first
and starts SeqGAN's and MaliGAN's adversarial phase from it (train.init_from),
as their pretraining, so "vs its MLE start" is the change the adversarial
phase makes.
"""
from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import ganscape

BINARY = {
    "BGAN, GAN/JS weights (bgan-binary-digits)": [],
    "BGAN, reverse-KL weights": ["loss=f-gan", "loss.params.divergence=reverse-kl",
                                 "method.params.divergence=reverse-kl"],
    "BGAN, REINFORCE": ["method.params.estimator=reinforce"],
    "WGAN-GP on sigmoid outputs": ["method=relaxed", "loss=wasserstein", "penalties=[{name: gp}]",
                                   "optim.generator.params.betas=[0.5, 0.9]",
                                   "optim.discriminator.params.betas=[0.5, 0.9]"],
    "Gumbel-softmax": ["method=relaxed", "method.params.relaxation=gumbel"],
}


def _train(preset, seed, overrides, tmp):
    import torch
    torch.set_num_threads(1)
    return ganscape.train(preset, overrides=[f"seed={seed}", "train.progress=false", "train.sample_every=0",
                                             "eval.metrics=[]", *overrides], run_dir=Path(tmp) / "run")


def binary_run(args):
    name, seed, steps, n = args
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        run = _train("bgan-binary-digits", seed, BINARY[name] + ([f"train.steps={steps}"] if steps else []), tmp)
        secs = time.perf_counter() - t0
        r = ganscape.evaluate(run, metrics="fid,prdc", n=n, record=False)["results"]
        return {"fid": r["fid"], "precision": r["precision"], "recall": r["recall"], "seconds": secs}


def oracle_run(args):
    """One oracle run in `folder` (kept: the adversarial runs start from the MLE run's checkpoint)."""
    preset, seed, over, folder = args
    import torch
    from ganscape.train import rundir
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    run = ganscape.train(preset, overrides=[f"seed={seed}", "train.progress=false", "train.sample_every=0",
                                            *over], run_dir=Path(folder))
    secs = time.perf_counter() - t0
    curve = [(r["step"], r["results"]["oracle_nll"]) for r in rundir.read_jsonl(run / "metrics.jsonl")]
    final = ganscape.evaluate(run, metrics="oracle-nll", n=10000, record=False)["results"]["oracle_nll"]
    return {"curve": curve, "final": final, "seconds": secs}


def text_run(args):
    preset, seed, over, folder = args
    import torch
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    run = ganscape.train(preset, overrides=[f"seed={seed}", "train.progress=false", "train.sample_every=0",
                                            "eval.metrics=[]", *over], run_dir=Path(folder))
    secs = time.perf_counter() - t0
    r = ganscape.evaluate(run, metrics="test-nll,bleu,self-bleu,in-vocab-words,ngram-diversity", n=500,
                          split="test", record=False)["results"]
    samples = ganscape.sample(run, n=3, seed=1)
    from ganscape.data.text import decode
    r["examples"] = decode(samples, ganscape.api.data_info(run))
    r["seconds"] = secs
    return r


def _ms(vals, d=2):
    return (f"{statistics.mean(vals):7.{d}f} +- {statistics.stdev(vals):5.{d}f}" if len(vals) > 1
            else f"{vals[0]:7.{d}f}")


def part_binary(a, pool):
    print(f"\n== binarized digits, {a.seeds} seeds, {a.steps or 'preset'} steps, FID/PR at n = {a.n}")
    jobs = [(name, s, a.steps, a.n) for name in BINARY for s in a.seed_list]
    out = pool.map(binary_run, jobs)
    by = {name: [o for (nm, *_), o in zip(jobs, out) if nm == name] for name in BINARY}
    print(f"  {'method':44s} {'digits-FID':>16s} {'precision':>8s} {'recall':>8s} {'s/run':>6s}")
    for name, rs in by.items():
        print(f"  {name:44s} {_ms([r['fid'] for r in rs]):>16s} {statistics.mean(r['precision'] for r in rs):8.3f} "
              f"{statistics.mean(r['recall'] for r in rs):8.3f} {statistics.mean(r['seconds'] for r in rs):6.0f}")
        per_seed = ", ".join(f"{r['fid']:.2f}" for r in rs)
        print(f"    per seed FID: {per_seed}")
    print("  published (Hjelm et al. 2018, binarized MNIST): BGAN's samples beat the WGAN-GP relaxation's")


def part_oracle(a, pool):
    from ganscape.data.oracle import OracleParams, oracle_data
    import torch
    p = OracleParams(vocab_size=a.vocab, n_train=a.n_train)
    o, train, _ = oracle_data(p)
    floor = o.entropy_rate_estimate(10000, torch.Generator().manual_seed(0))
    print(f"\n== oracle: vocabulary {a.vocab}, length 20, {a.n_train} sequences; oracle NLL of 10,000 samples")
    print(f"  the oracle's own samples (entropy estimate, the floor): {floor:.3f}", flush=True)
    data = [f"data.params.vocab_size={a.vocab}", f"data.params.n_train={a.n_train}"]
    work = Path(tempfile.mkdtemp(prefix="ganscape-bench-oracle-"))
    pre = a.pretrain
    # 1. the MLE baseline, which is also the pretraining of SeqGAN and MaliGAN (train.init_from)
    mle_jobs = [("mle-oracle", s, data + [f"train.steps={pre}", f"eval.every={max(pre // 6, 1)}"],
                 str(work / f"mle-{s}")) for s in a.seed_list]
    # ScratchGAN needs no pretraining: it starts first and runs beside the MLE and adversarial runs
    scratch_jobs = [("scratchgan-oracle", s, data + [f"train.steps={a.scratch_steps}",
                                                      f"eval.every={max(a.scratch_steps // 6, 1)}"],
                     str(work / f"scratchgan-{s}")) for s in a.seed_list if a.scratch_steps]
    scratch = pool.map_async(oracle_run, scratch_jobs)
    out = pool.map(oracle_run, mle_jobs)
    results = {j[0] + str(j[1]): o_ for j, o_ in zip(mle_jobs, out)}
    # 2. the adversarial phase from each seed's MLE checkpoint
    adv = ["method.params.pretrain_g=0", f"method.params.pretrain_d={a.pretrain_d}",
           f"train.steps={a.pretrain_d + a.adv_steps}", f"eval.every={max(a.adv_steps // 5, 1)}",
           f"model.discriminator.arch.params.width={a.d_width}", f"optim.discriminator.params.lr={a.d_lr}",
           f"optim.generator.params.lr={a.adv_g_lr}"]
    adv_jobs = [(m, s, data + adv + [f"train.init_from={work / f'mle-{s}'}"], str(work / f"{m}-{s}"))
                for m in ("seqgan-oracle", "maligan-oracle") for s in a.seed_list]
    out = pool.map(oracle_run, adv_jobs)
    results.update({j[0] + str(j[1]): o_ for j, o_ in zip(adv_jobs, out)})
    results.update({j[0] + str(j[1]): o_ for j, o_ in zip(scratch_jobs, scratch.get())})
    mle_final = [results[f"mle-oracle{s}"]["final"] for s in a.seed_list]
    print(f"  SeqGAN / MaliGAN: D {a.pretrain_d} pretraining steps, then {a.adv_steps} adversarial steps; "
          f"D width {a.d_width}, D lr {a.d_lr:g}, G lr {a.adv_g_lr:g} (fresh Adam from the MLE weights); "
          f"SeqGAN's rollouts by the current G")
    print(f"  {'method':18s} {'oracle NLL':>16s}  {'above the floor':>16s}  {'vs its MLE start':>16s}  s/run")
    for preset in ("mle-oracle", "seqgan-oracle", "maligan-oracle", "scratchgan-oracle"):
        rs = [results[f"{preset}{s}"] for s in a.seed_list if f"{preset}{s}" in results]
        if not rs:
            continue
        delta = ""
        if preset in ("seqgan-oracle", "maligan-oracle"):
            delta = _ms([r["final"] - m for r, m in zip(rs, mle_final)], 3)
        print(f"  {preset:18s} {_ms([r['final'] for r in rs], 3):>16s}  {_ms([r['final'] - floor for r in rs], 3):>16s}  "
              f"{delta:>16s}  {statistics.mean(r['seconds'] for r in rs):5.0f}")
        for r in rs:
            print("    curve (n = 2000 per point): " + ", ".join(f"{s}: {v:.3f}" for s, v in r["curve"]))
    print("  published (vocabulary 5000, length 20; SeqGAN's oracle, floor 5.749): random 10.310, MLE 9.038, "
          "SeqGAN 8.736 (Yu et al. 2017); above that floor: 4.561, 3.289, 2.987")
    import shutil
    shutil.rmtree(work, ignore_errors=True)


GRAMMAR = {
    "det": ["the", "a", "every", "one", "that"],
    "adj": ["quiet", "green", "heavy", "brave", "tiny", "old", "bright", "lazy"],
    "noun": ["otter", "lantern", "farmer", "river", "pebble", "violin", "garden", "sailor", "kettle", "meadow"],
    "verb": ["finds", "follows", "paints", "carries", "admires", "hides", "watches", "builds"],
    "prep": ["near", "under", "behind", "beside", "across"],
}


def grammar_sentences(n: int, seed: int = 0):
    """n sentences of a small English-like grammar (none of these words is
    in any text ganscape's presets were tuned on):
        S -> NP verb NP [prep NP] ;  NP -> det [adj] [adj] noun"""
    import random
    r = random.Random(seed)

    def np_():
        adjs = r.sample(GRAMMAR["adj"], r.choice((0, 0, 1, 1, 2)))
        return " ".join([r.choice(GRAMMAR["det"]), *adjs, r.choice(GRAMMAR["noun"])])
    out = []
    for _ in range(n):
        words = [np_(), r.choice(GRAMMAR["verb"]), np_()]
        if r.random() < 0.4:
            words += [r.choice(GRAMMAR["prep"]), np_()]
        out.append(" ".join(words) + ".")
    return out


def part_grammar(a, pool):
    """The text presets as shipped on a text they were not tuned on: 2000
    sentences of a small grammar, one per line (issue 17, item 27)."""
    path = Path(tempfile.gettempdir()) / "ganscape-bench-grammar.txt"
    path.write_text("\n".join(grammar_sentences(a.grammar_sentences, seed=0)) + "\n")
    words = {w for s in grammar_sentences(a.grammar_sentences, seed=0) for w in s.rstrip(".").split()}
    print(f"\n== grammar text: {a.grammar_sentences} sentences of a small grammar ({len(words)} words), "
          f"{len(path.read_text())} characters; presets as shipped: "
          f"ganscape train --preset PRESET --set data.params.path={path}")
    work = Path(tempfile.mkdtemp(prefix="ganscape-bench-grammar-"))
    jobs = [(preset, s, [f"data.params.path={path}"], str(work / f"{preset}-{s}"))
            for preset in ("text-mle", "text-gan") for s in a.seed_list]
    out = pool.map(shipped_text_run, jobs)
    keys = ("test_nll", "in_vocab_words", "valid_sentences", "bleu2", "bleu4", "self_bleu4", "distinct2")
    for (preset, s, *_), r in zip(jobs, out):
        for which in ("latest", "best"):
            if which not in r:
                continue
            v = r[which]
            print(f"  {preset} seed {s} {which} (step {v['step']}; {r['seconds']:.0f} s training):  " +
                  "  ".join(f"{k} {v[k]:.4f}" for k in keys))
            for e in v["examples"]:
                print(f"    sample: {e[:64]!r}")
    import shutil
    shutil.rmtree(work, ignore_errors=True)


def shipped_text_run(args):
    """A text preset trained as shipped (only the data path set), scored at
    its latest checkpoint and at best.pt where its evaluation chose one."""
    preset, seed, over, folder = args
    import torch
    from ganscape.data.text import decode
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    run = ganscape.train(preset, overrides=[f"seed={seed}", "train.progress=false", *over], run_dir=Path(folder))
    out = {"seconds": time.perf_counter() - t0}
    words = {w for line in Path(over[0].split("=", 1)[1]).read_text().splitlines() for w in line.rstrip(".").split()}
    for which in ("latest", "best"):
        if not (run / "checkpoints" / f"{which}.pt").exists():
            continue
        r = ganscape.evaluate(run, metrics="test-nll,bleu,self-bleu,in-vocab-words,ngram-diversity", n=500,
                              split="test", checkpoint=which, record=False)
        v = dict(r["results"])
        v["step"] = r.get("step")
        texts = decode(ganscape.sample(run, n=500, seed=1, checkpoint=which), ganscape.api.data_info(run))
        lines = [ln for t in texts for ln in t.split("\n")[1:-1]]    # whole lines inside each window
        v["valid_sentences"] = (sum(grammatical(ln, words) for ln in lines) / len(lines)) if lines else 0.0
        v["examples"] = texts[:3]
        out[which] = v
    return out


def grammatical(line: str, words) -> bool:
    """Whether a line is a sentence of GRAMMAR (S -> NP verb NP [prep NP] .)."""
    if not line.endswith("."):
        return False
    toks = line[:-1].split(" ")
    i = 0

    def np_(i):
        if i >= len(toks) or toks[i] not in GRAMMAR["det"]:
            return -1
        i += 1
        k = 0
        while i < len(toks) and toks[i] in GRAMMAR["adj"] and k < 2:
            i, k = i + 1, k + 1
        return i + 1 if i < len(toks) and toks[i] in GRAMMAR["noun"] else -1
    i = np_(0)
    if i < 0 or i >= len(toks) or toks[i] not in GRAMMAR["verb"]:
        return False
    i = np_(i + 1)
    if i == len(toks):
        return True
    if i < 0 or toks[i] not in GRAMMAR["prep"]:
        return False
    return np_(i + 1) == len(toks)


def part_text(a, pool):
    path = a.text
    if not path:
        files = sorted(p for p in Path("/usr/share/common-licenses").glob("*") if p.is_file() and not p.is_symlink())
        path = str(Path(tempfile.gettempdir()) / "ganscape-bench-licenses.txt")
        Path(path).write_text("\n".join(f.read_text(errors="replace") for f in files))
    n_chars = len(Path(path).read_text())
    print(f"\n== text: characters of {path} ({n_chars} characters), windows of 64, test = last 10%; "
          f"text-gan from the text-mle run: {a.text_gan_steps} steps (D pretraining first), G lr {a.text_gan_lr:g}")
    data = [f"data.params.path={path}"]
    work = Path(tempfile.mkdtemp(prefix="ganscape-bench-text-"))
    # text-gan's pretraining is the text-mle run itself (train.init_from), then D pretraining and MaliGAN
    mle = [("text-mle", s, data, str(work / f"mle-{s}")) for s in a.seed_list]
    gan = [("text-gan", s, data + [f"train.init_from={work / f'mle-{s}'}", "method.params.pretrain_g=0",
                                   f"train.steps={a.text_gan_steps}",
                                   f"optim.generator.params.lr={a.text_gan_lr}"], str(work / f"gan-{s}"))
           for s in a.seed_list]
    out = pool.map(text_run, mle) + pool.map(text_run, gan)
    jobs = mle + gan
    for preset in ("text-mle", "text-gan"):
        rs = [o_ for (pr, *_), o_ in zip(jobs, out) if pr == preset]
        keys = ("test_nll", "bleu2", "bleu3", "bleu4", "bleu5", "self_bleu2", "self_bleu4", "in_vocab_words",
                "distinct2")
        print(f"  {preset} ({statistics.mean(r['seconds'] for r in rs):.0f} s/run):")
        for k in keys:
            vals = [r[k] for r in rs]
            print(f"    {k:16s} {statistics.mean(vals):.4f}" + (f" +- {statistics.stdev(vals):.4f}" if len(vals) > 1 else ""))
        for e in rs[0]["examples"]:
            print(f"    sample: {e[:64]!r}")
    import shutil
    shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="binary,oracle,text")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=0, help="binary: steps (0: the preset's)")
    ap.add_argument("--n", type=int, default=1000, help="binary: samples for FID and PR")
    ap.add_argument("--vocab", type=int, default=5000)
    ap.add_argument("--n-train", type=int, default=10000)
    ap.add_argument("--pretrain", type=int, default=3000, help="oracle: MLE steps (and the MLE run's length)")
    ap.add_argument("--pretrain-d", type=int, default=150)
    ap.add_argument("--d-width", type=float, default=0.2, help="oracle: seq-cnn width of SeqGAN/MaliGAN's D")
    ap.add_argument("--d-lr", type=float, default=1e-3, help="oracle: D's learning rate (SeqGAN: 1e-4)")
    ap.add_argument("--adv-g-lr", type=float, default=1e-3,
                    help="oracle: G's learning rate in the adversarial phase (SeqGAN: 1e-2, as its MLE)")
    ap.add_argument("--adv-steps", type=int, default=60)
    ap.add_argument("--scratch-steps", type=int, default=3000, help="oracle: ScratchGAN's steps (0: skip it)")
    ap.add_argument("--text-gan-steps", type=int, default=400,
                    help="text: text-gan's steps after the text-mle run (D pretraining + adversarial)")
    ap.add_argument("--text-gan-lr", type=float, default=2e-4,
                    help="text: G's learning rate in text-gan's adversarial phase (fresh Adam from the MLE weights)")
    ap.add_argument("--text", default="", help="text: a UTF-8 file (default: the licence texts on Debian)")
    ap.add_argument("--grammar-sentences", type=int, default=2000, help="grammar: sentences in the held-out text")
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    a = ap.parse_args()
    a.seed_list = list(range(a.first_seed, a.first_seed + a.seeds))
    t0 = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(a.jobs) as pool:
        for part in a.parts.split(","):
            {"binary": part_binary, "oracle": part_oracle, "text": part_text,
             "grammar": part_grammar}[part.strip()](a, pool)
            print(f"  ({time.perf_counter() - t0:.0f} s so far)", flush=True)


if __name__ == "__main__":
    main()
