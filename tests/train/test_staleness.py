"""train.staleness (train/staleness.py): the delayed-gradient recursion pinned by hand on a
quadratic and on a two-player bilinear game, nothing installed at k = 0, current parameters
outside the step, exact resume, and the refusals."""
import copy
import types

import pytest
import torch

import ganscape
from ganscape.config import from_dict
from ganscape.registry import ConfigError
from ganscape.train import checkpoint as ckpt_io
from ganscape.train import staleness


def _tree(tiny_tree, **train):
    t = copy.deepcopy(tiny_tree)
    t["train"].update({"steps": 5, "log_every": 1, "sample_every": 0, "checkpoint_every": 0, "latest_every": 3,
                       "threads": 1, **train})
    return t


def _sgd_on_quadratic(k: int, steps: int = 6, lr: float = 0.5):
    """x_0 = 1, f(x) = x^2 / 2 (f'(x) = x), one SGD step per method step; the values after each step."""
    x = torch.nn.Parameter(torch.tensor([1.0]))
    opt = torch.optim.SGD([x], lr=lr)
    s = staleness.Staleness(k, {"x": opt})
    out = []
    for _ in range(steps):
        with s.around_step():
            opt.zero_grad()
            (0.5 * x ** 2).sum().backward()
            opt.step()
        out.append(float(x.detach()))   # outside the step: the current value
    return out


def test_sgd_on_a_quadratic_follows_the_delayed_recursion_computed_by_hand():
    # x_{t+1} = x_t - 0.5 x_{max(t-k, 0)}, x_0 = 1:
    # k = 1: 1 - .5 = .5; .5 - .5*1 = 0; 0 - .5*.5 = -.25; -.25 - .5*0 = -.25; -.25 + .125 = -.125; -.125 + .125 = 0
    assert _sgd_on_quadratic(1) == [0.5, 0.0, -0.25, -0.25, -0.125, 0.0]
    # k = 2: .5; .5 - .5*1 = 0; 0 - .5*1 = -.5; -.5 - .5*.5 = -.75; -.75 - .5*0 = -.75; -.75 + .25 = -.5
    assert _sgd_on_quadratic(2) == [0.5, 0.0, -0.5, -0.75, -0.75, -0.5]
    # k = 0 (the class with k 0 is plain SGD): halving
    assert _sgd_on_quadratic(0) == [0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625]


def test_every_other_net_is_also_stale_by_its_own_steps_in_a_bilinear_game():
    """min_x max_y x*y: x steps first, then y, in each method step. x's gradient y is read at y's stale
    view (y has made t steps), y's gradient x at x's stale view after x's step (t + 1 steps)."""
    k, lr, n = 2, 0.3, 7
    x, y = torch.nn.Parameter(torch.tensor([1.0])), torch.nn.Parameter(torch.tensor([0.5]))
    ox, oy = torch.optim.SGD([x], lr=lr), torch.optim.SGD([y], lr=lr)
    s = staleness.Staleness(k, {"x": ox, "y": oy})
    got = []
    for _ in range(n):
        with s.around_step():
            ox.zero_grad()
            (x * y).sum().backward()
            ox.step()
            oy.zero_grad()
            (-(x * y)).sum().backward()
            oy.step()
        got.append((float(x.detach()), float(y.detach())))
    xs, ys, want = [1.0], [0.5], []   # the recursion, independently
    for t in range(n):
        xs.append(xs[t] - lr * ys[max(t - k, 0)])
        ys.append(ys[t] + lr * xs[max(t + 1 - k, 0)])
        want.append((xs[-1], ys[-1]))
    assert [v for p in got for v in p] == pytest.approx([v for p in want for v in p], abs=1e-6)
    xs0, ys0 = [1.0], [0.5]   # without delay the trajectory differs: the test would notice k being ignored
    for t in range(n):
        xs0.append(xs0[t] - lr * ys0[t])
        ys0.append(ys0[t] + lr * xs0[t + 1])
    assert abs(got[-1][0] - xs0[-1]) > 0.05


def test_staleness_0_installs_nothing_and_trains_bit_identically(tiny_tree, tmp_path, same_checkpoints):
    a = ganscape.train(from_dict(_tree(tiny_tree)), run_dir=tmp_path / "plain")
    b = ganscape.train(from_dict(_tree(tiny_tree, staleness=0)), run_dir=tmp_path / "k0")
    ca, cb = same_checkpoints(a, b)
    assert set(ca) == set(cb) and "staleness" not in cb
    for n in ca["optims"]:   # Adam's moments too
        for i, st in ca["optims"][n]["state"].items():
            assert all(torch.equal(u, v) for u, v in zip(st.values(), cb["optims"][n]["state"][i].values()))


