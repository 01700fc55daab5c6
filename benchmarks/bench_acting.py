"""The recipes that act, against the published figures and their goals
(issue 18; REFERENCES.md, "Acting"):

- gail: GAIL and behaviour cloning with 1 / 4 / 7 / 10 expert trajectories on
  classic control (the shipped demonstrations; Ho & Ermon's protocol:
  subsampled trajectories, 50 evaluation episodes), as the presets ship
  (gail-cartpole, gail-acrobot, gail-mountaincar, bc-cartpole; the task's
  preset with env and data changed for BC elsewhere), each over --seeds
  seeds: the final return (the run's last checkpoint, 50 fixed-seed
  episodes), the environment steps and seconds until a training iteration's
  episodes first average >= 95% of the expert's return. Goal: >= 95% of the
  expert's return from 1 trajectory within 300k environment steps.
- vime: trpo (eta 0), l2 (prediction-error bonus) and vime on the sparse tasks
  (vime-mountaincar, vime-cartpole-swingup), --seeds seeds each: a seed
  "solves" the task when the evaluation's success rate at the end is >= 0.5
  (20 fixed-seed episodes). Goal: VIME solves in >= 4 of 5 seeds where plain
  TRPO solves <= 1. Curves: success rate of the training episodes against
  environment steps, in --figure.
- sb3: ganscape's PPO and TRPO against stable-baselines3's PPO and
  sb3-contrib's TRPO (installed separately: pip install -e '.[bench]'; a
  development-time cross-check only) on CartPole-v1 and Pendulum-v1 at equal
  environment steps and settings: final returns and seconds per 1000
  environment steps, side by side in one process.
- mujoco: benchmark (b) on Hopper-v5: with --mujoco-expert, expert-hopper
  trained and 11 episodes of its best checkpoint recorded (else the shipped
  ones, made that way); gail-hopper as shipped from 4 and 11 of them; the
  last checkpoint's return over 50 episodes; curves in --figure. Its runs
  are kept (--mujoco-out).
- imitation: HumanCompatibleAI imitation 1.0.1's GAIL with its tutorial's
  settings (benchmarks/imitation_gail.py, run in a virtual environment of its
  own that this part makes on first use: its pins conflict with current
  gymnasium) on the same shipped CartPole-v1 demonstrations at the same
  environment-step budget as gail-cartpole (300k).

    python benchmarks/bench_acting.py --parts gail [--tasks cartpole,acrobot,mountaincar] [--seeds 3] [--jobs 2]
                                      [--trajectories 1,4,7,10]
    python benchmarks/bench_acting.py --parts vime [--seeds 5] [--steps 60] --figure docs/vime_curves.png
    python benchmarks/bench_acting.py --parts mujoco [--mujoco-expert] [--seeds 1] --figure docs/gail_hopper.png
    python benchmarks/bench_acting.py --parts imitation [--trajectories 1,4,10] [--seeds 3] [--imitation-steps 300000]
    python benchmarks/bench_acting.py --parts sb3 [--seeds 3] [--env-steps 100000] [--pendulum-steps 300000]
                                      [--sb3-cases cartpole:ppo,pendulum:ppo,cartpole:trpo,pendulum:trpo]

Each run trains in a temporary folder with one thread (repeatable seeds) and
is scored there; nothing is kept.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

import ganscape

GAIL = {"cartpole": "gail-cartpole", "acrobot": "gail-acrobot", "mountaincar": "gail-mountaincar"}
ENV = {"cartpole": "CartPole-v1", "acrobot": "Acrobot-v1", "mountaincar": "MountainCar-v0"}
SUBSAMPLE = {"cartpole": 10, "acrobot": 5, "mountaincar": 5}
# Ho & Ermon 2016 (old gym v0 tasks: CartPole has 200 steps there, 500 here)
PUBLISHED = {"cartpole": ("200.0", "72.0 / 169.2 / 188.6 / 177.2", "200.0 at every size"),
             "acrobot": ("-75.3", "-130.6 / -93.2 / -96.9 / -95.1", "-77.3 / -83.1 / -82.6 / -78.9"),
             "mountaincar": ("-98.8", "-136.8 / -133.3 / -127.3 / -123.1", "-101.6 / -101.4 / -99.9 / -100.8")}
VIME = {"mountaincar": "vime-mountaincar", "swingup": "vime-cartpole-swingup", "halfcheetah": "vime-halfcheetah"}
VARIANTS = {"trpo": ["method.params.eta=0"], "l2": ["method.params.bonus=l2"], "vime": []}


def _train(preset: str, overrides, tmp: str) -> Path:
    import torch
    torch.set_num_threads(1)
    return ganscape.train(preset, overrides=["train.progress=false", "train.threads=1", *overrides],
                          run_dir=Path(tmp) / "run")


def _curve(run: Path):
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines() if line.strip()]
    return rows


def gail_run(args):
    task, method, traj, seed, steps = args
    from ganscape.metrics.returns import evaluate_policy
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        over = [f"seed={seed}", f"data.params.trajectories={traj}", "train.checkpoint_every=0", "eval.metrics=[]"]
        if steps:
            over.append(f"train.steps={steps}")
        if method == "bc":  # bc-cartpole's settings on the task's demonstrations
            preset = "bc-cartpole"
            over = [o for o in over if not o.startswith("train.steps")]
            over += [f"env.id={ENV[task]}", f"data.params.env={ENV[task]}", f"data.params.subsample={SUBSAMPLE[task]}"]
            if task != "cartpole":  # short expert episodes (Acrobot: 64-130 steps, every 5th: 12-26 pairs)
                over += ["train.batch_size=8", "env.normalize_obs=demos"]  # as gail-acrobot / -mountaincar
        else:
            preset = GAIL[task]
        run = _train(preset, over, tmp)
        seconds = time.time() - t0
        cfg = ganscape.load_run(run)
        from ganscape.api import load_generator
        pi = load_generator(run, "latest")
        res = evaluate_policy(pi, cfg, ["return"], metric_params={"return": {"episodes": 50}})["results"]
        rows = _curve(run)
        from ganscape.train.state import load_data
        expert = load_data(cfg, "train").info["expert_return"]
        hit = next((r for r in rows if "return" in r and r["return"] >= expert - 0.05 * abs(expert)), None)
        elapsed, hit_s = 0.0, None
        for r in rows:  # GAIL logs every iteration: the seconds of training steps until the hit
            elapsed += r.get("sec_per_step", 0.0)
            if hit is not None and r is hit and method == "gail":
                hit_s = elapsed
        return {"task": task, "method": method, "traj": traj, "seed": seed, "return": res["return"],
                "expert": expert, "seconds": seconds,
                "steps_to_95": int(hit["env_steps"]) if hit is not None and "env_steps" in hit else None,
                "seconds_to_95": hit_s, "env_steps": rows[-1].get("env_steps")}


def vime_run(args):
    task, variant, seed, steps = args
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        over = [f"seed={seed}", "train.checkpoint_every=0", *VARIANTS[variant]]
        if steps:
            over.append(f"train.steps={steps}")
        run = _train(VIME[task], over, tmp)
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        final = metrics[-1]["results"]
        rows = _curve(run)
        return {"task": task, "variant": variant, "seed": seed, "success": final["success_rate"],
                "return": final["return"], "seconds": time.time() - t0,
                "curve": [(r["env_steps"], r.get("success_rate", 0.0), r.get("return", 0.0)) for r in rows]}


def _mean_sd(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    return f"{statistics.mean(xs):.1f} +- {statistics.stdev(xs):.1f}" if len(xs) > 1 else f"{xs[0]:.1f}"


def part_gail(a, pool):
    tasks = a.tasks.split(",")
    sizes = [int(k) for k in a.trajectories.split(",")]
    jobs = [(t, m, k, s, a.steps) for t in tasks for m in ("gail", "bc") for k in sizes for s in range(a.seeds)]
    out = []
    for r in pool.imap_unordered(gail_run, jobs):  # one line per finished run, so a long part shows progress
        print(f"  {r['task']} {r['method']} {r['traj']} traj seed {r['seed']}: return {r['return']:.1f}, "
              f"{r['seconds']:.0f} s", flush=True)
        out.append(r)
    print("\n## GAIL and BC on classic control (return over 50 fixed-seed episodes, last checkpoint)")
    for t in tasks:
        rows = [r for r in out if r["task"] == t]
        expert = rows[0]["expert"]
        pub = PUBLISHED[t]
        print(f"\n{ENV[t]}: expert {expert:.1f} (published expert {pub[0]}; BC {pub[1]}; GAIL {pub[2]})")
        print("| method | trajectories | return | steps to 95% of expert (runs reaching it) | seconds to 95% | "
              "env steps | seconds |")
        print("|---|---|---|---|---|---|---|")
        for m in ("gail", "bc"):
            for k in sizes:
                sel = [r for r in rows if r["method"] == m and r["traj"] == k]
                reached = [r["steps_to_95"] for r in sel if r["steps_to_95"] is not None]
                print(f"| {m} | {k} | {_mean_sd([r['return'] for r in sel])} | "
                      f"{_mean_sd(reached) if m == 'gail' else '-'} ({len(reached)}/{len(sel)}) | "
                      f"{_mean_sd([r['seconds_to_95'] for r in sel]) if m == 'gail' else '-'} | "
                      f"{_mean_sd([r['env_steps'] for r in sel])} | {_mean_sd([r['seconds'] for r in sel])} |")
    return out


def part_vime(a, pool):
    tasks = a.vime_tasks.split(",")
    jobs = [(t, v, s, a.steps) for t in tasks for v in VARIANTS for s in range(a.seeds)]
    out = []
    for r in pool.imap_unordered(vime_run, jobs):
        print(f"  {r['task']} {r['variant']} seed {r['seed']}: success {r['success']:.2f}, {r['seconds']:.0f} s",
              flush=True)
        out.append(r)
    print("\n## VIME on the sparse tasks (solved: final success rate >= 0.5 over 20 fixed-seed episodes)")
    print("| task | variant | solved | success rate per seed | final return per seed | seconds |")
    print("|---|---|---|---|---|---|")
    for t in tasks:
        for v in VARIANTS:
            sel = [r for r in out if r["task"] == t and r["variant"] == v]
            solved = sum(r["success"] >= 0.5 for r in sel)
            per_seed = ", ".join(f"{r['success']:.2f}" for r in sel)
            returns = ", ".join(f"{r['return']:.1f}" for r in sel)
            print(f"| {t} | {v} | {solved} of {len(sel)} | {per_seed} | {returns} | "
                  f"{_mean_sd([r['seconds'] for r in sel])} |")
    if a.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        # top: the training episodes' success rate; bottom: their return (what the paper plots)
        fig, axes = plt.subplots(2, len(tasks), figsize=(5 * len(tasks), 6.4), squeeze=False)
        for col, t in enumerate(tasks):
            for row, (k, label) in enumerate(((1, "training episodes' success rate"), (2, "training episodes' return"))):
                ax = axes[row][col]
                for v, color in zip(VARIANTS, ("tab:gray", "tab:orange", "tab:blue")):
                    for i, r in enumerate([r for r in out if r["task"] == t and r["variant"] == v]):
                        xs = [c[0] for c in r["curve"]]
                        ax.plot(xs, [c[k] for c in r["curve"]], color=color, alpha=0.7, label=v if i == 0 else None)
                ax.set_title(VIME[t])
                ax.set_xlabel("environment steps")
                ax.set_ylabel(label)
                ax.legend()
        fig.tight_layout()
        fig.savefig(a.figure, dpi=100)
        print(f"figure: {a.figure}")
    return out


# (task, algorithm) -> the settings both sides run with: SB3's defaults for
# CartPole; for Pendulum the discount 0.9 and lr 1e-3 that rl-zoo uses (its
# gSDE exploration is left out: neither side has it here).
SB3_CASES = {
    ("cartpole", "ppo"): dict(env="CartPole-v1", n_steps=2048, gamma=0.99, lam=0.95, lr=3e-4, log_std=0.0),
    ("pendulum", "ppo"): dict(env="Pendulum-v1", n_steps=4096, gamma=0.9, lam=0.95, lr=1e-3, log_std=-0.5),
    ("cartpole", "trpo"): dict(env="CartPole-v1", n_steps=2048, gamma=0.99, lam=0.95, lr=1e-3, log_std=0.0),
    ("pendulum", "trpo"): dict(env="Pendulum-v1", n_steps=2048, gamma=0.9, lam=0.95, lr=1e-3, log_std=-0.5),
}


def _sb3_model(algo: str, c: dict, env, seed: int):
    """SB3's PPO or sb3-contrib's TRPO with the case's settings (2x64 tanh nets, as ganscape's)."""
    import torch
    kw = dict(seed=seed, device="cpu", verbose=0, n_steps=c["n_steps"], gamma=c["gamma"], gae_lambda=c["lam"],
              learning_rate=c["lr"], policy_kwargs={"net_arch": [64, 64], "activation_fn": torch.nn.Tanh,
                                                    **({"log_std_init": c["log_std"]} if c["log_std"] else {})})
    if algo == "ppo":
        import stable_baselines3 as sb3
        return sb3.PPO("MlpPolicy", env, batch_size=64, n_epochs=10, clip_range=0.2, **kw)
    import sb3_contrib
    # sb3-contrib's defaults: max KL 0.01, CG 15 steps with damping 0.1, line search x0.8 up to 10 times,
    # 10 critic updates of batches of 128 at the learning rate
    return sb3_contrib.TRPO("MlpPolicy", env, batch_size=128, **kw)


def _ganscape_overrides(algo: str, c: dict, iters: int, seed: int):
    common = [f"seed={seed}", f"env.id={c['env']}", "env.num_envs=1", f"method.params.algo={algo}",
              f"method.params.steps_per_iter={c['n_steps']}", f"method.params.gamma={c['gamma']}",
              f"method.params.lam={c['lam']}", f"method.params.init_log_std={c['log_std']}",
              f"train.steps={iters}", "eval.metrics=[]", "train.checkpoint_every=0"]
    if algo == "ppo":   # the policy's Adam at lr; the value net's own Adam at lr too, 10 epochs of 64
        return common + [f"optim.generator.params.lr={c['lr']}", f"method.params.vf_lr={c['lr']}",
                         "method.params.vf_epochs=10"]
    # sb3-contrib's line search: KL <= max KL, any improvement, steps shrunk by 0.8
    return common + ["method.params.max_kl=0.01", "method.params.damping=0.1", "method.params.cg_iters=15",
                     "method.params.shrink=0.8", "method.params.accept_ratio=0",
                     f"method.params.vf_lr={c['lr']}", "method.params.vf_epochs=10", "method.params.vf_minibatch=128"]


def _episodes(policy_act, env, n: int = 20):
    import numpy as np
    rets = []
    for k in range(n):
        obs, _ = env.reset(seed=10_000 + k)
        done, total = False, 0.0
        while not done:
            obs, rew, term, trunc, _ = env.step(policy_act(obs))
            total += rew
            done = term or trunc
        rets.append(total)
    return float(np.mean(rets))


def part_sb3(a):
    """ganscape's PPO and TRPO against SB3's PPO and sb3-contrib's TRPO, same settings, same steps, in this process."""
    import importlib.util
    if not (importlib.util.find_spec("sb3_contrib") and importlib.util.find_spec("stable_baselines3")):
        print("\n## sb3: stable-baselines3 / sb3-contrib are not installed (pip install -e '.[bench]'); skipped")
        return
    import gymnasium as gym
    import torch
    torch.set_num_threads(1)
    from ganscape.api import load_generator
    from ganscape.metrics.returns import evaluate_policy
    ratios = []
    for case in [c.strip() for c in a.sb3_cases.split(",")]:
        task, algo = case.split(":")
        c = SB3_CASES[(task, algo)]
        budget = a.env_steps if task == "cartpole" else a.pendulum_steps
        iters = max(1, budget // c["n_steps"])
        print(f"\n## {algo.upper()} on {c['env']}, {iters * c['n_steps']} environment steps (n_steps {c['n_steps']}, "
              f"gamma {c['gamma']}, GAE {c['lam']}, lr {c['lr']}, 1 env), 20 fixed-seed evaluation episodes")
        print("| implementation | seed | return | seconds | s per 1000 env steps |")
        print("|---|---|---|---|---|")
        times = {"ganscape": [], "sb3": []}
        rets = {"ganscape": [], "sb3": []}
        for seed in range(a.seeds):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.time()
                run = _train("expert-cartpole", _ganscape_overrides(algo, c, iters, seed), tmp)
                dt = time.time() - t0
                r = evaluate_policy(load_generator(run), ganscape.load_run(run), ["return"],
                                    metric_params={"return": {"episodes": 20}})["results"]["return"]
                steps = _curve(run)[-1]["env_steps"]
            times["ganscape"].append(dt / steps * 1000)
            rets["ganscape"].append(r)
            print(f"| ganscape | {seed} | {r:.1f} | {dt:.1f} | {dt / steps * 1000:.3f} |", flush=True)
            env = gym.make(c["env"])
            model = _sb3_model(algo, c, env, seed)
            t0 = time.time()
            model.learn(iters * c["n_steps"])
            dt = time.time() - t0
            r = _episodes(lambda o: model.predict(o, deterministic=False)[0], env)
            times["sb3"].append(dt / (iters * c["n_steps"]) * 1000)
            rets["sb3"].append(r)
            print(f"| sb3 | {seed} | {r:.1f} | {dt:.1f} | {dt / (iters * c['n_steps']) * 1000:.3f} |", flush=True)
        ratio = statistics.mean(times["sb3"]) / statistics.mean(times["ganscape"])
        ratios.append(ratio)
        print(f"returns: ganscape {_mean_sd(rets['ganscape'])}, sb3 {_mean_sd(rets['sb3'])}; "
              f"speed, ganscape relative to sb3 (higher is faster): {ratio:.2f}x")
    if ratios:
        print(f"\nspeed ratios: {', '.join(f'{r:.2f}x' for r in ratios)}")


def mujoco_gail_run(args):
    """gail-hopper as shipped (the shipped Hopper-v5 demonstrations, or `demos` when given) at `traj` trajectories."""
    traj, seed, demos_path, out = args
    from ganscape.api import load_generator
    from ganscape.metrics.returns import evaluate_policy
    t0 = time.time()
    over = [f"seed={seed}", f"data.params.trajectories={traj}", *([f"data.params.path={demos_path}"] if demos_path else [])]
    run = _train("gail-hopper", over, str(Path(out) / f"gail-hopper-{traj}-seed{seed}"))
    seconds = time.time() - t0
    res = evaluate_policy(load_generator(run, "latest"), ganscape.load_run(run), ["return"],
                          metric_params={"return": {"episodes": 50}})["results"]
    return {"traj": traj, "seed": seed, "return": res["return"], "std": res["return_std"], "seconds": seconds,
            "curve": [(r["env_steps"], r["return"]) for r in _curve(run) if "return" in r]}


def part_mujoco(a, pool):
    """Benchmark (b): an expert on Hopper-v5 (expert-hopper), its demonstrations, GAIL from 4 and 11 of them."""
    from ganscape.api import load_generator
    from ganscape.episodes import demos
    from ganscape.metrics.returns import evaluate_policy
    out = Path(a.mujoco_out)
    out.mkdir(parents=True, exist_ok=True)
    demos_path, expert_curve = "", []
    if a.mujoco_expert:   # train the expert here too (about 20 minutes); else the shipped demonstrations
        t0 = time.time()
        run = _train("expert-hopper", ["seed=0"], str(out / "expert"))
        res = evaluate_policy(load_generator(run, "best"), ganscape.load_run(run), ["return"],
                              metric_params={"return": {"episodes": 50}})["results"]
        demos_path = str(out / "hopper.npz")
        r = demos(run, demos_path, 11, "best", seed=0)
        expert_curve = [(x["env_steps"], x["return"]) for x in _curve(run) if "return" in x]
        print(f"expert-hopper: best checkpoint {res['return']:.1f} +- {res['return_std']:.1f} over 50 episodes; "
              f"11 demonstrations {r['mean_return']:.1f} +- {r['std_return']:.1f}; {time.time() - t0:.0f} s",
              flush=True)
    rows = pool.map(mujoco_gail_run, [(k, s, demos_path, str(out)) for k in (4, 11) for s in range(a.seeds)])
    print("\n## GAIL on Hopper-v5 (gail-hopper as shipped: TRPO, 200 iterations of >= 5000 transitions, every 20th "
          "expert step), return of the last checkpoint over 50 fixed-seed episodes")
    print("| trajectories | seed | return | seconds |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['traj']} | {r['seed']} | {r['return']:.1f} +- {r['std']:.1f} | {r['seconds']:.0f} |")
    print("Ho & Ermon (about 25M steps): expert 3571, GAIL 3614 (4 trajectories) / 3615 (11)")
    if a.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 4))
        if expert_curve:
            ax.plot(*zip(*expert_curve), color="black", lw=1, label="expert (PPO, true reward)")
        for r in rows:
            ax.plot(*zip(*r["curve"]), lw=1, color="C0" if r["traj"] == 4 else "C1",
                    label=f"GAIL, {r['traj']} trajectories" if r["seed"] == 0 else None)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("return of the training episodes")
        ax.set_title("Hopper-v5")
        ax.legend()
        fig.tight_layout()
        fig.savefig(a.figure, dpi=110)
        print(f"figure: {a.figure}")


