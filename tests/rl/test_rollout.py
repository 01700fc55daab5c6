"""Whole-episode rollouts (envs/rollout.py) on CartPole-v1 and Pendulum-v1:
a pure function of (seed, step) and the policy's weights, whole contiguous
episodes, the min_steps / episodes stopping rules, time limits told apart
from task ends, and Gaussian actions clipped for the environment but stored
as drawn."""
import numpy as np
import pytest
import torch

gym = pytest.importorskip("gymnasium", reason="the rl extra (gymnasium) is not installed")

from ganscape.envs.make import make_env  # noqa: E402
from ganscape.envs.rollout import collect, episode_seed  # noqa: E402
from ganscape.nets.policy import Policy  # noqa: E402

FIELDS = ("obs", "acts", "rews", "next_obs", "terminated", "truncated")


def cartpole_policy(seed=0):
    torch.manual_seed(seed)
    pi = Policy(4, n_actions=2, hidden=(8,))
    with torch.no_grad():  # far from uniform: its last layer scaled up (episodes of about 10 steps)
        pi.net[-1].weight.mul_(100.0)
    return pi


def pendulum_policy(seed=0, log_std=0.0):
    torch.manual_seed(seed)
    pi = Policy(3, act_dim=1, hidden=(8,), init_log_std=log_std)
    with torch.no_grad():
        pi.net[-1].weight.mul_(100.0)
    return pi


def envs(env_id, n, limit=0):
    return [make_env(env_id, max_episode_steps=limit) for _ in range(n)]


def same(a, b):
    return all(torch.equal(getattr(a, k), getattr(b, k)) for k in FIELDS) and a.returns == b.returns \
        and a.lengths == b.lengths


@pytest.mark.parametrize("env_id, policy", [("CartPole-v1", cartpole_policy), ("Pendulum-v1", pendulum_policy),
                                            ("CartPole-v1", None)])
def test_same_seed_and_step_same_tensors_other_step_other_tensors(env_id, policy):
    pi = policy() if policy else None
    limit = 60 if env_id == "Pendulum-v1" else 0
    e = envs(env_id, 2, limit)
    a = collect(pi, e, seed=5, step=3, min_steps=150)
    b = collect(pi, e, seed=5, step=3, min_steps=150)         # the same environments, used again
    c = collect(pi, envs(env_id, 2, limit), seed=5, step=3, min_steps=150)   # fresh ones
    assert same(a, b) and same(a, c)
    d = collect(pi, e, seed=5, step=4, min_steps=150)
    f = collect(pi, e, seed=6, step=3, min_steps=150)
    for other in (d, f):
        n = min(len(a), len(other))
        assert not torch.equal(a.obs[:n], other.obs[:n])
        assert not torch.equal(first_obs(a)[:2], first_obs(other)[:2])   # the resets differ too
    assert a.obs.dtype == torch.float32 and a.rews.dtype == torch.float32
    assert a.acts.dtype == (torch.int64 if env_id == "CartPole-v1" else torch.float32)


def test_episode_seeds_depend_on_seed_step_and_episode_only():
    s = episode_seed(1, 2, 3)
    assert s == episode_seed(1, 2, 3) and 0 <= s < 2 ** 31
    assert len({s, episode_seed(1, 2, 4), episode_seed(1, 3, 3), episode_seed(2, 2, 3)}) == 4


def first_obs(ro):
    return ro.obs[np.cumsum([0] + ro.lengths[:-1])]


def _check_whole(ro):
    T = len(ro)
    assert sum(ro.lengths) == T and len(ro.returns) == len(ro.lengths)
    for k in FIELDS:
        assert len(getattr(ro, k)) == T, k
    ends = np.cumsum(ro.lengths) - 1
    dones = ro.dones.numpy()
    assert np.flatnonzero(dones).tolist() == ends.tolist()   # done exactly on each episode's last row
    assert not (ro.terminated & ro.truncated).any()
    starts = np.concatenate([[0], ends[:-1] + 1])
    for s, t, r in zip(starts, ends, ro.returns):
        # contiguous: each row's next observation is the following row's observation
        assert torch.equal(ro.next_obs[s:t], ro.obs[s + 1:t + 1])
        assert r == pytest.approx(float(ro.rews[s:t + 1].double().sum()), rel=1e-6)


