"""VIME's sparse cart-pole swing-up, as an analytic cart-pole, with an
rgb_array renderer that needs nothing but numpy.

The task (openai/vime `envs/cartpole_swingup_env_x.py`, over rllab's
`rllab/envs/box2d/cartpole_swingup_env.py` and its model
`rllab/envs/box2d/models/cartpole.xml.mako`):

- observation (x, x_dot, theta, theta_dot): the cart's position and velocity,
  the pole's angle (0 = upright, counter-clockwise positive, as Box2D's body
  angle: not wrapped, a pole that spins keeps counting) and angular velocity;
- action: a horizontal force on the cart, clipped to [-10, 10] N;
- start: x ~ U(-1, 1), x_dot ~ U(-2, 2), theta ~ U(pi - 1, pi + 1) (hanging
  down), theta_dot ~ U(-3, 3);
- reward, on the state after the step: 1 when cos(theta) > 0.8 and
  |x| <= 3, else 0 (0 on the step that ends the episode);
- the episode ends (terminated) when |x| > 3; VIME's paths last 500 steps.

Physics constants, read from the rllab model: time step 0.05 s (one Box2D
step per action); gravity 10 m/s^2 (the xml sets none, Box2D's default);
cart 4/sqrt(12) x 3/sqrt(12) m of density 1, so mass 1 kg; pole 0.1 x 1 m of
density 1, so mass 0.1 kg, hinged at its end on the top of the cart, centre
of mass 0.5 m from the hinge, moment of inertia about the hinge
m (w^2 + l^2) / 12 + m (l/2)^2 = 0.0334167 kg m^2. The joints have no
friction, and the cart does not touch the track (Box2D does not collide
bodies joined by a joint; the pole and track share the negative group -1),
so the contact frictions in the xml act on nothing.

Deviation: rllab simulates this with Box2D (one semi-implicit Euler step of
0.05 s per action with an iterative joint solver, which also caps a body's
rotation at pi/2 per step); here the equations of motion of the same
rigid-body cart-pole are integrated with RK4 (5 steps of 0.01 s per action),
so trajectories match the ODE, not Box2D's discretisation. rllab's reset also
moves the cart without moving the pole, leaving the joint apart until the
solver pulls it together; here the drawn state is the state.

Equations of motion (M cart mass, m pole mass, l hinge-to-centre, J pole
inertia about the hinge, F force): with the pole's centre at
(x - l sin theta, l cos theta) the Lagrangian gives

    (M + m) x''  - m l cos(theta) theta''  = F - m l sin(theta) theta'^2
    -m l cos(theta) x''  + J theta''       = m g l sin(theta)
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

from .deps import require_gymnasium

gym = require_gymnasium()  # this module is imported only where an environment is wanted

# rllab/envs/box2d/models/cartpole.xml.mako
DT = 0.05
GRAVITY = 10.0
CART_W, CART_H = 4.0 / 12 ** 0.5, 3.0 / 12 ** 0.5
CART_MASS = CART_W * CART_H * 1.0          # density 1: 1 kg
POLE_W, POLE_LEN = 0.1, 1.0
POLE_MASS = POLE_W * POLE_LEN * 1.0        # density 1: 0.1 kg
POLE_COM = POLE_LEN / 2
POLE_INERTIA = POLE_MASS * (POLE_W ** 2 + POLE_LEN ** 2) / 12 + POLE_MASS * POLE_COM ** 2  # about the hinge
FORCE_LIMIT = 10.0
# openai/vime envs/cartpole_swingup_env_x.py
MAX_CART_POS = 3.0
MAX_REWARD_CART_POS = 3.0
COS_THRESHOLD = 0.8
START_LOW = np.array([-1.0, -2.0, math.pi - 1.0, -3.0])
START_HIGH = np.array([1.0, 2.0, math.pi + 1.0, 3.0])
SUBSTEPS = 5


def accelerations(state, force: float) -> Tuple[float, float]:
    """(x'', theta'') of the cart-pole at `state` = (x, x', theta, theta') under `force`."""
    _, _, th, thd = state
    s, c = math.sin(th), math.cos(th)
    ml = POLE_MASS * POLE_COM
    a11, a12, a22 = CART_MASS + POLE_MASS, -ml * c, POLE_INERTIA
    b1 = force - ml * s * thd * thd
    b2 = ml * GRAVITY * s
    det = a11 * a22 - a12 * a12
    return (b1 * a22 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det


def energy(state) -> float:
    """Total mechanical energy (kinetic + potential, zero at the hinge's height)."""
    _, xd, th, thd = state
    ml = POLE_MASS * POLE_COM
    kinetic = (0.5 * (CART_MASS + POLE_MASS) * xd * xd - ml * math.cos(th) * xd * thd
               + 0.5 * POLE_INERTIA * thd * thd)
    return kinetic + ml * GRAVITY * math.cos(th)


def momentum(state) -> float:
    """Horizontal momentum of cart and pole (conserved when the force is zero)."""
    _, xd, th, thd = state
    return (CART_MASS + POLE_MASS) * xd - POLE_MASS * POLE_COM * math.cos(th) * thd


def _deriv(s, force):
    xdd, thdd = accelerations(s, force)
    return (s[1], xdd, s[3], thdd)


def rk4_step(state, force: float, dt: float = DT, substeps: int = SUBSTEPS):
    """The state `dt` seconds later under a constant `force` (classical RK4)."""
    s = tuple(float(v) for v in state)
    h = dt / substeps
    for _ in range(substeps):
        k1 = _deriv(s, force)
        k2 = _deriv(tuple(a + 0.5 * h * b for a, b in zip(s, k1)), force)
        k3 = _deriv(tuple(a + 0.5 * h * b for a, b in zip(s, k2)), force)
        k4 = _deriv(tuple(a + h * b for a, b in zip(s, k3)), force)
        s = tuple(a + h / 6.0 * (b1 + 2 * b2 + 2 * b3 + b4) for a, b1, b2, b3, b4 in zip(s, k1, k2, k3, k4))
    return np.array(s, dtype=np.float64)


def sparse_reward(x: float, theta: float) -> float:
    """VIME's swing-up reward at a state: 1 when the pole is near upright and the cart on the track."""
    if abs(x) > MAX_REWARD_CART_POS:
        return 0.0
    return 1.0 if math.cos(theta) > COS_THRESHOLD else 0.0


class SparseCartPoleSwingupEnv(gym.Env):
    """VIME's sparse cart-pole swing-up (see the module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": int(round(1 / DT))}

    def __init__(self, render_mode: Optional[str] = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self.action_space = gym.spaces.Box(-FORCE_LIMIT, FORCE_LIMIT, shape=(1,), dtype=np.float32)
        # x leaves [-3, 3] on the step that ends the episode; the angle is not wrapped
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(4,), dtype=np.float64)
        self.state: Optional[np.ndarray] = None

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        self.state = self.np_random.uniform(START_LOW, START_HIGH).astype(np.float64)
        return self.state.copy(), {}

    def step(self, action):
        if self.state is None:
            raise RuntimeError("SparseCartPoleSwingupEnv: step() before reset()")
        force = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -FORCE_LIMIT, FORCE_LIMIT))
        self.state = rk4_step(self.state, force)
        x, theta = float(self.state[0]), float(self.state[2])
        terminated = abs(x) > MAX_CART_POS
        reward = 0.0 if terminated else sparse_reward(x, theta)
        return self.state.copy(), reward, terminated, False, {"success": reward == 1.0}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return draw_cartpole(self.state if self.state is not None else np.zeros(4))


# ---- drawing, numpy only ------------------------------------------------------------------------

def draw_segment(img: np.ndarray, p0, p1, width: float, color) -> None:
    """Paint the pixels within width/2 of the segment p0-p1 (pixel coordinates, (col, row))."""
    h, w = img.shape[:2]
    r = width / 2
    c0 = max(int(math.floor(min(p0[0], p1[0]) - r)), 0)
    c1 = min(int(math.ceil(max(p0[0], p1[0]) + r)) + 1, w)
    r0 = max(int(math.floor(min(p0[1], p1[1]) - r)), 0)
    r1 = min(int(math.ceil(max(p0[1], p1[1]) + r)) + 1, h)
    if c0 >= c1 or r0 >= r1:
        return
    cols, rows = np.meshgrid(np.arange(c0, c1) + 0.5, np.arange(r0, r1) + 0.5)
    d = np.array([p1[0] - p0[0], p1[1] - p0[1]], dtype=np.float64)
    dd = float(d @ d) or 1.0
    t = np.clip(((cols - p0[0]) * d[0] + (rows - p0[1]) * d[1]) / dd, 0.0, 1.0)
    dist2 = (cols - p0[0] - t * d[0]) ** 2 + (rows - p0[1] - t * d[1]) ** 2
    img[r0:r1, c0:c1][dist2 <= r * r] = color


def draw_rect(img: np.ndarray, col0: float, row0: float, col1: float, row1: float, color) -> None:
    h, w = img.shape[:2]
    c0, c1 = max(int(round(min(col0, col1))), 0), min(int(round(max(col0, col1))), w)
    r0, r1 = max(int(round(min(row0, row1))), 0), min(int(round(max(row0, row1))), h)
    if c0 < c1 and r0 < r1:
        img[r0:r1, c0:c1] = color


def draw_cartpole(state, height: int = 240, width: int = 480) -> np.ndarray:
    """An RGB picture (height, width, 3) of the cart-pole at `state`: the track from
    x = -4 to 4 with the limits |x| = 3 in red, the pole green while it earns reward."""
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    scale = width / 8.0                      # world x in [-4, 4]
    ground = height * 0.6                    # the track's row

    def px(x, y):
        return (width / 2 + x * scale, ground - y * scale)

    x, theta = float(state[0]), float(state[2])
    draw_segment(img, px(-4, 0), px(4, 0), 2, (120, 120, 120))
    for lim in (-MAX_CART_POS, MAX_CART_POS):
        draw_segment(img, px(lim, -0.3), px(lim, 1.6), 2, (220, 40, 40))
    c0, r0 = px(x - CART_W / 2, CART_H)
    c1, r1 = px(x + CART_W / 2, 0)
    draw_rect(img, c0, r0, c1, r1, (40, 40, 40))
    hinge = (x, CART_H)
    tip = (x - POLE_LEN * math.sin(theta), CART_H + POLE_LEN * math.cos(theta))
    color = (30, 160, 60) if sparse_reward(x, theta) else (220, 140, 40)
    draw_segment(img, px(*hinge), px(*tip), max(POLE_W * scale, 3), color)
    hc, hr = px(*hinge)
    draw_segment(img, (hc, hr), (hc, hr), 5, (90, 90, 200))
    return img
