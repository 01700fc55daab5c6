"""Environments: clear errors from make_env, and FixedHorizon's absorbing
state on CartPole (which ends early when the pole falls)."""
import numpy as np
import pytest

from ganscape.registry import ConfigError

gym = pytest.importorskip("gymnasium", reason="the rl extra (gymnasium) is not installed")

from ganscape.envs.make import make_env  # noqa: E402


def test_unknown_ids_and_bad_params_are_one_clear_line():
    with pytest.raises(ConfigError, match="close matches: CartPole-v1"):
        make_env("CartPole-v9")
    with pytest.raises(ConfigError, match="env.params: CartPole-v1 does not take"):
        make_env("CartPole-v1", {"gravity_of_mars": 3.7})
    with pytest.raises(ConfigError, match="no time limit"):
        _no_limit()


def _no_limit():
    gym.register("GanscapeTestNoLimit-v0", entry_point="gymnasium.envs.classic_control:CartPoleEnv",
                 max_episode_steps=None)
    try:
        make_env("GanscapeTestNoLimit-v0", fixed_horizon=True)
    finally:
        gym.envs.registry.pop("GanscapeTestNoLimit-v0", None)


def test_fixed_horizon_keeps_a_fallen_cartpole_in_its_terminal_state_until_the_horizon():
    env = make_env("CartPole-v1", max_episode_steps=50, fixed_horizon=True)
    plain = make_env("CartPole-v1", max_episode_steps=50)
    obs, _ = env.reset(seed=3)
    obs_plain, _ = plain.reset(seed=3)
    assert np.array_equal(obs, obs_plain)
    # pushing right every step topples the pole in about ten steps
    t, fell_at, ret, plain_ret = 0, None, 0.0, 0.0
    while True:
        obs, r, term, trunc, info = env.step(1)
        t += 1
        ret += r
        assert not term
        if fell_at is None:
            o2, r2, term2, _, _ = plain.step(1)
            plain_ret += r2
            assert np.array_equal(obs, o2) and r == r2
            if term2:
                fell_at, last = t, obs
                assert info["absorbing"]
        else:
            assert info["absorbing"] and np.array_equal(obs, last) and r == 0.0
        if trunc:
            break
    assert t == 50 and fell_at is not None and fell_at < 20
    assert ret == plain_ret == fell_at  # the task's return is unchanged: 1 per step until the fall
    # a new episode starts fresh
    obs, _ = env.reset(seed=4)
    _, _, _, _, info = env.step(0)
    assert not info.get("absorbing", False)


def test_without_gymnasium_the_error_names_the_extra(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "gymnasium", None)  # import gymnasium now raises ImportError
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[rl\]"'):
        make_env("CartPole-v1")
