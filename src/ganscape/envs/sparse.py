"""VIME's sparse-reward tasks (Houthooft et al. 2016; openai/vime
`envs/*_env_x.py`) as registered gymnasium environments:

    ganscape/SparseMountainCar-v0       SparseMountainCarEnv (mountaincar.py)
    ganscape/SparseCartPoleSwingup-v0   SparseCartPoleSwingupEnv (swingup.py)
    ganscape/SparseHalfCheetah-v0       SparseHalfCheetahEnv (here; MuJoCo, the `mujoco` extra)

Each has the time limit of VIME's paths, 500 steps, and puts
info["success"] = (reward == 1) on every step, so an episode succeeded when
any of its steps says so. `register()` adds the ids to gymnasium's registry
(idempotent); `make.make_env` calls it before looking an id up.

SparseMountainCar is rllab's Box2D mountain car as VIME uses it (openai/vime
`envs/mountain_car_env_x.py` over rllab's `rllab/envs/box2d/mountain_car_env.py`,
`box2d_env.py`, `parser/xml_box2d.py` and `models/mountain_car.xml.mako`), not
gymnasium's MountainCarContinuous, whose track, units, start and goal all
differ (hill sin(3x) on [-1.2, 0.6], start x ~ U(-0.6, -0.4) at rest, power
0.0015, goal 0.45). rllab's task, with its constants:

- track: a static Box2D chain of 200 straight edges through the points
  (x, 1 - cos(pi x / 2)), x = -2, -1.98, ..., 2 ("sine_chain" of height 1 and
  width 4 on a body at (0, 1)): the valley at x = 0, the crests (height 2) at
  x = +-2;
- car: a dynamic box 0.4 x 0.2 m of density 5 (0.4 kg) that rides on the chain
  by contact, not a bead on a rail: it tilts, rocks on its corners and can
  leave the track. Both shapes carry Box2D's skin of 0.01 m; restitution 0
  (the xml sets none), friction sqrt(0.0005 * 0.2) = 0.01 (Box2D mixes the
  cart's 0.0005 with the chain's default 0.2); gravity 10 m/s^2 (Box2D's
  default); one Box2D step of 0.05 s per action (frame_skip 1, 8 velocity and
  3 position iterations, warm starting, continuous collision);
- action: a force in [-1, 1] N (ctrllimit; the NormalizedEnv of VIME's
  scripts maps [-1, 1] onto it unchanged) at the box's centre along the box's
  own x axis (direction "1,0" in the body frame): along the track while the
  box lies on it. At most 2.5 m/s^2, a quarter of gravity;
- observation (x, x_dot): the box centre's horizontal position and velocity;
- start: the xml's pose, centre (0, 0.05) at angle 0, the box's bottom 0.05
  into the valley floor (the first step pushes it out: at rest the flat box
  bridges the valley on its two bottom corners, centre at y = 0.166), and
  x_dot ~ U(-1, 1);
- the episode ends when x >= 0.6 or |x| >= 2, and VIME's reward is exactly
  "the episode ended": 1 on that step, 0 on every other. So the left crest
  (x <= -2, five times the goal's height above the valley) also pays 1; kept
  as in VIME, and info["success"] is True there too.

What the box physics does to the task: restitution 0 makes every impact of a
corner inelastic, so the rocking box loses a few percent of its energy per
step, and the force barely outpaces that. Pushing along the velocity with the
full force reaches the goal in 75 to 115 steps from any start, with 60% of it
never within 500 steps; iid random actions (uniform, or N(0, 1) clipped)
never reached it in 100 episodes each, their largest x about 0.14 to 0.17 in
a typical episode. A frictionless bead on the same curve (this module's
earlier model) keeps its energy, and there random actions reached the goal in
7% (uniform) and 18% (Gaussian) of 100 episodes.

Deviations (MountainCar): Box2D 2.3's algorithm for this one box on this one
chain is written out here (`BoxOnChain`) in float64, where Box2D computes in
float32. Checked against pybox2d 2.3.10 running rllab's model: the same
states (within 2e-3) over the first 10 steps of recorded episodes, 98% of one-step
transitions from states along a pumping episode within 1e-3, and the same
statistics (steps to the goal under noisy pumping, the energy lost per step);
trajectories part after some tens of steps, as the rocking is chaotic.
Simplified: the box is taken to be above the chain (Box2D decides per edge
which side a polygon is on); contacts are solved in edge order from right to
left, where Box2D takes them newest first (the same order at the start of an
episode); warm starting matches clipped points by slightly different feature
ids; an edge that the continuous step finds not touching after all is left
out for the rest of the step (Box2D can bring it back within the step); and
rllab's world persists across resets, carrying contacts and warm-start
impulses from the last episode into the first step of the next, where here
every episode starts clean.

SparseHalfCheetah follows VIME's `half_cheetah_env_x.py` over gymnasium's
HalfCheetah-v5 (the same half_cheetah.xml as rllab's vendor/mujoco_models,
attribute order and a tracking camera apart):

- reward 1 on every step at which the centre of mass of the torso's subtree
  (the whole cheetah: `com_subtree` of "torso", as VIME's get_body_com) is
  past x = 5, else 0; VIME's episodes never terminate, so once past 5 the
  reward keeps coming while the cheetah stays there;
- observation qpos[1:] (8), qvel (9) and that centre of mass (3), VIME's 20
  numbers (gymnasium's 17 plus the centre of mass, which makes the reward a
  function of the observation);
- one MuJoCo step of 0.01 s per action (rllab's MujocoEnv: frame_skip 1 when
  the model declares none; gymnasium's default is 5), so 500 steps are 5 s;
- start: qpos + 0.01 N(0, 1), qvel + 0.1 N(0, 1) (rllab's reset_mujoco;
  gymnasium's is qpos + U(-0.1, 0.1)).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .deps import require_gymnasium

gym = require_gymnasium()  # this module is imported only where an environment is wanted

PATH_LENGTH = 500  # VIME's max_path_length
SPARSE_IDS = {
    "ganscape/SparseMountainCar-v0": "ganscape.envs.mountaincar:SparseMountainCarEnv",
    "ganscape/SparseCartPoleSwingup-v0": "ganscape.envs.swingup:SparseCartPoleSwingupEnv",
    "ganscape/SparseHalfCheetah-v0": "ganscape.envs.sparse:SparseHalfCheetahEnv",
}


def register() -> None:
    """Add the sparse tasks to gymnasium's registry (a second call does nothing)."""
    for env_id, entry_point in SPARSE_IDS.items():
        if env_id not in gym.envs.registry:
            gym.register(env_id, entry_point=entry_point, max_episode_steps=PATH_LENGTH)


