"""VIME's sparse-reward tasks (ganscape/envs/sparse.py, swingup.py): the reward
is 1 exactly where VIME's code pays it and 0 everywhere else, the physics
conserve what they must, seeding reproduces episodes, and the ids build
through make_env (HalfCheetah only where MuJoCo is installed)."""
import importlib.util
import math
import sys

import numpy as np
import pytest

from ganscape.registry import ConfigError

gym = pytest.importorskip("gymnasium", reason="the rl extra (gymnasium) is not installed")

from ganscape.envs import swingup  # noqa: E402
from ganscape.envs.make import make_env  # noqa: E402
from ganscape.envs.mountaincar import MC_DT, BoxOnChain, car_energy, track_height  # noqa: E402
from ganscape.envs.sparse import SPARSE_IDS, register  # noqa: E402

HAS_MUJOCO = all(importlib.util.find_spec(m) is not None for m in ("mujoco", "imageio"))
needs_mujoco = pytest.mark.skipif(not HAS_MUJOCO, reason="MuJoCo is not installed (pip install -e \".[mujoco]\")")


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path, monkeypatch):
    """MuJoCo writes its warnings (gymnasium's half_cheetah.xml uses the deprecated
    settotalmass) to MUJOCO_LOG.TXT in the working directory: not the repository's."""
    monkeypatch.chdir(tmp_path)


MC, SWING, CHEETAH = "ganscape/SparseMountainCar-v0", "ganscape/SparseCartPoleSwingup-v0", "ganscape/SparseHalfCheetah-v0"


# ---- registration --------------------------------------------------------------------------------

def test_the_ids_are_registered_once_with_vimes_path_length_and_build_through_make_env():
    register()
    specs = {i: gym.envs.registry[i] for i in SPARSE_IDS}
    register()  # idempotent: the same entries, no error
    assert all(gym.envs.registry[i] is specs[i] for i in SPARSE_IDS)
    assert set(SPARSE_IDS) == {MC, SWING, CHEETAH}
    assert all(s.max_episode_steps == 500 for s in specs.values())
    for env_id, n_obs, bound in ((MC, 2, 1.0), (SWING, 4, 10.0)):
        env = make_env(env_id)
        assert env.spec.max_episode_steps == 500
        assert env.observation_space.shape == (n_obs,) and env.action_space.shape == (1,)
        assert env.action_space.low[0] == -bound and env.action_space.high[0] == bound
        obs, _ = env.reset(seed=0)
        assert env.observation_space.contains(obs)
    with pytest.raises(ConfigError, match="close matches: ganscape/SparseMountainCar-v0"):
        make_env("ganscape/SparseMountainCar-v1")


# ---- MountainCar ----------------------------------------------------------------------------------

def _bang_bang(obs):
    return np.array([1.0 if obs[1] >= 0 else -1.0], dtype=np.float32)  # push along the velocity: pumps energy


def test_mountain_car_pays_exactly_one_on_the_step_that_reaches_x_06():
    env = make_env(MC)
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        assert obs[0] == 0.0 and abs(obs[1]) <= 1.0  # rllab: start in the valley, x_dot ~ U(-1, 1)
        rewards = []
        while True:
            obs, r, term, trunc, info = env.step(_bang_bang(obs))
            rewards.append(r)
            if term or trunc:
                break
        assert term and not trunc and obs[0] >= 0.6 and info["success"]
        # full force along the velocity needs 75 to 115 steps against the box's losses
        assert rewards[-1] == 1.0 and sum(rewards) == 1.0 and 60 < len(rewards) <= 120


def test_mountain_car_random_actions_earn_nothing():
    env = make_env(MC)
    env.action_space.seed(0)
    total, steps = 0.0, 0
    for seed in range(3):
        env.reset(seed=seed)
        while True:
            obs, r, term, trunc, info = env.step(env.action_space.sample())
            total, steps = total + r, steps + 1
            assert r == float(term) and info["success"] == term  # VIME: reward = "the episode ended"
            if term or trunc:
                break
        assert trunc and not term
    assert total == 0.0 and steps == 1500


def _mc_from(body, force=0.0):
    env = make_env(MC)
    env.reset(seed=0)
    env.unwrapped.body = body
    return env.step(np.array([force], dtype=np.float32))


