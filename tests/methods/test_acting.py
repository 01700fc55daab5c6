"""The recipes that act (methods/acting.py, expert.py, gail.py, bc.py;
nets/policy.py): their formulas pinned by hand, the policy's draws, a
contract over every recipe on a discrete and a continuous task (trains,
finite stats, every trained net changes), bit-exact resume, and one clear
line for each kind of bad input."""
import math

import numpy as np
import pytest
import torch

gym = pytest.importorskip("gymnasium", reason="the rl extra (gymnasium) is not installed")

import ganscape  # noqa: E402
from ganscape.config import from_dict  # noqa: E402
from ganscape.data.demos import write_demonstrations  # noqa: E402
from ganscape.envs.make import make_env  # noqa: E402
from ganscape.envs.rollout import collect  # noqa: E402
from ganscape.methods.bc import bc_loss  # noqa: E402
from ganscape.methods.gail import airl_logits, binary_entropy, gail_reward  # noqa: E402
from ganscape.nets.policy import ObsNorm, PairNet, Policy  # noqa: E402
from ganscape.registry import ConfigError  # noqa: E402
from ganscape.train import rundir  # noqa: E402

V = torch.tensor([-2.0, 0.0, 3.0], dtype=torch.float64)


# ---- formulas --------------------------------------------------------------------------------------------

def test_gail_reward_by_hand():
    # -log(1 - sigmoid(v)) and log sigmoid(v) at v = -2, 0, 3 (math.log of math's sigmoid)
    positive = [0.12692801104297252, 0.6931471805599453, 3.048587351573745]
    negative = [-2.1269280110429727, -0.6931471805599453, -0.04858735157374191]
    assert gail_reward(V, "positive").tolist() == pytest.approx(positive, rel=1e-12)
    assert gail_reward(V, "negative").tolist() == pytest.approx(negative, rel=1e-12)
    assert gail_reward(V).tolist() == pytest.approx(positive, rel=1e-12)   # positive by default
    assert (gail_reward(V, "positive") > 0).all() and (gail_reward(V, "negative") < 0).all()
    # both grow with D's logit: a pair D finds more expert-like earns more reward
    grid = torch.linspace(-30, 30, 601, dtype=torch.float64)
    for form in ("positive", "negative"):
        assert (gail_reward(grid, form).diff() > 0).all(), form
    # -log(1 - D) + log D = log(D / (1 - D)) = v: the two forms sum to the logit
    assert torch.allclose(gail_reward(grid, "positive") + gail_reward(grid, "negative"), grid)


def test_binary_entropy_by_hand():
    def by_hand(v):
        p = 1 / (1 + math.exp(-v))
        return -(p * math.log(p) + (1 - p) * math.log(1 - p))
    assert binary_entropy(V).tolist() == pytest.approx([0.36533385508720767, math.log(2), 0.190864971106442],
                                                       rel=1e-12)
    vs = [-7.5, -1.3, 0.2, 0.9, 4.0]
    assert binary_entropy(torch.tensor(vs, dtype=torch.float64)).tolist() == pytest.approx(
        [by_hand(v) for v in vs], rel=1e-10)
    # large logits: no NaN, entropy -> 0
    big = binary_entropy(torch.tensor([-60.0, 60.0]))
    assert torch.isfinite(big).all() and (big >= 0).all() and (big < 1e-20).all()


def test_airl_logits_by_hand():
    g = torch.tensor([1.0, -0.5, 0.25], dtype=torch.float64)
    h_s = torch.tensor([0.3, 0.2, -1.0], dtype=torch.float64)
    h_next = torch.tensor([2.0, 4.0, 0.5], dtype=torch.float64)
    term = torch.tensor([False, True, False])
    log_pi = torch.tensor([-0.7, -1.2, -0.1], dtype=torch.float64)
    # f = g + 0.9 (1 - term) h(s') - h(s); logit = f - log pi
    #   row 0: 1.0 + 0.9 * 2.0 - 0.3 = 2.5, + 0.7 = 3.2
    #   row 1: -0.5 + 0 (terminated) - 0.2 = -0.7, + 1.2 = 0.5
    #   row 2: 0.25 + 0.9 * 0.5 + 1.0 = 1.7, + 0.1 = 1.8
    out = airl_logits(g, h_s, h_next, term, log_pi, 0.9)
    assert out.tolist() == pytest.approx([3.2, 0.5, 1.8], rel=1e-12)
    # gamma 0: h(s') drops out everywhere
    assert airl_logits(g, h_s, h_next, term, log_pi, 0.0).tolist() == pytest.approx([1.4, 0.5, 1.35], rel=1e-12)


