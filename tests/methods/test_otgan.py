"""Method otgan (Salimans et al. 2018): one step on every image/points architecture (the critic's step
changes only D and raises the energy distance on its batches, the generator's changes only G and
lowers it), the n_gen schedule, a short digits run with a bit-exact resume, and what it refuses."""
import math

import pytest
import torch

import ganscape
from ganscape.config import from_dict
from ganscape.methods.base import Batch
from ganscape.registry import ConfigError
from ganscape.train import rundir
from ganscape.train.state import build_state, load_data

# the architectures of tests/test_contract.py's ARCH_SETUP, each with its data (tiny widths)
ARCHS = {
    "mlp": ({"width": 16, "depth": 2}, {"name": "ring-8", "params": {"n": 64}}),
    "dcgan": ({"width": 8}, {"name": "digits"}),
    "sndcgan": ({"width": 4}, {"name": "digits"}),
    "resnet": ({"width": 8, "pooling": "mean"}, {"name": "digits", "params": {"size": 16}}),
    "resnet19": ({"width": 2}, {"name": "digits", "params": {"size": 32}}),
}


def tree(arch="mlp", steps=4, batch=8, **method):
    params, data = ARCHS[arch]
    return {"data": data, "model": {"z_dim": 4,
            "generator": {"arch": {"name": arch, "params": params}, "norm": "batch"},
            "discriminator": {"arch": {"name": arch, "params": params}, "norm": "weight"}},
            "eval": {"metrics": []},
            "method": {"name": "otgan", "params": {"eps": 0.1, "iters": 20, **method}},
            "optim": {"generator": {"name": "adam", "params": {"lr": 0.001}},
                      "discriminator": {"name": "adam", "params": {"lr": 0.001}}},
            "train": {"steps": steps, "batch_size": batch, "n_disc": 2, "log_every": 1, "sample_every": 0,
                      "checkpoint_every": 2, "latest_every": 2, "progress": False, "num_samples": 4}}


def _params(net):
    return [p.detach().clone() for p in net.parameters()]


def _changed(before, net):
    return any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_critic_then_generator_step_on_every_architecture(arch):
    torch.manual_seed(0)
    cfg = from_dict(tree(arch, n_gen=1))           # t = 1: generator, t = 2: critic
    x = load_data(cfg).floats()[:8]
    state, method = build_state(cfg, tuple(x.shape[1:]), torch.device("cpu"))
    G, D = state.nets["G"], state.nets["D"]
    batches = [Batch(x[:4]), Batch(x[4:])]
    g0, d0 = _params(G), _params(D)
    stats = method.step(state, batches, log=True)  # generator's turn
    assert _changed(g0, G) and not _changed(d0, D)
    assert stats["critic_step"] == 0 and "g_grad_norm" in stats and stats["g_grad_norm"] > 0
    state.step += 1
    g1, d1 = _params(G), _params(D)
    stats = method.step(state, batches, log=True)  # critic's turn
    assert _changed(d1, D) and not _changed(g1, G)
    assert stats["critic_step"] == 1 and stats["d_grad_norm"] > 0
    for k, v in stats.items():
        assert torch.isfinite(v).all(), (k, v)


def _energy(method, state, batches, seed):
    torch.manual_seed(seed)
    G, D = state.nets["G"], state.nets["D"]
    n = len(batches[0])
    with torch.no_grad():
        y, y2 = G(G.sample_z(n)), G(G.sample_z(n))
        return float(method.energy(D, batches[0].x, batches[1].x, y, y2)[0])


def test_the_critic_raises_the_energy_distance_and_the_generator_lowers_it():
    torch.manual_seed(1)
    cfg = from_dict(tree("mlp", n_gen=1))
    x = load_data(cfg).floats()[:64]
    state, method = build_state(cfg, tuple(x.shape[1:]), torch.device("cpu"))
    batches = [Batch(x[:32]), Batch(x[32:])]
    state.nets["G"].eval()                           # batch norm in eval: the same fakes for the same z
    before = _energy(method, state, batches, 7)
    state.step = 1                                   # t = 2: the critic's turn
    torch.manual_seed(7)
    method.step(state, batches, log=False)
    after_critic = _energy(method, state, batches, 7)
    assert after_critic > before
    state.step = 2                                   # t = 3: the generator's turn
    torch.manual_seed(7)
    method.step(state, batches, log=False)
    assert _energy(method, state, batches, 7) < after_critic