@pytest.mark.parametrize("num_envs", [1, 3])
def test_episodes_are_whole_and_min_steps_is_respected(num_envs):
    pi = cartpole_policy()
    ro = collect(pi, envs("CartPole-v1", num_envs), seed=0, step=1, min_steps=120)
    _check_whole(ro)
    assert len(ro) >= 120
    if num_envs == 1:  # no episode starts once min_steps transitions are in
        assert sum(ro.lengths[:-1]) < 120
    ro = collect(pendulum_policy(), envs("Pendulum-v1", num_envs, 30), seed=0, step=1, min_steps=70)
    _check_whole(ro)
    assert ro.lengths == [30, 30, 30] and ro.truncated.sum() == 3 and not ro.terminated.any()


@pytest.mark.parametrize("num_envs", [1, 3, 5])
def test_episodes_n_gives_exactly_n(num_envs):
    calls = []
    ro = collect(cartpole_policy(), envs("CartPole-v1", num_envs), seed=2, step=0, episodes=4,
                 progress=calls.append)
    _check_whole(ro)
    assert len(ro.returns) == 4 and sum(calls) == len(ro)
    assert max(calls) <= min(num_envs, 4)
    # episode k, in episode order whatever order they ended in, starts from the reset with seed (2, 0, k)
    env = make_env("CartPole-v1")
    resets = torch.stack([torch.as_tensor(env.reset(seed=episode_seed(2, 0, k))[0]) for k in range(4)])
    assert torch.equal(first_obs(ro), resets)


@pytest.mark.parametrize("env_id, policy, limit", [("CartPole-v1", cartpole_policy, 0),
                                                   ("Pendulum-v1", pendulum_policy, 40)])
def test_deterministic_policy_same_episodes_whatever_num_envs(env_id, policy, limit):
    """Episode k resets with a seed of (seed, step, k) alone, so a deterministic
    policy gives episode k the same trajectory with 1 or 3 copies."""
    pi = policy(2)
    one = collect(pi, envs(env_id, 1, limit), seed=9, step=2, episodes=4, deterministic=True)
    three = collect(pi, envs(env_id, 3, limit), seed=9, step=2, episodes=4, deterministic=True)
    assert one.lengths == three.lengths
    if env_id == "CartPole-v1":  # with 3 copies, episode 2 ends before episodes 0 and 1: the order is restored
        assert one.lengths[2] < one.lengths[1] < one.lengths[0], one.lengths
    if env_id == "CartPole-v1":
        assert same(one, three)
    else:  # a batched forward may round differently in the last bit
        assert torch.allclose(one.obs, three.obs, atol=1e-4)
        assert one.returns == pytest.approx(three.returns, rel=1e-4)
    # the episodes differ from each other (each has its own reset seed)
    assert len({round(r, 3) for r in one.returns}) > 1 or env_id == "CartPole-v1"
    assert len({tuple(one.obs[s].tolist()) for s in np.cumsum([0] + one.lengths[:-1])}) == 4


def test_stochastic_actions_follow_the_generator_not_the_global_rng():
    pi = cartpole_policy()
    torch.manual_seed(0)
    a = collect(pi, envs("CartPole-v1", 1), seed=1, step=1, episodes=2)
    torch.manual_seed(12345)
    torch.rand(7)
    b = collect(pi, envs("CartPole-v1", 1), seed=1, step=1, episodes=2)
    assert same(a, b)
    # a deterministic policy's actions are its argmax
    d = collect(pi, envs("CartPole-v1", 1), seed=1, step=1, episodes=2, deterministic=True)
    assert torch.equal(d.acts, pi(d.obs))


