"""VIME's sparse-reward tasks (Houthooft et al. 2016; openai/vime
`envs/*_env_x.py`) as registered gymnasium environments:

    ganscape/SparseMountainCar-v0       SparseMountainCarEnv (here)
    ganscape/SparseCartPoleSwingup-v0   SparseCartPoleSwingupEnv (swingup.py)
    ganscape/SparseHalfCheetah-v0       SparseHalfCheetahEnv (here; MuJoCo, the `mujoco` extra)

Each has the time limit of VIME's paths, 500 steps, and puts
info["success"] = (reward == 1) on every step, so an episode succeeded when
any of its steps says so. `register()` adds the ids to gymnasium's registry
(idempotent); `make.make_env` calls it before looking an id up.

SparseMountainCar follows VIME's `mountain_car_env_x.py` over rllab's
`rllab/envs/box2d/mountain_car_env.py` and `models/mountain_car.xml.mako`,
not gymnasium's MountainCarContinuous, whose track, units, start and goal all
differ (hill sin(3x) on [-1.2, 0.6], start x ~ U(-0.6, -0.4) at rest, power
0.0015, goal 0.45). rllab's task, with its constants:

- track: a Box2D chain through the points (x, 1 - cos(pi x / 2)) for x in
  [-2, 2] ("sine_chain" of height 1 and width 4 on a body at (0, 1)): the
  valley at x = 0, the crests (height 2) at x = +-2;
- car: a 0.4 x 0.2 m box of density 5 (mass 0.4 kg), gravity 10 m/s^2 (Box2D's
  default), time step 0.05 s; action in [-1, 1] N, a force along the car's own
  x axis, i.e. along the track;
- observation (x, x_dot), the car's horizontal position and velocity;
- start: x = 0, x_dot ~ U(-1, 1);
- the episode ends when x >= 0.6 or |x| >= 2, and VIME's reward is exactly
  "the episode ended": 1 on that step, 0 on every other. So the left crest
  (x <= -2, five times the goal's height above the valley) also pays 1; kept
  as in VIME, and info["success"] is True there too.

Deviations (MountainCar): the car is a point mass held on the track (the
equation of motion of a bead on the curve under gravity and a tangential
force, RK4, 5 steps of 0.01 s per action), where rllab's is a box that rides
on the chain: its centre (the observed x) sits about 0.1 m above the track,
which puts VIME's goal line (centre x >= 0.6) a little higher up the slope
(the contact near x = 0.68) than here; it could also lose contact over the
convex parts (|x| > 1), and Box2D adds a friction of coefficient about 0.01
(sqrt(0.0005 * 0.2)), neglected here.

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

import math
from typing import Optional

import numpy as np

from .deps import require_gymnasium
from .swingup import draw_segment

gym = require_gymnasium()  # this module is imported only where an environment is wanted

PATH_LENGTH = 500  # VIME's max_path_length
SPARSE_IDS = {
    "ganscape/SparseMountainCar-v0": "ganscape.envs.sparse:SparseMountainCarEnv",
    "ganscape/SparseCartPoleSwingup-v0": "ganscape.envs.swingup:SparseCartPoleSwingupEnv",
    "ganscape/SparseHalfCheetah-v0": "ganscape.envs.sparse:SparseHalfCheetahEnv",
}


def register() -> None:
    """Add the sparse tasks to gymnasium's registry (a second call does nothing)."""
    for env_id, entry_point in SPARSE_IDS.items():
        if env_id not in gym.envs.registry:
            gym.register(env_id, entry_point=entry_point, max_episode_steps=PATH_LENGTH)


# ---- MountainCar ------------------------------------------------------------------------------

# rllab/envs/box2d/models/mountain_car.xml.mako and mountain_car_env.py; openai/vime mountain_car_env_x.py
MC_DT = 0.05
MC_GRAVITY = 10.0
MC_MASS = 0.4 * 0.2 * 5.0        # box of half-extents (0.2, 0.1), density 5: 0.4 kg
MC_FORCE_LIMIT = 1.0
MC_GOAL = 0.6
MC_MAX_POS = 2.0
MC_START_VEL = 1.0               # x_dot ~ U(-1, 1), x = 0
MC_SUBSTEPS = 5


def track_height(x: float) -> float:
    """rllab's sine_chain track: y = 1 - cos(pi x / 2)."""
    return 1.0 - math.cos(0.5 * math.pi * x)