def _categorical(logits):
    """A 3-action policy whose logits are `logits` for every observation."""
    pi = Policy(2, n_actions=3, hidden=(4,))
    with torch.no_grad():
        pi.net[-1].weight.zero_()
        pi.net[-1].bias.copy_(torch.tensor(logits))
    return pi


def test_bc_loss_categorical_by_hand():
    torch.manual_seed(0)
    pi = Policy(3, n_actions=4, hidden=(5,))
    with torch.no_grad():
        pi.net[-1].weight.mul_(100)
    obs, acts = torch.randn(6, 3), torch.tensor([0, 3, 1, 1, 2, 0])
    with torch.no_grad():
        z = pi.net(obs)   # standardization is the identity (mean 0, std 1)
        by_hand = -(z.gather(1, acts[:, None]).squeeze(1) - z.exp().sum(1).log()).mean()
    loss = bc_loss(pi, obs, acts).detach()
    assert float(loss) == pytest.approx(float(by_hand), rel=1e-6)
    # float-coded actions (as the loop's batches carry them) give the same loss
    assert float(bc_loss(pi, obs, acts.float()).detach()) == pytest.approx(float(by_hand), rel=1e-6)
    # the expert's own most likely actions are cheaper than its least likely ones
    assert bc_loss(pi, obs, z.argmax(1)) < bc_loss(pi, obs, z.argmin(1))


def test_bc_loss_and_log_prob_gaussian_by_hand():
    torch.manual_seed(1)
    pi = Policy(3, act_dim=2, hidden=(5,), init_log_std=-0.5)
    with torch.no_grad():
        pi.net[-1].weight.mul_(100)
        pi.log_std.copy_(torch.tensor([-0.5, 0.3]))
    obs, acts = torch.randn(7, 3), torch.randn(7, 2) * 2
    with torch.no_grad():
        mu, std = pi.net(obs), torch.tensor([-0.5, 0.3]).exp()
        by_hand = (-0.5 * ((acts - mu) / std) ** 2 - std.log() - 0.5 * math.log(2 * math.pi)).sum(1)
    assert torch.allclose(pi.log_prob(obs, acts), by_hand, atol=1e-5)
    assert float(bc_loss(pi, obs, acts).detach()) == pytest.approx(float(-by_hand.mean()), rel=1e-5)


def test_categorical_draws_follow_the_probabilities():
    probs = torch.tensor([0.2, 0.5, 0.3])
    pi = _categorical(probs.log().tolist())
    obs = torch.zeros(20000, 2)
    a = pi.act(obs, generator=torch.Generator().manual_seed(0))
    assert a.dtype == torch.int64 and a.min() >= 0 and a.max() <= 2
    freq = torch.bincount(a, minlength=3).float() / len(a)
    assert torch.allclose(freq, probs, atol=0.015), freq
    # the same generator seed gives the same draws; the deterministic action is the most likely one
    assert torch.equal(a, pi.act(obs, generator=torch.Generator().manual_seed(0)))
    assert (pi.act(obs[:5], deterministic=True) == 1).all() and (pi(obs[:5]) == 1).all()
    assert torch.allclose(pi.log_prob(obs[:3], torch.tensor([0, 1, 2])), probs.log(), atol=1e-6)


