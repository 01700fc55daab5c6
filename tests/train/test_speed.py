"""train.precision and train.channels_last (train/speed.py): bf16 autocast trains
close to fp32 and is really on; fp16 and bf16-for-environments are one clear line;
channels_last keeps the values and puts the convolutions in NHWC order."""
import copy
import json

import pytest
import torch

import ganscape
from ganscape.config import from_dict
from ganscape.registry import ConfigError


def _losses(run):
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    return [(r["d_loss"], r["g_loss"]) for r in rows]


def _tree(tiny_tree, **train):
    t = copy.deepcopy(tiny_tree)
    t["train"].update({"steps": 4, "log_every": 1, "sample_every": 0, "checkpoint_every": 0, "threads": 1, **train})
    return t


def test_bf16_autocast_trains_within_a_stated_tolerance_of_fp32_and_is_really_on(tiny_tree, tmp_path):
    a = ganscape.train(from_dict(_tree(tiny_tree)), run_dir=tmp_path / "fp32")
    b = ganscape.train(from_dict(_tree(tiny_tree, precision="bf16")), run_dir=tmp_path / "bf16")
    la, lb = _losses(a), _losses(b)
    assert len(la) == len(lb) == 4
    # bfloat16 keeps 8 bits of mantissa (relative error ~0.4% per product): the first steps' losses
    # (about 0.7 and 1.4) agree to 0.05 ...
    for (da, ga), (db, gb) in zip(la, lb):
        assert abs(da - db) < 0.05 and abs(ga - gb) < 0.05
    # ... and differ: the products really ran in bfloat16
    assert la != lb
    ck = torch.load(b / "checkpoints" / "latest.pt", weights_only=True)
    assert all(v.dtype == torch.float32 for v in ck["nets"]["G"].values() if v.is_floating_point())


def test_fp16_and_bf16_for_an_acting_method_are_refused_in_one_line(tiny_tree, tmp_path):
    with pytest.raises(ConfigError, match="train.precision: fp16 needs a CUDA device; use bf16"):
        ganscape.train(from_dict(_tree(tiny_tree, precision="fp16")), run_dir=tmp_path / "a")
    with pytest.raises(ConfigError, match="train.precision: 'fp8' is not allowed; choose fp32, bf16 or fp16"):
        from_dict(_tree(tiny_tree, precision="fp8"))
    pytest.importorskip("gymnasium", reason="gymnasium is not installed (pip install ganscape[rl])")
    t = {"name": "e", "data": {"name": "none"}, "env": {"id": "CartPole-v1", "num_envs": 1},
         "method": {"name": "expert", "params": {"steps_per_iter": 50}},
         "train": {"steps": 1, "progress": False, "precision": "bf16"}}
    with pytest.raises(ConfigError, match="bf16 is for methods that train on batches; method 'expert' steps env"):
        ganscape.train(from_dict(t), run_dir=tmp_path / "b")


def test_channels_last_keeps_the_values_and_orders_convolutions_nhwc(tiny_tree, tmp_path):
    t = _tree(tiny_tree)
    t["model"] = {"z_dim": 8, "generator": {"arch": {"name": "dcgan", "params": {"width": 8}}},
                  "discriminator": {"arch": {"name": "dcgan", "params": {"width": 8}}}}
    t["data"] = {"name": "digits", "params": {"size": 16}}
    a = ganscape.train(from_dict(t), run_dir=tmp_path / "plain")
    t["train"]["channels_last"] = True
    cfg = from_dict(t)
    b = ganscape.train(cfg, run_dir=tmp_path / "nhwc")
    for (da, ga), (db, gb) in zip(_losses(a), _losses(b)):   # the same sums in another order
        assert da == pytest.approx(db, abs=1e-4) and ga == pytest.approx(gb, abs=1e-4)
    from ganscape.train.state import DataSpec, build_state, load_data
    state, _ = build_state(cfg, DataSpec.of(load_data(cfg, "train")), torch.device("cpu"))
    convs = [m.weight for m in state.nets["D"].modules() if isinstance(m, torch.nn.Conv2d)]
    # every convolution NHWC; those with more than one channel and pixel are then no longer NCHW-contiguous
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert any(not w.is_contiguous() for w in convs)


def test_batches_take_the_runs_memory_order(tiny_tree):
    from ganscape.train.speed import batch_layout
    x = torch.randn(4, 3, 8, 8)
    on = from_dict(_tree(tiny_tree, channels_last=True))
    off = from_dict(_tree(tiny_tree))
    y = batch_layout(on, x)
    assert torch.equal(y, x) and y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    assert batch_layout(off, x) is x and batch_layout(on, torch.randn(4, 2)).is_contiguous()


def _ck(run):
    return torch.load(run / "checkpoints" / "latest.pt", weights_only=True)["nets"]


