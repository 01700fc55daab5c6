"""Demonstrations files and the `demonstrations` / `none` data sets
(data/demos.py): the file round trip, whole episodes chosen with the seed,
subsampling within each episode, the held-out split, the info fields, and
one clear error for each kind of bad file. No environment is needed."""
import math

import numpy as np
import pytest
import torch

from ganscape.data.demos import (DemonstrationsParams, demonstrations, episode_bounds, no_data,
                                 read_demonstrations, write_demonstrations)
from ganscape.registry import DATASETS, ConfigError, NoParams

# three episodes of lengths 5, 7 and 3 (rows 0-4, 5-11, 12-14)
LENGTHS = (5, 7, 3)


def tiny(n_eps=3, lengths=LENGTHS, obs_dim=2, discrete=True, with_next=True):
    """Arrays of a tiny file; obs[:, 0] is the row's index, obs[:, 1] its episode, so kept rows can be read back."""
    lengths = [lengths[i % len(lengths)] for i in range(n_eps)]
    T = sum(lengths)
    ep = np.repeat(np.arange(n_eps), lengths)
    obs = np.zeros((T, obs_dim), np.float32)
    obs[:, 0] = np.arange(T)
    obs[:, 1] = ep
    if obs_dim > 2:
        obs[:, 2:] = np.arange(T)[:, None] * 0.5 + np.arange(obs_dim - 2)
    acts = (np.arange(T) % 2).astype(np.int64) if discrete else np.stack([np.arange(T) * 0.1, -np.arange(T) * 0.2], 1)
    rews = np.arange(T, dtype=np.float32) * 0.25
    dones = np.zeros(T, bool)
    dones[np.cumsum(lengths) - 1] = True
    out = dict(obs=obs, acts=acts, rews=rews, dones=dones)
    if with_next:
        out["next_obs"] = obs + 100.0
        out["terminated"] = dones & (np.arange(T) % 2 == 0)
    return out


def write(path, d, env_id="CartPole-v1", **kw):
    return write_demonstrations(path, d["obs"], d["acts"], d["rews"], d["dones"], env_id,
                                next_obs=d.get("next_obs"), terminated=d.get("terminated"), **kw)


def data(path, split="train", seed=0, **params):
    return demonstrations(DemonstrationsParams(path=str(path), **params), split, seed)


def kept_rows(ds):
    return ds.floats()[:, 0].long().tolist()


def kept_episodes(ds):
    return sorted(set(ds.floats()[:, 1].long().tolist()))


# ---- the file ----------------------------------------------------------------------------------------

def test_round_trip_discrete(tmp_path):
    d = tiny()
    path = write(tmp_path / "sub" / "d.npz", d, expert_return=123.5)
    assert path == tmp_path / "sub" / "d.npz" and path.is_file()
    assert not list((tmp_path / "sub").glob("*.tmp*"))  # written atomically, nothing left beside it
    r = read_demonstrations(path)
    for k in ("obs", "acts", "rews", "dones", "next_obs", "terminated"):
        assert np.array_equal(r[k], d[k]), k
    assert r["acts"].dtype == np.int64 and r["obs"].dtype == np.float32 and r["dones"].dtype == bool
    assert r["terminated"].dtype == bool
    assert r["env_id"] == "CartPole-v1" and isinstance(r["env_id"], str)
    assert r["expert_return"] == 123.5


def test_round_trip_continuous_and_default_expert_return(tmp_path):
    d = tiny(discrete=False, with_next=False)
    path = write(tmp_path / "c.npz", d, env_id="Pendulum-v1")
    r = read_demonstrations(path)
    assert r["acts"].dtype == np.float32 and r["acts"].shape == (15, 2)
    np.testing.assert_allclose(r["acts"], d["acts"].astype(np.float32))
    assert r["env_id"] == "Pendulum-v1"
    assert "next_obs" not in r and "terminated" not in r
    # the mean of the episodes' summed rewards: rows 0-4, 5-11, 12-14 of 0.25 * t
    by_hand = (0.25 * sum(range(0, 5)) + 0.25 * sum(range(5, 12)) + 0.25 * sum(range(12, 15))) / 3
    assert r["expert_return"] == pytest.approx(by_hand, rel=1e-6)