def test_gaussian_draws_and_mode():
    torch.manual_seed(2)
    pi = Policy(2, act_dim=2, hidden=(4,))
    with torch.no_grad():
        pi.net[-1].weight.zero_()
        pi.net[-1].bias.copy_(torch.tensor([1.5, -0.5]))
        pi.log_std.copy_(torch.tensor([0.0, math.log(0.25)]))
    obs = torch.zeros(20000, 2)
    a = pi.act(obs, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(a.mean(0), torch.tensor([1.5, -0.5]), atol=0.03)
    assert torch.allclose(a.std(0), torch.tensor([1.0, 0.25]), atol=0.02)
    assert torch.equal(pi.act(obs[:3], deterministic=True), torch.tensor([[1.5, -0.5]] * 3))


def test_obs_norm_with_its_floor():
    norm = ObsNorm(3)
    x = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.0, 5.0]])
    assert torch.equal(norm(x), x)   # starts as the identity
    norm.set_stats([1.0, -2.0, 3.0], [2.0, 0.5, 0.0])   # a constant third feature: std floored at 0.01
    expected = torch.tensor([[0.0, 8.0, 0.0], [-1.0, 4.0, 200.0]])
    assert torch.allclose(norm(x), expected, rtol=1e-6)
    norm.set_stats([0.0, 0.0, 0.0], [0.001, 0.5, 1e-9], floor=0.1)
    assert torch.allclose(norm.obs_std, torch.tensor([0.1, 0.5, 0.1]))
    # a policy standardizes before its MLP: its output is the MLP of (x - mean) / std
    pi = Policy(3, n_actions=2, hidden=(4,))
    pi.norm.set_stats([1.0, -2.0, 3.0], [2.0, 0.5, 0.0])
    with torch.no_grad():
        assert torch.allclose(pi.dist(x).logits, torch.log_softmax(pi.net(expected), -1), atol=1e-6)


def test_pair_net_reads_the_taken_actions_output():
    torch.manual_seed(3)
    D = PairNet(2, n_actions=3, hidden=(4,))
    obs, acts = torch.randn(5, 2), torch.tensor([2, 0, 1, 1, 2])
    with torch.no_grad():
        table = D.net(obs)
        assert torch.equal(D(obs, acts), table[torch.arange(5), acts])
        assert torch.equal(D(obs, acts.float()[:, None]), table[torch.arange(5), acts])
        # steps in the absorbing state (after the task ended, under a fixed horizon) get one value, any action
        D.absorbing_value.fill_(-4.0)
        absorbing = torch.tensor([False, True, False, True, True])
        expected = torch.where(absorbing, torch.tensor(-4.0), table[torch.arange(5), acts])
        assert torch.equal(D(obs, acts, absorbing), expected)
        assert torch.equal(D(obs, torch.tensor([0, 1, 1, 0, 0]), absorbing)[absorbing], torch.full((3,), -4.0))


# ---- the recipes on two tasks ---------------------------------------------------------------------------

TASKS = {"CartPole-v1": 0, "Pendulum-v1": 40}   # env id: its time limit in these tests (0: the registered one)
RECIPES = {"expert-trpo": ("expert", "trpo"), "expert-ppo": ("expert", "ppo"), "gail": ("gail", "trpo"),
           "airl": ("airl", "trpo"), "bc": ("bc", "trpo")}


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    """Demonstrations of a random policy for each task (the recipes only need the id, shapes and next_obs)."""
    root = tmp_path_factory.mktemp("demos")
    out = {}
    for env_id, limit in TASKS.items():
        envs = [make_env(env_id, max_episode_steps=limit)]
        ro = collect(None, envs, seed=0, step=0, min_steps=120)
        out[env_id] = write_demonstrations(root / f"{env_id}.npz", ro.obs.numpy(), ro.acts.numpy(),
                                           ro.rews.numpy(), ro.dones.numpy(), env_id,
                                           next_obs=ro.next_obs.numpy(), terminated=ro.terminated.numpy())
        out[env_id + ":no-next"] = write_demonstrations(root / f"{env_id}-no-next.npz", ro.obs.numpy(),
                                                        ro.acts.numpy(), ro.rews.numpy(), ro.dones.numpy(), env_id)
    return out