def test_time_limit_is_truncated_and_a_fallen_pole_is_terminated():
    # random actions: some episodes reach the 20-step limit, others fall before it
    ro = collect(None, envs("CartPole-v1", 2, 20), seed=0, step=0, episodes=30)
    _check_whole(ro)
    ends = np.cumsum(ro.lengths) - 1
    lengths = np.array(ro.lengths)
    term, trunc = ro.terminated.numpy()[ends], ro.truncated.numpy()[ends]
    assert lengths.max() == 20
    assert (trunc == (lengths == 20) & ~term).all()
    assert term[lengths < 20].all()
    assert (lengths < 20).any() and trunc.any()   # both kinds of end are exercised
    # a fallen pole: |angle| > 12 degrees or |x| > 2.4 in the last next observation
    fell = ro.next_obs.numpy()[ends]
    assert ((np.abs(fell[:, 2]) > 12 * 2 * np.pi / 360) | (np.abs(fell[:, 0]) > 2.4))[term].all()


class RecordActions(gym.Wrapper):
    def __init__(self, env):
        super().__init__(env)
        self.seen = []

    def step(self, action):
        self.seen.append(np.array(action, copy=True))
        return self.env.step(action)


def test_gaussian_actions_are_clipped_for_the_env_and_stored_unclipped():
    pi = pendulum_policy(log_std=1.5)   # std 4.5: most draws fall outside [-2, 2]
    env = RecordActions(make_env("Pendulum-v1", max_episode_steps=25))
    ro = collect(pi, [env], seed=0, step=0, episodes=2)
    acts = ro.acts.numpy()
    assert acts.shape == (50, 1) and (np.abs(acts) > 2).any()
    seen = np.stack(env.seen)
    assert seen.dtype == np.float32
    np.testing.assert_array_equal(seen, np.clip(acts, -2.0, 2.0))
    assert (np.abs(seen) <= 2).all()
    # the stored draws are the policy's: their log-probability is that of the unclipped value
    lp = pi.log_prob(ro.obs, ro.acts)
    assert torch.isfinite(lp).all()


def test_exactly_one_stopping_rule():
    e = envs("CartPole-v1", 1)
    with pytest.raises(ValueError, match="exactly one of min_steps or episodes"):
        collect(None, e, 0, 0)
    with pytest.raises(ValueError, match="exactly one of min_steps or episodes"):
        collect(None, e, 0, 0, min_steps=5, episodes=2)


def test_absorbing_steps_under_a_fixed_horizon_are_flagged():
    """Under env.fixed_horizon a fallen CartPole stays in its terminal state
    until the horizon: every step after the fall is flagged absorbing (reward 0,
    the observation frozen), none before it, and episodes end truncated."""
    ro = collect(None, [make_env("CartPole-v1", max_episode_steps=30, fixed_horizon=True)], 0, 0, episodes=4)
    _check_whole(ro)
    assert ro.lengths == [30] * 4 and not ro.terminated.any()
    absorbing = ro.absorbing.numpy().reshape(4, 30)
    rews = ro.rews.numpy().reshape(4, 30)
    assert absorbing.any(axis=1).sum() >= 1   # random actions topple the pole within 30 steps in some episodes
    for ep in range(4):
        # first absorbing row: the step after the fall (30: the pole stayed up)
        fell = int(np.argmax(absorbing[ep])) if absorbing[ep].any() else 30
        assert not absorbing[ep, :fell].any() and absorbing[ep, fell:].all()
        assert (rews[ep, :fell] == 1).all() and (rews[ep, fell:] == 0).all()
        rows = slice(ep * 30 + fell, ep * 30 + 30)
        assert torch.equal(ro.obs[rows], ro.next_obs[rows])
    plain = collect(None, envs("CartPole-v1", 1, 30), 0, 0, episodes=4)
    assert not plain.absorbing.any()
    assert plain.returns == ro.returns   # the same resets and draws: the task's return is unchanged


def test_lockstep_copies_start_no_episode_past_min_steps():
    """Four copies of a 50-step fixed-horizon task and 200 transitions wanted: the four episodes end together
    at 200, and none starts a fifth (a copy that ends first must count the others' last steps)."""
    envs = [make_env("CartPole-v1", max_episode_steps=50, fixed_horizon=True) for _ in range(4)]
    ro = collect(None, envs, seed=0, step=0, min_steps=200)
    assert len(ro) == 200 and ro.lengths == [50, 50, 50, 50]