def test_file_without_expert_return_reads_nan(tmp_path):
    d = tiny(with_next=False)
    path = tmp_path / "x.npz"
    np.savez(path, obs=d["obs"], acts=d["acts"], rews=d["rews"], dones=d["dones"], env_id=np.array("CartPole-v1"))
    assert math.isnan(read_demonstrations(path)["expert_return"])


def test_episode_bounds_by_hand():
    dones = np.array([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1], bool)
    assert episode_bounds(dones) == [(0, 5), (5, 12), (12, 15)]


# ---- the data set ---------------------------------------------------------------------------------------

def test_all_episodes_and_the_row_layout(tmp_path):
    d = tiny(obs_dim=3)
    path = write(tmp_path / "d.npz", d)
    ds = data(path)
    assert ds.kind == "transitions" and ds.floats().dtype == torch.float32
    assert kept_rows(ds) == list(range(15))  # trajectories 0: every episode, in file order
    # x = [obs (3), act (1), next_obs (3), terminated (1)]
    assert ds.floats().shape == (15, 3 + 1 + 3 + 1)
    assert torch.equal(ds.floats()[:, :3], torch.from_numpy(d["obs"]))
    assert torch.equal(ds.floats()[:, 3], torch.from_numpy(d["acts"]).float())
    assert torch.equal(ds.floats()[:, 4:7], torch.from_numpy(d["next_obs"]))
    assert torch.equal(ds.floats()[:, 7], torch.from_numpy(d["terminated"]).float())
    assert ds.info["has_next"] and ds.info["episodes"] == 3 and ds.info["pairs"] == 15
    assert DATASETS.build("demonstrations", {"path": str(path)}, "train", 0).floats().shape == ds.floats().shape


def test_rows_without_next_obs(tmp_path):
    path = write(tmp_path / "d.npz", tiny(discrete=False, with_next=False))
    ds = data(path)
    assert ds.floats().shape == (15, 2 + 2) and not ds.info["has_next"]
    assert torch.allclose(ds.floats()[:, 2:], torch.tensor([[t * 0.1, -t * 0.2] for t in range(15)]))


def test_whole_trajectories_chosen_with_the_seed(tmp_path):
    path = write(tmp_path / "d.npz", tiny(n_eps=10))
    chosen = {}
    for seed in range(5):
        ds = data(path, seed=seed, trajectories=3)
        eps = kept_episodes(ds)
        assert len(eps) == 3 and ds.info["episodes"] == 3
        # whole episodes: every row of a kept episode, none of the others
        bounds = episode_bounds(read_demonstrations(path)["dones"])
        assert kept_rows(ds) == [t for e in eps for t in range(*bounds[e])]
        assert kept_episodes(data(path, seed=seed, trajectories=3)) == eps  # same seed, same episodes
        chosen[seed] = tuple(eps)
    assert len(set(chosen.values())) > 1, chosen  # different seeds choose differently


def test_test_split_holds_the_episodes_not_kept(tmp_path):
    path = write(tmp_path / "d.npz", tiny(n_eps=6))
    train, test = data(path, "train", seed=3, trajectories=4), data(path, "test", seed=3, trajectories=4)
    assert len(kept_episodes(train)) == 4 and len(kept_episodes(test)) == 2
    assert set(kept_episodes(train)) | set(kept_episodes(test)) == set(range(6))
    assert not set(kept_episodes(train)) & set(kept_episodes(test))
    everything = data(path, "train", seed=3)
    assert len(everything.floats()) == sum(len(range(*b)) for b in episode_bounds(read_demonstrations(path)["dones"]))