def test_compile_trains_the_same_weights_and_keeps_checkpoint_keys(tiny_tree, tmp_path, monkeypatch):
    from ganscape.train import speed
    monkeypatch.setattr(speed, "BACKEND", "eager")   # the same wiring as inductor, without compiling kernels
    plain = ganscape.train(from_dict(_tree(tiny_tree)), run_dir=tmp_path / "plain")
    comp = ganscape.train(from_dict(_tree(tiny_tree, compile=True)), run_dir=tmp_path / "compiled")
    a, b = _ck(plain), _ck(comp)
    assert a.keys() == b.keys()
    for net in a:
        assert a[net].keys() == b[net].keys()   # no "_orig_mod." prefixes
        for k in a[net]:
            torch.testing.assert_close(a[net][k], b[net][k], rtol=0, atol=1e-6)


def test_compile_leaves_d_eager_under_a_double_backward_penalty_and_falls_back_when_unavailable(
        tiny_tree, tmp_path, monkeypatch):
    from ganscape.config import from_dict as fd
    from ganscape.train import speed
    from ganscape.train.state import build_state
    monkeypatch.setattr(speed, "BACKEND", "eager")
    t = _tree(tiny_tree, compile=True)
    t["penalties"] = [{"name": "r1", "params": {"weight": 1.0}}]
    cfg = fd(t)
    state, _ = build_state(cfg, (1, 8, 8), torch.device("cpu"))
    with pytest.warns(RuntimeWarning, match="D stays eager: penalty r1 takes a double backward"):
        out = speed.compile_nets(cfg, state.nets, torch.device("cpu"))
    assert out["G"] == "compiled" and out["D"] != "compiled"
    assert state.nets["G"]._compiled_call_impl is not None and state.nets["D"]._compiled_call_impl is None
    ganscape.train(cfg, run_dir=tmp_path / "r1")   # trains: D's double backward runs eagerly
    monkeypatch.setattr(speed, "compile_unavailable", lambda device: "compiling CPU kernels needs a C++ compiler")
    with pytest.warns(RuntimeWarning, match="train.compile: compiling CPU kernels needs a C\\+\\+ compiler; "
                                            "training without compiling"):
        run = ganscape.train(from_dict(_tree(tiny_tree, compile=True)), run_dir=tmp_path / "fallback")
    assert json.loads((run / "status.json").read_text())["status"] == "completed"


def test_fp16_loss_scaling_trains_near_fp32_and_skips_a_step_with_an_overflow(tiny_tree, tmp_path, monkeypatch):
    """fp16 is for CUDA; torch's CPU autocast also has float16, which lets the scaler be checked here."""
    from ganscape.train import speed
    monkeypatch.setattr(speed, "FP16_DEVICES", ("cuda", "cpu"))
    t = _tree(tiny_tree, precision="fp16")
    t["penalties"] = [{"name": "r1", "params": {"weight": 1.0}}]   # its inner gradient runs in float32
    a = ganscape.train(from_dict({**_tree(tiny_tree), "penalties": t["penalties"]}), run_dir=tmp_path / "fp32")
    b = ganscape.train(from_dict(t), run_dir=tmp_path / "fp16")
    for (da, ga), (db, gb) in zip(_losses(a), _losses(b)):
        assert abs(da - db) < 0.05 and abs(ga - gb) < 0.05
    assert _losses(a) != _losses(b)
    ck = torch.load(b / "checkpoints" / "latest.pt", weights_only=True)
    for name in ("D", "G"):   # saved for resume; every skipped (overflowing) step halved the scale
        s = ck["scalers"][name]
        assert s["scale"] == 2.0 ** 16 / 2 ** s["skipped"] and s["skipped"] < 4

    # an overflow: the step is skipped (the weights do not move) and the scale halves
    net = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    sc = speed.LossScaler(opt, init_scale=4.0)
    before = [p.detach().clone() for p in net.parameters()]
    sc.backward(net(torch.tensor([[1.0, 2.0, 3.0]])).sum() * float("inf"))
    opt.step()
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before)) and sc.scale == 2.0
    # a finite step: the gradients the optimizer sees are the true ones (scaled, then divided back)
    opt.zero_grad()
    sc.backward(net(torch.tensor([[1.0, 2.0, 3.0]])).sum())
    assert torch.allclose(net.weight.grad, torch.tensor([[1.0, 2.0, 3.0]]))
    opt.step()
    assert torch.allclose(net.weight, before[0] - 0.1 * torch.tensor([[1.0, 2.0, 3.0]]))
    # two backward passes before one step are refused
    opt.zero_grad()
    sc.backward(net(torch.ones(1, 3)).sum())
    sc.backward(net(torch.ones(1, 3)).sum())
    with pytest.raises(RuntimeError, match="2 backward passes"):
        opt.step()


def test_fp16_trains_infogan_whose_d_backward_also_feeds_q(tmp_path, monkeypatch):
    from ganscape.train import speed
    monkeypatch.setattr(speed, "FP16_DEVICES", ("cuda", "cpu"))
    run = ganscape.train("infogan-digits", overrides=["train.steps=3", "train.precision=fp16", "eval.metrics=[]",
                                                      "train.progress=false", "train.sample_every=0",
                                                      "train.threads=1"], run_dir=tmp_path / "info")
    ck = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    assert set(ck["scalers"]) == {"G", "D", "Q"}