def test_schedule_is_one_critic_update_per_n_gen_plus_one():
    cfg = from_dict(tree("mlp", n_gen=3))
    x = load_data(cfg).floats()[:8]
    state, method = build_state(cfg, tuple(x.shape[1:]), torch.device("cpu"))
    turns = []
    for _ in range(8):
        turns.append(int(method.step(state, [Batch(x[:4]), Batch(x[4:])], log=False)["critic_step"]))
        state.step += 1
    assert turns == [0, 0, 0, 1, 0, 0, 0, 1]
    assert state.d_step == 2


def test_trains_on_digits_and_resumes_bit_exactly(tmp_path, same_checkpoints):
    def digits(steps):
        t = tree("mlp", steps=steps, n_gen=1)
        t["data"] = {"name": "digits"}
        return from_dict(t)

    full = ganscape.train(digits(6), run_dir=tmp_path / "full")
    stats = rundir.read_jsonl(full / "stats.jsonl")
    assert len(stats) == 6 and all(math.isfinite(v) for r in stats for v in r.values())
    assert [r["critic_step"] for r in stats] == [0, 1, 0, 1, 0, 1]
    half = ganscape.train(digits(2), run_dir=tmp_path / "half")
    ganscape.resume(half, steps=6)
    same_checkpoints(full, half)
    x = ganscape.sample(full, n=3)
    assert x.shape == (3, 1, 8, 8) and torch.isfinite(x).all()


def test_refuses_what_it_cannot_do(tmp_path):
    t = tree()
    t["train"]["n_disc"] = 1
    with pytest.raises(ConfigError, match="train.n_disc: method otgan takes the step's two real batches"):
        ganscape.train(from_dict(t), run_dir=tmp_path / "a")
    t = tree()
    t["penalties"] = [{"name": "gp", "params": {"weight": 1.0}}]
    with pytest.raises(ConfigError, match="penalties: method otgan's critic is trained by the energy distance"):
        ganscape.train(from_dict(t), run_dir=tmp_path / "b")
    for key, value, msg in (("eps", 0.0, "eps: must be > 0"), ("iters", 0, "iters: must be >= 1"),
                            ("n_gen", 0, "n_gen: must be >= 1")):
        with pytest.raises(ConfigError, match=msg):
            from_dict(tree(**{key: value}))


def test_transport_runs_in_fp32_under_bf16_autocast(monkeypatch):
    from ganscape.objectives import sinkhorn as sk
    seen = []
    cost = sk.cosine_cost
    monkeypatch.setattr(sk, "cosine_cost", lambda a, b: seen.append(cost(a, b).dtype) or cost(a, b))
    cfg = from_dict(tree("mlp", n_gen=1))
    x = load_data(cfg).floats()[:8]
    state, method = build_state(cfg, tuple(x.shape[1:]), torch.device("cpu"))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        stats = method.step(state, [Batch(x[:4]), Batch(x[4:])], log=False)
    assert seen == [torch.float32] and torch.isfinite(stats["energy_distance"])


def test_backprop_through_the_iterations_changes_the_generators_gradient():
    grads = {}
    for backprop in (False, True):
        torch.manual_seed(2)
        cfg = from_dict(tree("mlp", n_gen=1, backprop=backprop))
        x = load_data(cfg).floats()[:16]
        state, method = build_state(cfg, tuple(x.shape[1:]), torch.device("cpu"))
        torch.manual_seed(3)
        stats = method.step(state, [Batch(x[:8]), Batch(x[8:])], log=True)   # t = 1: the generator's turn
        grads[backprop] = torch.cat([p.grad.flatten() for p in state.nets["G"].parameters() if p.grad is not None])
        assert torch.isfinite(stats["g_grad_norm"]) and stats["g_grad_norm"] > 0
    assert grads[False].shape == grads[True].shape and not torch.allclose(grads[False], grads[True])
