#!/usr/bin/env python
"""Make the demonstrations ganscape ships (src/ganscape/demos/<env id>.npz),
so that the imitation presets (gail-cartpole, bc-cartpole, gail-acrobot,
gail-mountaincar, airl-pendulum) run offline with nothing trained first.

For each task but MountainCar-v0: train an expert with the library (method expert: PPO or TRPO
on the environment's true reward, a shipped preset with the overrides
below), keep its best checkpoint (chosen by its own evaluation, on episode
seeds that are not the demonstration seeds), and roll it out with `demos`
(ganscape.episodes.demos: the stochastic policy, as it was trained) into
`--episodes` episodes. MountainCar-v0's come from a scripted
energy-pumping controller (PPO on its true reward never reached the flag
here; see TASKS). The run folders stay in --work; the manifest
src/ganscape/demos/demos.json records, per file, the command, the expert's
mean return and the number of episodes and transitions.

Examples:
  python scripts/make_demos.py                       # every task
  python scripts/make_demos.py --tasks CartPole-v1   # one of them
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "ganscape" / "demos"

# env id: (preset, overrides, minimum acceptable mean return of the expert); preset None: a scripted
# controller (SCRIPTED) instead of a trained expert
TASKS = {
    "CartPole-v1": ("expert-cartpole", [], 475.0),
    "Acrobot-v1": ("expert-cartpole", ["env.id=Acrobot-v1", "train.steps=40", "method.params.gamma=0.99"], -100.0),
    # PPO on MountainCar-v0's true reward (-1 per step) never reached the flag in 33 iterations of 4000 steps
    # here (its value loss went to 0: every episode -200); Ho & Ermon's expert was trained by TRPO (-98.8).
    # The shipped demonstrations come from the classic energy-pumping controller instead.
    "MountainCar-v0": (None, [], -120.0),
    "Pendulum-v1": ("expert-cartpole", ["env.id=Pendulum-v1", "train.steps=100", "method.params.gamma=0.9",
                                        "method.params.steps_per_iter=4096", "method.params.init_log_std=-0.5",
                                        "optim.generator.params.lr=0.001", "eval.every=10"], -300.0),
    # the mujoco extra; 500 PPO iterations, about 15-20 minutes on 2 cores; shipped with --episodes 11
    "Hopper-v5": ("expert-hopper", [], 2000.0),
}


def mountaincar_controller(obs):
    """Push in the direction the car moves (action 2: right, 0: left): swings up in about 100-120 steps."""
    return 2 if obs[1] >= 0 else 0


SCRIPTED = {"MountainCar-v0": mountaincar_controller}


def scripted_demos(env_id: str, episodes: int, seed: int):
    """Episodes of the scripted controller of `env_id`, written as shipped demonstrations."""
    import numpy as np

    from ganscape.data.demos import shipped_path, write_demonstrations
    from ganscape.envs.make import make_env
    from ganscape.envs.rollout import episode_seed
    env = make_env(env_id)
    rows = {k: [] for k in ("obs", "acts", "rews", "dones", "next_obs", "terminated")}
    returns = []
    for k in range(episodes):
        obs, _ = env.reset(seed=episode_seed(seed, 2 ** 41, k))
        done, total = False, 0.0
        while not done:
            act = SCRIPTED[env_id](obs)
            nxt, r, term, trunc, _ = env.step(act)
            done = term or trunc
            for key, v in (("obs", obs), ("acts", act), ("rews", r), ("dones", done), ("next_obs", nxt),
                           ("terminated", term)):
                rows[key].append(v)
            total += r
            obs = nxt
        returns.append(total)
    path = write_demonstrations(shipped_path(env_id), np.array(rows["obs"]), np.array(rows["acts"]),
                                np.array(rows["rews"]), np.array(rows["dones"]), env_id, float(np.mean(returns)),
                                next_obs=np.array(rows["next_obs"]), terminated=np.array(rows["terminated"]))
    return {"path": str(path), "episodes": episodes, "transitions": len(rows["obs"]),
            "mean_return": float(np.mean(returns)), "std_return": float(np.std(returns))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--episodes", type=int, default=10, help="episodes per file (default 10)")
    ap.add_argument("--work", default="/tmp/ganscape-experts", help="where the expert runs go")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    import ganscape
    from ganscape.data.demos import shipped_path
    from ganscape.episodes import demos

    manifest_path = OUT / "demos.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for env_id in a.tasks:
        preset, over, floor = TASKS[env_id]
        t0 = time.time()
        if preset is None:
            r, best, over = scripted_demos(env_id, a.episodes, a.seed), "scripted controller", []
            run = SCRIPTED[env_id].__name__
        else:
            over = [*over, f"seed={a.seed}", f"name=expert-{env_id.lower().replace('/', '-')}", "train.threads=1"]
            run = ganscape.train(preset, overrides=over, out=a.work)
            best = "best" if (Path(run) / "checkpoints" / "best.pt").exists() else "latest"
            r = demos(run, shipped_path(env_id), a.episodes, best, seed=a.seed)
        print(f"{env_id}: expert {run} ({best}), {r['episodes']} episodes, return {r['mean_return']:.1f} +- "
              f"{r['std_return']:.1f}, {time.time() - t0:.0f} s", flush=True)
        if r["mean_return"] < floor:
            print(f"  below the floor {floor}: not an expert; the file is written but should not ship",
                  file=sys.stderr)
        manifest[env_id] = {"file": Path(r["path"]).name, "preset": preset or run, "overrides": over,
                            "checkpoint": best, "episodes": r["episodes"], "transitions": r["transitions"],
                            "mean_return": round(r["mean_return"], 3), "std_return": round(r["std_return"], 3),
                            "command": f"python scripts/make_demos.py --tasks {env_id} --episodes {a.episodes} "
                                       f"--seed {a.seed}"}
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