def tree(recipe, env_id, steps, demos=None, algo=None):
    method, default_algo = RECIPES[recipe]
    params = {"algo": algo or default_algo, "steps_per_iter": 200, "hidden": [16], "epochs": 2, "minibatch": 64,
              "vf_epochs": 2, "cg_iters": 5}
    if method in ("gail", "airl"):
        params["d_hidden"] = [16]
    if method == "bc":  # no policy iteration: only the policy's shape
        params = {"hidden": [16]}
    # trajectories 2 of 3 or more: the held-out split is not empty (trajectories 0: test_all_episodes_kept_...)
    data = {"name": "demonstrations", "params": {"path": str(demos), "trajectories": 2}} if demos else "none"
    return {"seed": 3, "data": data,
            "env": {"id": env_id, "max_episode_steps": TASKS.get(env_id, 0)},
            "method": {"name": method, "params": params}, "loss": "ns",
            "optim": {"generator": {"name": "adam", "params": {"lr": 0.001}},
                      "discriminator": {"name": "adam", "params": {"lr": 0.001}}},
            "train": {"steps": steps, "batch_size": 32, "log_every": 1, "sample_every": 0, "checkpoint_every": 3,
                      "latest_every": 1, "progress": False}}


def initial_nets(cfg):
    """The nets as the loop builds them before step 1 (the same seed, then the data, then the state)."""
    from ganscape.train.state import DataSpec, build_state, load_data, seed_everything
    seed_everything(cfg.seed, cfg.deterministic)
    state, _ = build_state(cfg, DataSpec.of(load_data(cfg, "train")), torch.device("cpu"))
    return {k: {n: v.detach().clone() for n, v in m.state_dict().items()} for k, m in state.nets.items()}


NETS = {"expert": {"pi", "V"}, "gail": {"pi", "V", "D"}, "airl": {"pi", "V", "g", "h"}, "bc": {"pi"}}


@pytest.mark.parametrize("env_id", sorted(TASKS))
@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_recipe_trains_and_changes_every_net(recipe, env_id, tmp_path, demo_files):
    method = RECIPES[recipe][0]
    cfg = from_dict(tree(recipe, env_id, 3, None if method == "expert" else demo_files[env_id]))
    run = ganscape.train(cfg, run_dir=tmp_path / "run")
    assert rundir.read_status(run)["status"] == "completed"
    stats = rundir.read_jsonl(run / "stats.jsonl")
    assert [r["step"] for r in stats] == [1, 2, 3]
    assert all(math.isfinite(v) for r in stats for v in r.values()), stats
    if method == "bc":
        assert all("bc_loss" in r for r in stats)
    else:
        assert all(r["env_steps"] >= 200 * r["step"] for r in stats) and all("return" in r for r in stats)
        assert all(k in stats[-1] for k in ("v_loss", "entropy", "episode_length"))
    if method in ("gail", "airl"):
        assert all(k in stats[-1] for k in ("d_loss", "d_real", "d_fake", "reward_mean"))
    ck = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    assert ck["step"] == 3 and set(ck["nets"]) == NETS[method]
    assert (run / "checkpoints" / "step_000003.pt").exists()
    first = initial_nets(cfg)
    for name, sd in ck["nets"].items():
        assert any(not torch.equal(v, first[name][k]) for k, v in sd.items() if v.is_floating_point()), name
    # the saved policy acts in the task
    pi = ganscape.load_generator(run)
    assert getattr(pi, "is_policy", False)
    env = make_env(env_id)
    obs, _ = env.reset(seed=0)
    a = pi.act(torch.as_tensor(obs, dtype=torch.float32)[None])
    assert env.action_space.contains(int(a[0]) if pi.discrete else a[0].clamp(-2, 2).numpy())


def test_all_episodes_kept_run_loads_its_policy(tmp_path, demo_files):
    """load_generator builds the policy with the data's test split, empty when every episode is kept."""
    t = tree("bc", "CartPole-v1", 1, demo_files["CartPole-v1"])
    t["data"]["params"]["trajectories"] = 0
    run = ganscape.train(from_dict(t), run_dir=tmp_path / "run")
    assert getattr(ganscape.load_generator(run), "is_policy", False)


def test_loops_initial_nets_are_what_initial_nets_rebuilds(tmp_path, demo_files, monkeypatch):
    """The check above compares with `initial_nets`: a run whose steps change nothing must save exactly it."""
    from ganscape.methods.acting import ActingMethod
    monkeypatch.setattr(ActingMethod, "step", lambda self, state, batches, log: {})
    cfg = from_dict(tree("gail", "Pendulum-v1", 1, demo_files["Pendulum-v1"]))
    run = ganscape.train(cfg, run_dir=tmp_path / "run")
    ck = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    first = initial_nets(cfg)
    for name, sd in ck["nets"].items():
        assert all(torch.equal(v, first[name][k]) for k, v in sd.items()), name