def test_mountain_car_goal_line_and_vimes_left_crest():
    # the step before the goal, from a pumping episode
    env = make_env(MC)
    obs, _ = env.reset(seed=1)
    bodies = [env.unwrapped.body.copy()]
    while True:
        obs, r, term, _, _ = env.step(_bang_bang(obs))
        if term:
            break
        bodies.append(env.unwrapped.body.copy())
    before = bodies[-1]
    assert before[0] < 0.6 < obs[0] < 0.7
    obs, r, term, _, info = _mc_from(before, 1.0)               # crosses x = 0.6 during the step
    assert obs[0] >= 0.6 and r == 1.0 and term and info["success"]
    still = before.copy()
    still[3:] = 0.0                                             # the same place at rest: slides back
    obs, r, term, _, info = _mc_from(still, 0.0)
    assert obs[0] < before[0] and r == 0.0 and not term and not info["success"]
    # VIME's reward is is_current_done(), and |x| >= 2 ends the episode too: the left crest pays 1
    obs, r, term, _, _ = _mc_from([-1.99, 2.12, 0.0, -1.0, 0.0, 0.0])
    assert obs[0] <= -2.0 and r == 1.0 and term


def test_mountain_car_matches_box2d():
    """States of pybox2d 2.3.10 stepping rllab's model (world and bodies as xml_box2d.py builds
    them, ApplyForce as box2d_env.py does), from rllab's reset with x_dot = 1: the first step
    pushes the box out of the valley floor, the tenth has it rocking on its corners."""
    want = {  # (force, step): (x, y, angle, x_dot, y_dot, angular velocity)
        (0.0, 1): (0.02051, 0.15803, 0.05830, 0.85363, 0.14586, 1.21551),
        (0.0, 10): (0.12165, 0.18101, 0.37476, -0.35585, -0.11435, -0.89481),
        (1.0, 1): (0.02561, 0.15763, 0.06917, 0.96914, 0.16560, 1.38000),
        (1.0, 10): (0.28301, 0.26781, 0.68366, 0.01306, 0.00977, 0.02009),
    }
    for force in (0.0, 1.0):
        sim = BoxOnChain()
        sim.reset(1.0)
        assert np.array_equal(sim.body, [0.0, 0.05, 0.0, 1.0, 0.0, 0.0])   # the xml's pose, sunk 0.05
        for t in range(1, 11):
            sim.step(force)
            if (force, t) in want:
                assert sim.body == pytest.approx(want[force, t], abs=2e-4), (force, t)


def test_mountain_car_box_rests_on_its_corners_and_loses_energy():
    sim = BoxOnChain()
    sim.reset(0.0)
    for _ in range(300):
        sim.step(0.0)
    x, y, a, vx, vy, w = sim.body
    assert abs(vx) + abs(vy) + abs(w) < 1e-6 and abs(x) < 0.02 and abs(a) < 0.05
    # the flat box bridges the valley: its cores 0.015 from the chain on either side (the skins of
    # 0.01 each overlap by Box2D's slop of 0.005), resting on its bottom corners, the middle of
    # its bottom well above the floor
    gap = {k: BoxOnChain._closest((x, y), a, k)[0] for k in range(80, 120)}
    for side in (range(80, 100), range(100, 120)):
        k = min(side, key=gap.get)
        assert gap[k] == pytest.approx(0.015, abs=0.002)
        assert BoxOnChain._closest((x, y), a, k)[1][0] == "edge"   # a box corner against the edge
    assert y - 0.1 - track_height(x) > 0.05
    # no force: restitution 0, every impact of a corner is inelastic
    sim.reset(3.0)
    sim.step(0.0)
    e1 = car_energy(sim.body)
    energies = []
    for _ in range(40):
        sim.step(0.0)
        energies.append(car_energy(sim.body))
    assert max(energies) <= e1 * 1.001 and energies[-1] < 0.6 * e1
    # pushing along the motion adds energy, against it removes energy
    sim.reset(1.0)
    sim.step(0.0)
    start = sim.body.copy()
    after = {}
    for f in (-1.0, 0.0, 1.0):
        sim.body = start.copy()
        sim._impulses = {}
        sim.step(f)
        after[f] = car_energy(sim.body)
    assert after[1.0] > after[0.0] > after[-1.0]


def test_mountain_car_force_along_the_box_in_free_flight():
    # far above the track: gravity and the force along the box's own x axis, m = 0.4 kg
    sim = BoxOnChain()
    sim.body = np.array([0.3, 5.0, 0.5, 0.0, 0.0, 0.0])
    sim.step(1.0)
    ax, ay = 2.5 * math.cos(0.5), 2.5 * math.sin(0.5) - 10.0
    assert sim.body[3:] == pytest.approx([MC_DT * ax, MC_DT * ay, 0.0])
    assert sim.body[:3] == pytest.approx([0.3 + MC_DT ** 2 * ax, 5.0 + MC_DT ** 2 * ay, 0.5])  # v then x


