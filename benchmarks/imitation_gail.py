"""HumanCompatibleAI `imitation`'s GAIL on ganscape's shipped CartPole-v1
demonstrations, for the side-by-side of benchmark (a) in bench_acting.py
(--parts imitation). Runs inside its own virtual environment: imitation 1.0.1
pins gymnasium ~= 0.29 and stable-baselines3 ~= 2.2, which conflict with
ganscape's. Reads the .npz with allow_pickle=False; writes one JSON line.

Settings: imitation's GAIL tutorial (docs/tutorials/3_train_gail): PPO with
batch 64, lr 4e-4, gamma 0.95, 5 epochs, no entropy bonus; BasicRewardNet
with a running-norm input layer; demo batch 1024, generator replay buffer
512, 8 discriminator updates per round (demo batch: all transitions when
fewer than 1024, as with 1 or 2 CartPole trajectories); 8 copies of seals/CartPole-v0 (a
fixed 500-step horizon, as ganscape's fixed_horizon). The first N
trajectories of the file at full rate (the tutorial subsamples nothing).
Score: mean return over 50 episodes of gymnasium's CartPole-v1 reset with
the seeds 10000.. (the stochastic policy, as ganscape's `return` metric).

    python imitation_gail.py DEMOS.npz --trajectories 1 --seed 0 --steps 300000
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np


def trajectories(path: str, n: int):
    from imitation.data.types import Trajectory
    d = np.load(path, allow_pickle=False)
    ends = np.flatnonzero(d["dones"]) + 1
    out, start = [], 0
    for end in ends[:n]:
        obs = np.concatenate([d["obs"][start:end], d["next_obs"][end - 1:end]])
        out.append(Trajectory(obs=obs, acts=d["acts"][start:end], infos=None, terminal=bool(d["terminated"][end - 1])))
        start = end
    if len(out) < n:
        raise SystemExit(f"{path} holds {len(out)} trajectories, {n} asked")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("demos")
    ap.add_argument("--trajectories", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=300_000)
    a = ap.parse_args()
    import gymnasium as gym
    import seals  # noqa: F401  (registers seals/CartPole-v0)
    import torch
    from imitation.algorithms.adversarial.gail import GAIL
    from imitation.data.wrappers import RolloutInfoWrapper
    from imitation.rewards.reward_nets import BasicRewardNet
    from imitation.util.networks import RunningNorm
    from imitation.util.util import make_vec_env
    from stable_baselines3 import PPO
    from stable_baselines3.ppo import MlpPolicy
    torch.set_num_threads(1)
    venv = make_vec_env("seals:seals/CartPole-v0", rng=np.random.default_rng(a.seed), n_envs=8,
                        post_wrappers=[lambda env, _: RolloutInfoWrapper(env)])
    learner = PPO(env=venv, policy=MlpPolicy, batch_size=64, ent_coef=0.0, learning_rate=4e-4, gamma=0.95,
                  n_epochs=5, seed=a.seed, device="cpu")
    reward_net = BasicRewardNet(observation_space=venv.observation_space, action_space=venv.action_space,
                                normalize_input_layer=RunningNorm)
    demos = trajectories(a.demos, a.trajectories)
    # the tutorial's 1024, or every transition when fewer (imitation refuses a batch larger than the data)
    batch = min(1024, sum(len(t.acts) for t in demos))
    trainer = GAIL(demonstrations=demos, demo_batch_size=batch,
                   gen_replay_buffer_capacity=512, n_disc_updates_per_round=8, venv=venv, gen_algo=learner,
                   reward_net=reward_net, allow_variable_horizon=True)
    t0 = time.time()
    trainer.train(a.steps)
    seconds = time.time() - t0
    env = gym.make("CartPole-v1")
    rets = []
    for k in range(50):
        obs, _ = env.reset(seed=10_000 + k)
        done, total = False, 0.0
        while not done:
            act, _ = learner.predict(obs, deterministic=False)
            obs, rew, term, trunc, _ = env.step(int(act))
            total += rew
            done = term or trunc
        rets.append(total)
    print(json.dumps({"trajectories": a.trajectories, "seed": a.seed, "env_steps": a.steps,
                      "return": float(np.mean(rets)), "seconds": seconds}))


if __name__ == "__main__":
    main()