def test_airl_reward_is_its_logit_by_hand(demo_files):
    """AIRL's policy reward under policy_reward: logit (the paper's): g(s) + gamma (1 - terminated) h(s') - h(s)
    - log pi(a | s), from the nets themselves."""
    from ganscape.train.state import DataSpec, build_state, load_data
    t = tree("airl", "CartPole-v1", 1, demo_files["CartPole-v1"])
    t["method"]["params"]["policy_reward"] = "logit"
    cfg = from_dict(t)
    state, method = build_state(cfg, DataSpec.of(load_data(cfg, "train")), torch.device("cpu"))
    for k in ("g", "h"):   # nets that say something: scale up their last layers
        with torch.no_grad():
            state.nets[k].net[-1].weight.mul_(50)
            state.nets[k].net[-1].bias.fill_(0.3)
    ro = collect(state.nets["pi"], method.envs, seed=0, step=0, episodes=3)
    assert ro.terminated.any()
    r, stats = method.reward(state, ro, [])
    g, h, pi = state.nets["g"], state.nets["h"], state.nets["pi"]
    with torch.no_grad():
        by_hand = (g.net(ro.obs).squeeze(1) + 0.99 * (~ro.terminated).float() * h.net(ro.next_obs).squeeze(1)
                   - h.net(ro.obs).squeeze(1) - torch.log_softmax(pi.net(ro.obs), 1).gather(1, ro.acts[:, None])[:, 0])
    assert torch.allclose(r, by_hand, atol=1e-5)
    assert float(stats["reward_mean"]) == pytest.approx(float(by_hand.mean()), abs=1e-5)


def test_airl_policy_reward_g_is_the_learned_reward_alone(demo_files):
    """policy_reward: g (inverse_rl's default) trains the policy on g(s), with neither h nor log pi."""
    from ganscape.train.state import DataSpec, build_state, load_data
    t = tree("airl", "CartPole-v1", 1, demo_files["CartPole-v1"])
    t["method"]["params"]["policy_reward"] = "g"
    cfg = from_dict(t)
    state, method = build_state(cfg, DataSpec.of(load_data(cfg, "train")), torch.device("cpu"))
    for k in ("g", "h"):
        with torch.no_grad():
            state.nets[k].net[-1].weight.mul_(50)
            state.nets[k].net[-1].bias.fill_(0.3)
    ro = collect(state.nets["pi"], method.envs, seed=0, step=0, episodes=2)
    r, _ = method.reward(state, ro, [])
    with torch.no_grad():
        by_hand = state.nets["g"].net(ro.obs).squeeze(1)
        logit = method.d_logits(state, ro.obs, ro.acts, ro.next_obs, ro.terminated)
    assert torch.allclose(r, by_hand, atol=1e-6)
    assert not torch.allclose(r, logit, atol=1e-2)


@pytest.mark.parametrize("form", ["positive", "negative"])
def test_gail_reward_is_of_its_discriminator(form, demo_files):
    from ganscape.train.state import DataSpec, build_state, load_data
    t = tree("gail", "CartPole-v1", 1, demo_files["CartPole-v1"])
    t["method"]["params"]["reward_form"] = form
    cfg = from_dict(t)
    state, method = build_state(cfg, DataSpec.of(load_data(cfg, "train")), torch.device("cpu"))
    ro = collect(state.nets["pi"], method.envs, seed=0, step=0, episodes=2)
    r, _ = method.reward(state, ro, [])
    with torch.no_grad():
        v = state.nets["D"].net(ro.obs).gather(1, ro.acts[:, None])[:, 0].double()
    p = torch.sigmoid(v)
    by_hand = -torch.log(1 - p) if form == "positive" else torch.log(p)
    assert torch.allclose(r.double(), by_hand, atol=1e-5)