# ---- HalfCheetah (MuJoCo) ------------------------------------------------------------------------

HC_GOAL = 5.0           # openai/vime half_cheetah_env_x.py: reward 0 while com x <= 5.0, else 1
HC_QPOS_NOISE = 0.01    # rllab MujocoEnv.reset_mujoco
HC_QVEL_NOISE = 0.1


def _half_cheetah_class():
    """gymnasium's HalfCheetahEnv (v5), or DependencyNotInstalled naming mujoco."""
    try:
        import mujoco  # noqa: F401
        from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
    except (ImportError, gym.error.DependencyNotInstalled) as e:
        raise gym.error.DependencyNotInstalled(
            f"SparseHalfCheetah needs MuJoCo (mujoco and imageio, gymnasium's [mujoco] extra): {e}") from None
    return HalfCheetahEnv


class SparseHalfCheetahEnv(gym.Env):
    """VIME's sparse HalfCheetah over gymnasium's HalfCheetah-v5 (see the module docstring).
    Keyword arguments other than render_mode go to gymnasium's HalfCheetahEnv (width, height, camera)."""

    metadata = {"render_modes": ["human", "rgb_array", "depth_array"], "render_fps": 100}

    def __init__(self, render_mode: Optional[str] = None, **kwargs):
        cls = _half_cheetah_class()
        import mujoco
        self._mujoco = mujoco
        self._inner = cls(frame_skip=1, render_mode=render_mode, **kwargs)
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": int(round(1.0 / self._inner.dt))}
        self._torso = self._inner.model.body("torso").id
        self.action_space = self._inner.action_space
        n = self._inner.observation_space.shape[0] + 3
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(n,), dtype=np.float64)

    @property
    def dt(self) -> float:
        return self._inner.dt

    @property
    def model(self):
        return self._inner.model

    @property
    def data(self):
        return self._inner.data

    def com(self) -> np.ndarray:
        """The centre of mass of the torso's subtree (the whole cheetah), for the current qpos."""
        self._mujoco.mj_kinematics(self.model, self.data)
        self._mujoco.mj_comPos(self.model, self.data)
        return self.data.subtree_com[self._torso].copy()

    def set_state(self, qpos, qvel) -> np.ndarray:
        """Put the simulator in (qpos, qvel); the observation there."""
        self._inner.set_state(np.asarray(qpos, dtype=np.float64), np.asarray(qvel, dtype=np.float64))
        return self._obs(self.com())

    def _obs(self, com) -> np.ndarray:
        return np.concatenate([self._inner._get_obs(), com]).astype(np.float64)

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        self._inner.reset(seed=seed)
        inner = self._inner
        qpos = inner.init_qpos + HC_QPOS_NOISE * self.np_random.standard_normal(self.model.nq)
        qvel = inner.init_qvel + HC_QVEL_NOISE * self.np_random.standard_normal(self.model.nv)
        obs = self.set_state(qpos, qvel)
        return obs, {"com_x": float(obs[-3])}

    def step(self, action):
        self._inner.step(action)
        com = self.com()
        reward = 0.0 if com[0] <= HC_GOAL else 1.0
        info = {"success": reward == 1.0, "com_x": float(com[0]), "x_position": float(self.data.qpos[0])}
        return self._obs(com), reward, False, False, info

    def render(self):
        return self._inner.render()

    def close(self):
        self._inner.close()