def test_mountain_car_continuous_collision_stops_a_fast_box():
    # falling 1.5 m per step onto the valley, the box stops on the track instead of passing through
    sim = BoxOnChain()
    sim.body = np.array([0.0, 1.0, 0.0, 0.0, -30.0, 0.0])
    for _ in range(5):
        sim.step(0.0)
        assert sim.body[1] > 0.1
    assert abs(sim.body[4]) < 3.0


# ---- CartPole swing-up ------------------------------------------------------------------------------

def test_swingup_reward_condition_at_exact_states():
    r = swingup.sparse_reward
    assert r(0.0, math.acos(0.81)) == 1.0 and r(0.0, -math.acos(0.81)) == 1.0
    assert r(0.0, math.acos(0.79)) == 0.0 and r(0.0, -math.acos(0.79)) == 0.0
    assert r(0.0, math.pi) == 0.0 and r(0.0, 2 * math.pi + 0.1) == 1.0  # the angle is not wrapped
    assert r(3.0, 0.0) == 1.0 and r(-3.0, 0.0) == 1.0
    assert r(3.1, 0.0) == 0.0 and r(-3.1, 0.0) == 0.0


def _swing_from(state, force=0.0):
    env = make_env(SWING)
    env.reset(seed=0)
    env.unwrapped.state = np.array(state, dtype=np.float64)
    return env.step(np.array([force], dtype=np.float32))


def test_swingup_reward_and_termination_through_step():
    obs, r, term, _, info = _swing_from([0.0, 0.0, math.acos(0.83), 0.0])
    assert math.cos(obs[2]) > 0.8 and r == 1.0 and not term and info["success"]
    obs, r, term, _, info = _swing_from([0.0, 0.0, -math.acos(0.79), 0.0])
    assert math.cos(obs[2]) < 0.79 and r == 0.0 and not term and not info["success"]
    obs, r, term, _, _ = _swing_from([2.95, 0.0, 0.0, 0.0])
    assert 2.9 < obs[0] <= 3.0 and r == 1.0 and not term
    obs, r, term, _, info = _swing_from([3.1, 0.0, 0.0, 0.0])   # off the track: ends, no reward
    assert term and r == 0.0 and not info["success"]
    obs, r, term, _, _ = _swing_from([-3.1, 0.0, 0.0, 0.0])
    assert term and r == 0.0
    # the force is clipped to [-10, 10]
    assert np.array_equal(_swing_from([0.0, 0.0, 3.0, 0.0], 100.0)[0], _swing_from([0.0, 0.0, 3.0, 0.0], 10.0)[0])


def test_swingup_rewards_match_the_condition_along_trajectories():
    env = make_env(SWING)
    env.action_space.seed(1)
    got = {"random": 0.0, "pumping": 0.0}
    for kind, seed in (("random", 1), ("random", 2), ("pumping", 1)):
        obs, _ = env.reset(seed=seed)
        assert abs(math.cos(obs[2]) + 1) < 1 - math.cos(1) + 1e-9  # starts within 1 rad of hanging down
        while True:
            if kind == "random":
                a = env.action_space.sample()
            else:  # push so that the pole's swing speeds up, and keep the cart near the middle
                a = np.array([10.0 * np.sign(obs[3] * math.cos(obs[2])) - 2 * obs[0] - obs[1]], dtype=np.float32)
            obs, r, term, trunc, info = env.step(a)
            want = 0.0 if term else float(math.cos(obs[2]) > 0.8 and abs(obs[0]) <= 3)
            assert r == want and info["success"] == (r == 1.0)
            got[kind] += r
            if term or trunc:
                break
    assert got["random"] == 0.0 and got["pumping"] > 10


