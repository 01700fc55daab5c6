"""`ganscape demos`: roll a trained policy out into a demonstrations file."""
from __future__ import annotations

from .args import checkpoint_name, positive_int


def add(sub) -> None:
    p = sub.add_parser("demos", help="roll a trained policy out into a demonstrations .npz (GAIL, AIRL, BC)")
    p.add_argument("run_dir", help="a run of a method that acts (expert, gail, airl, bc, vime)")
    p.add_argument("--episodes", type=positive_int, default=10, help="episodes to record (default 10)")
    p.add_argument("--out", required=True, help="FILE.npz: obs, acts, rews, dones, env_id, expert_return")
    p.add_argument("--checkpoint", type=checkpoint_name, default="latest",
                   help="latest | best | a step number (default latest)")
    p.add_argument("--seed", type=int, default=0, help="episode k resets with a seed derived from (seed, k)")
    p.add_argument("--deterministic", action="store_true",
                   help="the policy's most likely action (default: it acts as it was trained, stochastically)")
    p.set_defaults(handler=run)


def run(a) -> int:
    from ..episodes import demos
    r = demos(a.run_dir, a.out, a.episodes, a.checkpoint, a.seed, a.deterministic)
    print(f"wrote {r['episodes']} episodes ({r['transitions']} transitions) of {r['env_id']} to {r['path']}: "
          f"return {r['mean_return']:.2f} +- {r['std_return']:.2f}")
    return 0