def test_nets_hold_current_parameters_outside_the_step_and_resume_is_exact(tiny_tree, tmp_path, same_checkpoints):
    t = _tree(tiny_tree, staleness=2, ema_decay=0.9, ema_start=100)   # before ema_start the EMA copies G
    whole = ganscape.train(from_dict(t), run_dir=tmp_path / "whole")
    ck = ckpt_io.load(whole / "checkpoints" / "latest.pt")
    past = ck["staleness"]["past"]
    assert ck["staleness"]["k"] == 2 and len(past["G"]) == len(past["D"]) == 2
    for name in ("G", "D"):
        params = [v for k, v in ck["nets"][name].items() if k in _param_names(tiny_tree, name)]
        assert len(params) == len(past[name][0])
        # the nets (and what the EMA followed) hold x_5, not the queue's x_3 or x_4
        for snap in past[name]:
            assert any(not torch.equal(p, q) for p, q in zip(params, snap))
    for k, v in ck["ema"]["G"].items():
        assert torch.equal(v, ck["nets"]["G"][k])
    # resume from step 3 (latest_every 3) to 5: the queue in the checkpoint makes it exact
    half = tmp_path / "half"
    ganscape.train(from_dict({**t, "train": {**t["train"], "steps": 3}}), run_dir=half)
    broken = tmp_path / "broken"
    import shutil
    shutil.copytree(half, broken)
    ganscape.resume(half, steps=5)
    same_checkpoints(whole, half)
    # ... and it matters: the same resume with the queue dropped from the checkpoint trains otherwise
    path = broken / "checkpoints" / "latest.pt"
    c = ckpt_io.load(path)
    del c["staleness"]
    ckpt_io.save_latest(broken / "checkpoints", c)
    ganscape.resume(broken, steps=5)
    with pytest.raises(AssertionError):
        same_checkpoints(whole, broken)


def _param_names(tiny_tree, name):
    from ganscape.train.state import DataSpec, build_state, load_data
    cfg = from_dict(tiny_tree)
    state, _ = build_state(cfg, DataSpec.of(load_data(cfg)), torch.device("cpu"))
    return {k for k, _ in state.nets[name].named_parameters()}


def test_config_and_refusals_are_one_line():
    with pytest.raises(ConfigError, match=r"train.staleness: must be an integer >= 0 .*got -1"):
        from_dict({"train": {"staleness": -1}})
    cfg = from_dict({"train": {"staleness": 1}, "method": {"name": "gan", "params": {"weight_clip": 0.01}}})
    from ganscape.train.state import build_method
    with pytest.raises(ConfigError, match="train.staleness: method.params.weight_clip 0.01 clips D"):
        staleness.check(cfg, build_method(cfg))
    acting = types.SimpleNamespace(data_kind="policy")
    with pytest.raises(ConfigError, match="train.staleness: method 'gan' is a recipe that acts"):
        staleness.check(from_dict({"train": {"staleness": 1}}), acting)
    w = torch.nn.Parameter(torch.ones(2))
    with pytest.raises(ConfigError, match="optimizers a and b update the same parameter"):
        staleness.Staleness(1, {"a": torch.optim.SGD([w], lr=0.1), "b": torch.optim.SGD([w], lr=0.1)})


def test_a_change_between_optimizer_steps_stops_the_run_instead_of_being_lost():
    x = torch.nn.Parameter(torch.tensor([1.0]))
    opt = torch.optim.SGD([x], lr=0.5)
    s = staleness.Staleness(1, {"x": opt})
    for clip in (False, True):
        with pytest.raises(ConfigError, match="changed parameters between optimizer steps") if clip \
                else _nothing():
            with s.around_step():
                opt.zero_grad()
                (0.5 * x ** 2).sum().backward()
                opt.step()
                if clip:
                    with torch.no_grad():
                        x.clamp_(-0.01, 0.01)   # what WGAN's clipping would do to the stale view
    # step 1: 1 - .5 * 1; step 2: .5 - .5 * 1 (the gradient at x_0), the clipped stale view not kept
    assert float(x.detach()) == 0.0


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_fp16_loss_scaler_hooks_run_first_and_a_skipped_step_still_counts():
    """The scaler (registered first, as the loop does) drops a non-finite gradient and the step changes
    nothing; the delay counts that step: x_{t+1} = x_t - 0.5 x_{max(t-2, 0)}, with x_2 = x_1."""
    from ganscape.train.speed import LossScaler
    x = torch.nn.Parameter(torch.tensor([1.0]))
    opt = torch.optim.SGD([x], lr=0.5)
    scaler = LossScaler(opt)
    s = staleness.Staleness(2, {"x": opt})
    out = []
    for t in range(5):
        with s.around_step():
            opt.zero_grad()
            scaler.backward((0.5 * x ** 2).sum() * (float("inf") if t == 1 else 1.0))
            opt.step()
        out.append(float(x.detach()))
    # x1 = .5; x2 = x1 (skipped); x3 = .5 - .5 * x0 = 0; x4 = 0 - .5 * x1 = -.25; x5 = -.25 - .5 * x2 = -.5
    assert out == [0.5, 0.5, 0.0, -0.25, -0.5]
    assert scaler.skipped == 1