def test_resume_is_bit_exact(tmp_path, demo_files, same_checkpoints):
    for recipe, algo, env_id in (("expert-trpo", "trpo", "Pendulum-v1"), ("gail", "ppo", "CartPole-v1")):
        demos = None if recipe.startswith("expert") else demo_files[env_id]
        full = ganscape.train(from_dict(tree(recipe, env_id, 4, demos, algo)), run_dir=tmp_path / f"{recipe}-full")
        half = ganscape.train(from_dict(tree(recipe, env_id, 2, demos, algo)), run_dir=tmp_path / f"{recipe}-half")
        ganscape.resume(half, steps=4)
        a, b = same_checkpoints(full, half)
        assert a["step"] == b["step"] == 4 and a["method"] == b["method"]
        assert rundir.read_jsonl(full / "stats.jsonl")[-1]["return"] == \
            rundir.read_jsonl(half / "stats.jsonl")[-1]["return"]


# ---- bad input: one clear line each --------------------------------------------------------------------

def _refused(t, tmp_path, match):
    with pytest.raises(ConfigError, match=match) as e:
        ganscape.train(from_dict(t), run_dir=tmp_path / "bad")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "bad").exists()   # nothing is left behind
    return str(e.value)


def test_bad_input_is_one_clear_line(tmp_path, demo_files):
    t = tree("expert-trpo", "CartPole-v1", 1)
    t["env"]["id"] = ""
    _refused(t, tmp_path, r"env.id: method 'expert' acts in an environment; set env.id \(e.g. CartPole-v1\)")

    t = tree("expert-trpo", "CartPole-v9", 1)
    _refused(t, tmp_path, r"env.id: unknown environment 'CartPole-v9'; close matches: CartPole-v1")

    # demonstrations of another task: both ids are named
    t = tree("gail", "Pendulum-v1", 1, demo_files["CartPole-v1"])
    msg = _refused(t, tmp_path, "holds demonstrations of 'CartPole-v1', this run acts in 'Pendulum-v1'")
    assert "CartPole-v1.npz" in msg

    # the same id, observations of another shape
    ro = collect(None, [make_env("Pendulum-v1", max_episode_steps=10)], 0, 0, episodes=2)
    wide = write_demonstrations(tmp_path / "wide.npz", np.concatenate([ro.obs.numpy()] * 2, 1), ro.acts.numpy(),
                                ro.rews.numpy(), ro.dones.numpy(), "Pendulum-v1")
    _refused(tree("bc", "Pendulum-v1", 1, wide), tmp_path,
             r"has observations of shape \(6,\), Pendulum-v1 gives \(3,\)")

    # discrete actions for a continuous task
    ints = write_demonstrations(tmp_path / "ints.npz", ro.obs.numpy(), np.zeros(len(ro), np.int64),
                                ro.rews.numpy(), ro.dones.numpy(), "Pendulum-v1")
    _refused(tree("gail", "Pendulum-v1", 1, ints), tmp_path, "has discrete actions, Pendulum-v1 takes continuous ones")

    # AIRL needs next observations
    _refused(tree("airl", "CartPole-v1", 1, demo_files["CartPole-v1:no-next"]), tmp_path,
             r"has no next_obs / terminated keys, which method 'airl' needs")
    # GAIL and BC do not
    for recipe in ("gail", "bc"):
        run = ganscape.train(from_dict(tree(recipe, "CartPole-v1", 1, demo_files["CartPole-v1:no-next"])),
                             run_dir=tmp_path / f"ok-{recipe}")
        assert rundir.read_status(run)["status"] == "completed"

    # fewer pairs than a batch: what to change is named
    t = tree("bc", "CartPole-v1", 1, demo_files["CartPole-v1"])
    t["train"]["batch_size"] = 10_000
    _refused(t, tmp_path, r"train.batch_size: data set 'demonstrations' has \d+ examples, fewer than the 10000 .*"
                          r"data.params.trajectories")

    # an expert on demonstrations; imitation without them
    t = tree("expert-trpo", "CartPole-v1", 1, demo_files["CartPole-v1"])
    _refused(t, tmp_path, r"method 'expert' learns from the environment's reward: set data: none "
                          r"\(got data 'demonstrations'\)")
    for recipe in ("gail", "airl", "bc"):
        _refused(tree(recipe, "CartPole-v1", 1), tmp_path,
                 rf"method '{recipe}' imitates demonstrations: set data: demonstrations \(got data 'none'\)")