def _imitation_python(venv: Path) -> Path:
    """The interpreter of a virtual environment with imitation 1.0.1, made on first use (pip, minutes)."""
    import subprocess
    import sys
    py = venv / "bin" / "python"
    if not py.exists():
        print(f"creating {venv} with imitation==1.0.1 (its pins conflict with ganscape's: own environment)",
              flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        constraints = Path(__file__).resolve().parents[1] / "constraints-cpu.txt"
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-c", str(constraints), "torch", "imitation==1.0.1"],
                       check=True)
    return py


def imitation_run(args):
    import subprocess
    py, demos, n, seed, steps = args
    script = Path(__file__).resolve().parent / "imitation_gail.py"
    out = subprocess.run([str(py), str(script), demos, "--trajectories", str(n), "--seed", str(seed),
                          "--steps", str(steps)], capture_output=True, text=True)
    if out.returncode:
        return {"trajectories": n, "seed": seed, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def part_imitation(a, pool):
    """HumanCompatibleAI imitation's GAIL (tutorial settings) on the same shipped CartPole demonstrations and budget."""
    from ganscape.data.demos import shipped_path
    py = _imitation_python(Path(a.imitation_venv))
    demos = str(shipped_path("CartPole-v1"))
    sizes = [int(t) for t in a.trajectories.split(",")]
    jobs = [(py, demos, n, seed, a.imitation_steps) for n in sizes for seed in range(a.seeds)]
    rows = pool.map(imitation_run, jobs)
    print(f"\n## imitation 1.0.1 GAIL (its tutorial settings, seals/CartPole-v0 x 8) on the shipped CartPole-v1 "
          f"demonstrations, {a.imitation_steps} environment steps; return over 50 CartPole-v1 episodes")
    print("| trajectories | seed | return | seconds |")
    print("|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['trajectories']} | {r['seed']} | failed: {r['error']} | - |")
        else:
            print(f"| {r['trajectories']} | {r['seed']} | {r['return']:.1f} | {r['seconds']:.0f} |", flush=True)
    for n in sizes:
        got = [r["return"] for r in rows if r["trajectories"] == n and "error" not in r]
        print(f"{n} trajectories: {_mean_sd(got)}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="gail")
    ap.add_argument("--tasks", default="cartpole,acrobot,mountaincar")
    ap.add_argument("--trajectories", default="1,4,7,10", help="expert trajectories, comma-separated")
    ap.add_argument("--vime-tasks", default="mountaincar,swingup", help="sparse tasks of part vime")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=0, help="training steps (0: the presets')")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--env-steps", type=int, default=100_000, help="part sb3: CartPole's budget")
    ap.add_argument("--pendulum-steps", type=int, default=300_000, help="part sb3: Pendulum's budget")
    ap.add_argument("--sb3-cases", default="cartpole:ppo,pendulum:ppo,cartpole:trpo,pendulum:trpo",
                    help="part sb3: task:algorithm pairs")
    ap.add_argument("--figure", default="")
    ap.add_argument("--mujoco-out", default="runs/bench-mujoco", help="part mujoco: where its runs are kept")
    ap.add_argument("--mujoco-expert", action="store_true",
                    help="part mujoco: train expert-hopper and record its demonstrations first (else the shipped)")
    ap.add_argument("--imitation-venv", default=".venv-imitation", help="part imitation: its own virtual environment")
    ap.add_argument("--imitation-steps", type=int, default=300_000, help="part imitation: environment steps")
    a = ap.parse_args(argv)
    t0 = time.time()
    parts = a.parts.split(",")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(a.jobs) as pool:
        if "gail" in parts:
            part_gail(a, pool)
        if "vime" in parts:
            part_vime(a, pool)
        if "mujoco" in parts:
            part_mujoco(a, pool)
        if "imitation" in parts:
            part_imitation(a, pool)
    if "sb3" in parts:
        part_sb3(a)
    print(f"\n{time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