def test_test_split_is_empty_when_every_episode_is_kept(tmp_path):
    path = write(tmp_path / "d.npz", tiny(n_eps=6))
    everything, none = data(path, "train", seed=3), data(path, "test", seed=3)
    assert none.floats().shape == (0, everything.floats().shape[1]) and none.info["episodes"] == 0
    assert math.isnan(none.info["kept_return"])


def _progressions(ds, bounds, k):
    """{episode: offset} of the kept rows, after checking that they are start + offset, + k, ... up to the end."""
    rows = kept_rows(ds)
    offsets = {}
    for e in kept_episodes(ds):
        start, stop = bounds[e]
        mine = [t for t in rows if start <= t < stop]
        o = mine[0] - start
        assert 0 <= o < k and o <= stop - start - 1
        assert mine == list(range(start + o, stop, k)), (e, mine)
        offsets[e] = o
    return offsets


def test_subsample_keeps_every_kth_row_of_each_episode(tmp_path):
    path = write(tmp_path / "d.npz", tiny())
    bounds = [(0, 5), (5, 12), (12, 15)]
    seen = set()
    for seed in range(6):
        ds = data(path, seed=seed, subsample=2)
        offsets = _progressions(ds, bounds, 2)
        assert sorted(offsets) == [0, 1, 2]
        seen |= set(offsets.values())
        # by hand: 5 rows from offset 0 keep 3 (0, 2, 4), from 1 keep 2 (1, 3); 7 rows keep 4 or 3; 3 rows 2 or 1
        n = {0: (3, 2), 1: (4, 3), 2: (2, 1)}
        assert len(ds.floats()) == sum(n[e][o] for e, o in offsets.items())
        assert ds.info["pairs"] == len(ds.floats())
        # rows stay in file order
        assert kept_rows(ds) == sorted(kept_rows(ds))
    assert seen == {0, 1}  # the offset is drawn, not always 0


def test_subsample_longer_than_an_episode_keeps_one_row_of_it(tmp_path):
    path = write(tmp_path / "d.npz", tiny(lengths=(2, 9)))   # episodes rows 0-1, 2-10, 11-12
    bounds = [(0, 2), (2, 11), (11, 13)]
    for seed in range(4):
        ds = data(path, seed=seed, subsample=5)
        rows = kept_rows(ds)
        offsets = _progressions(ds, bounds, 5)
        assert len([t for t in rows if t < 2]) == 1 and len([t for t in rows if t >= 11]) == 1
        assert len(offsets) == 3


def test_info_fields(tmp_path):
    d = tiny(n_eps=4, obs_dim=3)
    d["acts"][3] = 2   # action ids 0, 1, 2: three actions
    path = write(tmp_path / "d.npz", d, expert_return=42.0)
    ds = data(path, seed=1, trajectories=2, subsample=2)
    info = ds.info
    assert info["env_id"] == "CartPole-v1" and info["obs_shape"] == (3,)
    assert info["obs_dim"] == 3 and info["act_dim"] == 1 and info["discrete"] is True
    assert info["n_actions"] == 3 and info["expert_return"] == 42.0 and info["path"] == str(path)
    obs = ds.floats()[:, :3].numpy()
    np.testing.assert_allclose(info["obs_mean"], obs.mean(0), rtol=1e-6)
    np.testing.assert_allclose(info["obs_std"], obs.std(0), rtol=1e-6)   # numpy's (population) std
    # the kept episodes' mean return (all their rows, whatever the subsampling)
    rows = read_demonstrations(path)
    bounds = episode_bounds(rows["dones"])
    by_hand = np.mean([rows["rews"][slice(*bounds[e])].sum() for e in kept_episodes(ds)])
    assert info["kept_return"] == pytest.approx(float(by_hand))

    c = data(write(tmp_path / "c.npz", tiny(discrete=False), env_id="Pendulum-v1"))
    assert c.info["discrete"] is False and c.info["act_dim"] == 2 and c.info["n_actions"] == 0
    assert c.info["env_id"] == "Pendulum-v1"