def test_swingup_equations_of_motion_by_hand():
    M, m, l, g = 1.0, 0.1, 0.5, 10.0
    J = m * (0.1 ** 2 + 1.0) / 12 + m * l ** 2  # the pole's inertia about the hinge
    assert (swingup.CART_MASS, swingup.POLE_MASS, swingup.POLE_INERTIA) == pytest.approx((M, m, J))
    # pole horizontal (theta = pi/2), at rest: cart and pole decouple
    xdd, thdd = swingup.accelerations((0.0, 0.0, math.pi / 2, 0.0), 10.0)
    assert xdd == pytest.approx(10.0 / (M + m)) and thdd == pytest.approx(m * g * l / J)
    # pole horizontal and spinning: the centripetal pull on the hinge drags the cart toward the pole
    xdd, _ = swingup.accelerations((0.0, 0.0, math.pi / 2, 2.0), 0.0)
    assert xdd == pytest.approx(-m * l * 4.0 / (M + m))
    # pole upright, cart pushed right: the pole tips left (counter-clockwise, theta'' > 0)
    xdd, thdd = swingup.accelerations((0.0, 0.0, 0.0, 0.0), 10.0)
    want_xdd = 10.0 / (M + m - (m * l) ** 2 / J)
    assert xdd == pytest.approx(want_xdd) and thdd == pytest.approx(m * l * want_xdd / J)
    # hanging straight down at rest, no force: an equilibrium
    assert swingup.accelerations((0.0, 0.0, math.pi, 0.0), 0.0) == pytest.approx((0.0, 0.0), abs=1e-12)


def test_swingup_conserves_energy_and_momentum_without_force():
    state = np.array([0.0, 0.5, 2.0, 3.0])
    e0, p0 = swingup.energy(state), swingup.momentum(state)
    angles = []
    for _ in range(100):
        state = swingup.rk4_step(state, 0.0)
        angles.append(state[2])
        assert swingup.energy(state) == pytest.approx(e0, abs=1e-6)  # RK4 drifts by ~1e-8 here
        assert swingup.momentum(state) == pytest.approx(p0, abs=1e-6)
    assert np.ptp(angles) > 1.0  # it did swing
    # a force along the cart's motion does work on the system
    s = np.array([0.0, 1.0, math.pi, 0.0])
    assert swingup.energy(swingup.rk4_step(s, 10.0)) > swingup.energy(s) > swingup.energy(swingup.rk4_step(s, -10.0))


def test_rgb_array_frames():
    for env_id in (SWING, MC):
        env = make_env(env_id, render_mode="rgb_array")
        env.reset(seed=0)
        a = env.render()
        assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3 and a.min() < 100 and a.max() == 255
        env.step(env.action_space.high)
        for _ in range(5):
            env.step(env.action_space.high)
        assert not np.array_equal(a, env.render())
    env = make_env(SWING)
    env.reset(seed=0)
    assert env.render() is None  # no render_mode: nothing drawn


# ---- seeding ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("env_id", [MC, SWING, pytest.param(CHEETAH, marks=needs_mujoco)])
def test_seeding_reproduces_episodes(env_id):
    def run(seed):
        env = make_env(env_id)
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        out = [obs]
        for _ in range(30):
            obs, r, term, trunc, _ = env.step(env.action_space.sample())
            out.append(np.append(obs, r))
            if term or trunc:
                break
        return out

    a, b, c = run(7), run(7), run(8)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


# ---- HalfCheetah ------------------------------------------------------------------------------------

def test_half_cheetah_without_mujoco_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mujoco", None)  # import mujoco now raises ImportError
    with pytest.raises(ConfigError, match=r'SparseHalfCheetah-v0 needs a package.*"\.\[mujoco\]"'):
        make_env(CHEETAH)


@needs_mujoco
def test_half_cheetah_pays_one_on_every_step_past_x_5():
    env = make_env(CHEETAH)
    obs, _ = env.reset(seed=0)
    cheetah = env.unwrapped
    assert obs.shape == (20,) and cheetah.dt == pytest.approx(0.01)  # VIME: qpos[1:], qvel, com; 0.01 s per step
    assert env.action_space.shape == (6,) and np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)
    qpos, qvel = cheetah.data.qpos.copy(), np.zeros(cheetah.model.nv)
    qpos[0] = 0.0
    offset = cheetah.set_state(qpos, qvel)[-3]  # the centre of mass's x with the root at 0
    zero = np.zeros(6, dtype=np.float32)
    for com_x, want in ((4.95, 0.0), (5.05, 1.0), (-20.0, 0.0), (30.0, 1.0)):
        qpos[0] = com_x - offset
        obs = cheetah.set_state(qpos, qvel)
        assert obs[-3] == pytest.approx(com_x)
        rewards = []
        for _ in range(3):
            obs, r, term, trunc, info = env.step(zero)
            rewards.append(r)
            assert obs[-3] == pytest.approx(com_x, abs=0.01) and info["com_x"] == obs[-3]
            assert info["success"] == (r == 1.0) and not term
        assert rewards == [want] * 3  # every step while past 5, not only the first