def car_acceleration(x: float, v: float, force: float) -> float:
    """x'' of a point mass on the track y = h(x) under gravity and a force `force` along the track.

    Lagrangian 1/2 m (1 + h'^2) x'^2 - m g h(x), generalized force F sqrt(1 + h'^2):
    (1 + h'^2) x'' + h' h'' x'^2 + g h' = F sqrt(1 + h'^2) / m."""
    k = 0.5 * math.pi
    hp = k * math.sin(k * x)
    hpp = k * k * math.cos(k * x)
    q = 1.0 + hp * hp
    return (force / MC_MASS * math.sqrt(q) - MC_GRAVITY * hp - hp * hpp * v * v) / q


def car_energy(x: float, v: float) -> float:
    """Mechanical energy per unit mass: 1/2 (1 + h'^2) x'^2 + g h(x)."""
    hp = 0.5 * math.pi * math.sin(0.5 * math.pi * x)
    return 0.5 * (1.0 + hp * hp) * v * v + MC_GRAVITY * track_height(x)


def car_step(x: float, v: float, force: float, dt: float = MC_DT, substeps: int = MC_SUBSTEPS):
    """(x, x') `dt` seconds later under a constant force (classical RK4)."""
    h = dt / substeps
    for _ in range(substeps):
        a1 = car_acceleration(x, v, force)
        x2, v2 = x + 0.5 * h * v, v + 0.5 * h * a1
        a2 = car_acceleration(x2, v2, force)
        x3, v3 = x + 0.5 * h * v2, v + 0.5 * h * a2
        a3 = car_acceleration(x3, v3, force)
        x4, v4 = x + h * v3, v + h * a3
        a4 = car_acceleration(x4, v4, force)
        x, v = x + h / 6.0 * (v + 2 * v2 + 2 * v3 + v4), v + h / 6.0 * (a1 + 2 * a2 + 2 * a3 + a4)
    return x, v


class SparseMountainCarEnv(gym.Env):
    """VIME's sparse mountain car with a continuous force (see the module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": int(round(1 / MC_DT))}

    def __init__(self, render_mode: Optional[str] = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self.action_space = gym.spaces.Box(-MC_FORCE_LIMIT, MC_FORCE_LIMIT, shape=(1,), dtype=np.float32)
        # x stays in (-2, 0.6) until the step that ends the episode, which may overshoot
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float64)
        self.state: Optional[np.ndarray] = None

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        self.state = np.array([0.0, self.np_random.uniform(-MC_START_VEL, MC_START_VEL)], dtype=np.float64)
        return self.state.copy(), {}

    def step(self, action):
        if self.state is None:
            raise RuntimeError("SparseMountainCarEnv: step() before reset()")
        force = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -MC_FORCE_LIMIT, MC_FORCE_LIMIT))
        x, v = car_step(float(self.state[0]), float(self.state[1]), force)
        self.state = np.array([x, v], dtype=np.float64)
        terminated = x >= MC_GOAL or abs(x) >= MC_MAX_POS
        reward = 1.0 if terminated else 0.0
        return self.state.copy(), reward, terminated, False, {"success": terminated}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return draw_mountain_car(self.state if self.state is not None else np.zeros(2))


def draw_mountain_car(state, height: int = 240, width: int = 400) -> np.ndarray:
    """An RGB picture of the track (x in [-2.2, 2.2]), the goal flag at x = 0.6 and the car."""
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    x_lo, x_hi, y_lo = -2.2, 2.2, -0.3
    scale = width / (x_hi - x_lo)

    def px(x, y):
        return ((x - x_lo) * scale, height - (y - y_lo) * scale)

    cols = x_lo + (np.arange(width) + 0.5) / scale
    ys = np.where(np.abs(cols) <= MC_MAX_POS, 1.0 - np.cos(0.5 * np.pi * cols), 2.0)
    rows = np.arange(height)[:, None]
    img[rows >= (height - (ys - y_lo) * scale)[None, :]] = (170, 200, 170)
    gx, gy = MC_GOAL, track_height(MC_GOAL)
    draw_segment(img, px(gx, gy), px(gx, gy + 0.4), 2, (40, 40, 40))
    draw_segment(img, px(gx, gy + 0.4), px(gx + 0.15, gy + 0.33), 5, (220, 180, 20))
    x = float(np.clip(state[0], -MC_MAX_POS, MC_MAX_POS))
    hp = 0.5 * math.pi * math.sin(0.5 * math.pi * x)
    n = math.hypot(1.0, hp)
    tx, ty, nx, ny = 1 / n, hp / n, -hp / n, 1 / n   # the track's tangent and normal at x
    cx, cy = x + 0.1 * nx, track_height(x) + 0.1 * ny
    draw_segment(img, px(cx - 0.2 * tx, cy - 0.2 * ty), px(cx + 0.2 * tx, cy + 0.2 * ty), 0.2 * scale, (40, 40, 160))
    return img


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