def test_none_has_no_examples():
    ds = no_data(NoParams(), "train")
    assert ds.kind == "none" and ds.floats().shape == (0, 0)
    assert DATASETS.build("none", {}, "test").kind == "none"


# ---- bad files -----------------------------------------------------------------------------------------

def _savez(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_bad_files_are_one_clear_error(tmp_path):
    d = tiny(with_next=False)
    full = dict(d, env_id=np.array("CartPole-v1"))

    with pytest.raises(ValueError, match=r"does not exist \(write one with `ganscape demos RUN"):
        read_demonstrations(tmp_path / "absent.npz")
    (tmp_path / "text.npz").write_text("obs, acts\n1, 2\n")
    with pytest.raises(ValueError, match="is not an .npz file"):
        read_demonstrations(tmp_path / "text.npz")
    lacking = _savez(tmp_path / "lacking.npz", **{k: v for k, v in full.items() if k != "rews"})
    with pytest.raises(ValueError, match="lacks rews"):
        read_demonstrations(lacking)
    no_env = _savez(tmp_path / "no_env.npz", **{k: v for k, v in full.items() if k != "env_id"})
    with pytest.raises(ValueError, match="lacks env_id"):
        read_demonstrations(no_env)
    short = _savez(tmp_path / "short.npz", **dict(full, acts=d["acts"][:-1]))
    with pytest.raises(ValueError, match="needs one row per transition in every key"):
        read_demonstrations(short)
    short_next = _savez(tmp_path / "short_next.npz", **dict(full, next_obs=d["obs"][:-2]))
    with pytest.raises(ValueError, match="needs one row per transition in every key"):
        read_demonstrations(short_next)
    obs = d["obs"].copy()
    obs[4, 1] = np.nan
    obs[7, 0] = np.inf
    nan = _savez(tmp_path / "nan.npz", **dict(full, obs=obs))
    with pytest.raises(ValueError, match=r"has NaN or Inf in 'obs' \(2 of 15 rows\)"):
        read_demonstrations(nan)
    dones = d["dones"].copy()
    dones[-1] = False
    open_end = _savez(tmp_path / "open.npz", **dict(full, dones=dones))
    with pytest.raises(ValueError, match=r"ends inside an episode \(the last row's dones is False\)"):
        read_demonstrations(open_end)
    # the data set says the same
    with pytest.raises(ValueError, match="ends inside an episode"):
        data(open_end)


def test_writer_refuses_bad_rows(tmp_path):
    d = tiny()
    with pytest.raises(ValueError, match="need one row per transition"):
        write_demonstrations(tmp_path / "a.npz", d["obs"], d["acts"][:-1], d["rews"], d["dones"], "CartPole-v1")
    dones = d["dones"].copy()
    dones[-1] = False
    with pytest.raises(ValueError, match=r"must end an episode \(dones\[-1\] True\)"):
        write_demonstrations(tmp_path / "b.npz", d["obs"], d["acts"], d["rews"], dones, "CartPole-v1")
    assert not list(tmp_path.iterdir())


def test_bad_params_are_config_errors(tmp_path):
    path = write(tmp_path / "d.npz", tiny())
    with pytest.raises(ConfigError, match=r"data.params.trajectories: 4 asked, but .*d.npz holds 3 episodes"):
        data(path, trajectories=4)
    with pytest.raises(ConfigError, match="data.params.env: no demonstrations are shipped for 'NoSuchTask-v7'"):
        demonstrations(DemonstrationsParams(path="", env="NoSuchTask-v7"), "train", 0)
    with pytest.raises(ConfigError, match="give data.params.path"):
        DATASETS.build("demonstrations", {"env": "NoSuchTask-v7"}, "train", 0)
    with pytest.raises(ConfigError, match="need trajectories >= 0 and subsample >= 1"):
        DATASETS.params("demonstrations", {"subsample": 0}).validate("data.params")
    with pytest.raises(ValueError, match="unknown split"):
        data(path, split="validation")
