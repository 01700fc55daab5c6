"""The sequence GANs' updates on real nets (issue 17, items 5, 6, 11, 27):
SeqGAN's rollout policy after a warm start, D's dropout off while rewards
and weights are computed, the direction of the policy gradients, and the
adversarial phase's own Adam and learning rate."""
import pytest
import torch
from torch import nn

import ganscape
from ganscape.config import from_dict
from ganscape.methods import sequence as seq
from ganscape.methods.base import Batch
from ganscape.train.loop import warm_start
from ganscape.train.state import DataSpec, build_state, load_data

ORACLE = {"name": "oracle", "params": {"vocab_size": 6, "length": 4, "n_train": 64, "n_test": 16,
                                       "emb_dim": 4, "hidden_dim": 4}}
G = {"arch": {"name": "lstm", "params": {"emb_dim": 8, "hidden_dim": 8}}, "norm": "none"}
D = {"arch": {"name": "seq-cnn", "params": {"emb_dim": 8, "width": 0.05, "dropout": 0.5}}, "norm": "none"}


def tree(method, steps=1, g_lr=0.01, **train):
    return {"data": ORACLE, "model": {"generator": G, "discriminator": D}, "method": method, "loss": "ns",
            "optim": {"generator": {"name": "adam", "params": {"lr": g_lr}}},
            "train": {"steps": steps, "batch_size": 16, "n_disc": 1, "log_every": 1, "sample_every": 0,
                      "checkpoint_every": 0, "progress": False, **train}}


def built(method, **kw):
    cfg = from_dict(tree(method, **kw))
    data = load_data(cfg, "train")
    state, m = build_state(cfg, DataSpec.of(data), torch.device("cpu"))
    return state, m, data


def batches(data, n=1, size=16):
    return [Batch(data.floats()[i * size:(i + 1) * size]) for i in range(n)]


# ----------------------------------------------------------------------------- item 5: the rollout policy

def test_seqgan_rolls_out_with_the_current_g_by_default(monkeypatch):
    """SeqGAN's code completes prefixes with G's current weights (its 0.8
    update is never run): the default rollout net is G itself."""
    assert seq.SeqGANParams().rollout_update == 0.0
    state, m, data = built({"name": "seqgan", "params": {"rollouts": 2}})
    seen = []
    real = seq.rollout_rewards
    monkeypatch.setattr(seq, "rollout_rewards", lambda r, d, x, k: seen.append(r) or real(r, d, x, k))
    m.step(state, batches(data), log=False)
    assert seen and seen[0] is state.nets["G"]


def test_delayed_rollout_starts_from_the_warm_started_g(tmp_path):
    """With rollout_update r > 0 the delayed copy starts as the G of the
    first adversarial step: after train.init_from, not the random G the nets
    were built with (which the benchmark's adversarial phase used)."""
    mle = ganscape.train(from_dict(tree({"name": "mle"}, steps=5)), run_dir=tmp_path / "mle")
    g_mle = torch.load(mle / "checkpoints" / "latest.pt", weights_only=True)["nets"]["G"]
    run = ganscape.train(from_dict(tree({"name": "seqgan", "params": {"rollouts": 2, "rollout_update": 0.8}},
                                        init_from=str(mle))), run_dir=tmp_path / "seqgan")
    ck = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    g_after, rollout = ck["nets"]["G"], ck["method"]["rollout"]
    for k, v in rollout.items():    # one G step, then rollout <- 0.8 rollout + 0.2 G, from the MLE weights
        torch.testing.assert_close(v, 0.8 * g_mle[k] + 0.2 * g_after[k])
    # and its state survives a resume: a fresh method loads the copy
    state, m, _ = built({"name": "seqgan", "params": {"rollouts": 2, "rollout_update": 0.8}})
    m.load_state_dict(ck["method"])
    assert all(torch.equal(m.rollout.state_dict()[k], v) for k, v in rollout.items())


def test_delayed_rollout_is_g_after_pretraining_in_one_run():
    state, m, data = built({"name": "seqgan", "params": {"rollouts": 2, "rollout_update": 0.5, "pretrain_g": 2}})
    for _ in range(2):                                        # the MLE phase
        m.step(state, batches(data), log=False)
        state.step += 1
    g = {k: v.clone() for k, v in state.nets["G"].state_dict().items()}
    m.step(state, batches(data), log=False)                   # the first adversarial step
    g2 = state.nets["G"].state_dict()
    for k, v in m.rollout.state_dict().items():
        torch.testing.assert_close(v, 0.5 * g[k] + 0.5 * g2[k])


# ----------------------------------------------------------------------------- item 6: D without dropout

def test_eval_mode_restores_every_flag_even_on_error():
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.5)))
    net[2].eval()                                              # a submodule already in eval mode stays so
    with pytest.raises(RuntimeError):
        with seq.eval_mode(net):
            assert not any(m.training for m in net.modules())
            raise RuntimeError
    assert net.training and net[1].training and not net[2].training and not net[2][0].training


def _record_training(monkeypatch, net):
    calls = []
    forward = net.forward
    monkeypatch.setattr(net, "forward", lambda x, *a, **k: calls.append(net.training) or forward(x, *a, **k))
    return calls


def test_seqgan_rewards_are_computed_without_dropout(monkeypatch):
    state, m, data = built({"name": "seqgan", "params": {"rollouts": 2}})
    D = state.nets["D"]
    seen = []
    real = seq.rollout_rewards

    def spy(r, d, x, k):
        q = real(r, d, x, k)
        seen.append((d.training, r.training, q, real(r, d, x, k)))
        return q
    monkeypatch.setattr(seq, "rollout_rewards", spy)
    torch.manual_seed(0)
    m.step(state, batches(data), log=False)
    d_training, rollout_training, q, q_again = seen[0]
    assert not d_training and not rollout_training
    assert D.training and state.nets["G"].training             # restored for the D step and the next G step
    # with dropout 0.5 on, the last position's reward sigmoid(D(x)) would differ between two calls
    torch.testing.assert_close(q[:, -1], q_again[:, -1])


def test_maligan_weights_are_computed_without_dropout(monkeypatch):
    state, m, data = built({"name": "maligan", "params": {"samples": 4}})
    calls = _record_training(monkeypatch, state.nets["D"])
    m.step(state, batches(data), log=False)
    assert calls[:2] == [True, True]                            # D's own update: dropout on (real, fake)
    assert calls[-1] is False                                   # the importance weights: off
    assert state.nets["D"].training


# ----------------------------------------------------------------------------- item 11: directions

def test_policy_gradient_losses_by_hand():
    q = torch.tensor([[1.0, 0.5], [0.0, 2.0]])
    logp = torch.tensor([[-1.0, -2.0], [-3.0, -0.5]], requires_grad=True)
    loss = seq.policy_gradient_loss(q, logp)
    assert loss.item() == pytest.approx(-(1 * -1 + 0.5 * -2 + 0 * -3 + 2 * -0.5) / 4)    # 0.75
    loss.backward()
    torch.testing.assert_close(logp.grad, -q / 4)             # descent raises log g where the reward is > 0
    w = torch.tensor([[0.75, 0.25], [0.5, 0.5]])
    lp = torch.tensor([[-4.0, -8.0], [-2.0, -6.0]], requires_grad=True)
    loss = seq.weighted_likelihood_loss(w, lp)
    assert loss.item() == pytest.approx(-((0.75 * -4 + 0.25 * -8) + (0.5 * -2 + 0.5 * -6)) / 2)  # 4.5
    loss.backward()
    torch.testing.assert_close(lp.grad, -w / 2)


class FirstTokenD(nn.Module):
    """A fixed D: logit +4 for sequences that start with id 0, -4 otherwise
    (a parameter only so that D's own update has something to differentiate)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(4.0))

    def forward(self, x):
        return self.scale * (2.0 * (x[:, 0] == 0).float() - 1.0)


def p_first_is_zero(G) -> float:
    with torch.no_grad():
        return torch.softmax(G.logits(torch.zeros(1, 4, dtype=torch.long))[0, 0], -1)[0].item()


@pytest.mark.parametrize("method", [{"name": "seqgan", "params": {"rollouts": 2}},
                                    {"name": "maligan", "params": {"samples": 8}}])
def test_a_few_g_steps_raise_the_probability_of_rewarded_sequences(method):
    """With D fixed to reward sequences that start with 0, SeqGAN's and
    MaliGAN's G steps make such sequences more likely (a flipped sign makes
    them rarer)."""
    torch.manual_seed(0)
    state, m, data = built(method, g_lr=0.05)
    state.nets["D"] = FirstTokenD()
    before = p_first_is_zero(state.nets["G"])
    for _ in range(8):
        m.step(state, batches(data, size=32), log=False)
        state.step += 1
    after = p_first_is_zero(state.nets["G"])
    assert after > before + 0.2, (before, after)


# ----------------------------------------------------------------------------- item 27: the adversarial phase

def test_adversarial_phase_gets_a_fresh_adam_and_its_own_lr():
    state, m, data = built({"name": "maligan", "params": {"samples": 4, "pretrain_g": 2, "pretrain_d": 1,
                                                          "adversarial_lr": 1e-4}}, g_lr=1e-2)
    opt = state.optims["G"]
    for _ in range(2):                                          # MLE at the configured rate
        m.step(state, batches(data), log=False)
        state.step += 1
        assert opt.param_groups[0]["lr"] == 1e-2
    assert int(opt.state[next(iter(state.nets["G"].parameters()))]["step"]) == 2
    m.step(state, batches(data), log=False)                    # D pretraining: G's Adam reset, rate set
    state.step += 1
    assert len(opt.state) == 0 and opt.param_groups[0]["lr"] == 1e-4 and state.base_lr["G"] == 1e-4
    m.step(state, batches(data), log=False)                    # the first G update of the adversarial phase
    state.step += 1
    assert int(opt.state[next(iter(state.nets["G"].parameters()))]["step"]) == 1
    # a resume restores the configured rate, scaled by the schedule (here 0.5): the step sets it again
    state.base_lr["G"] = 1e-2
    for g in opt.param_groups:
        g["lr"] = 0.5e-2
    m.step(state, batches(data), log=False)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5e-4)
    assert int(opt.state[next(iter(state.nets["G"].parameters()))]["step"]) == 2   # not reset again


def test_adversarial_lr_zero_keeps_the_configured_rate():
    state, m, data = built({"name": "seqgan", "params": {"rollouts": 2, "pretrain_g": 1}}, g_lr=3e-3)
    for _ in range(2):
        m.step(state, batches(data), log=False)
        state.step += 1
    assert state.optims["G"].param_groups[0]["lr"] == 3e-3
    with pytest.raises(Exception, match="adversarial_lr: must be >= 0"):
        seq.MaliGANParams(adversarial_lr=-1.0).validate("method.params")


def test_text_gan_preset_is_mle_then_a_slow_adversarial_phase_in_one_run(tmp_path):
    """The preset as shipped does the two-stage recipe itself (issue 17,
    item 27): MLE at 2e-3, then MaliGAN with a fresh Adam at 2e-4; only the
    sizes are cut here."""
    from ganscape.train import rundir
    path = tmp_path / "t.txt"
    path.write_text("".join(f"the {a} otter {v} a river.\n" for a in ("old", "tiny", "brave") for v in
                            ("finds", "hides", "paints")) * 20)
    run = ganscape.train("text-gan", overrides=[
        f"data.params.path={path}", "method.params.pretrain_g=3", "method.params.pretrain_d=1", "train.steps=6",
        "model.generator.arch.params.hidden_dim=16", "model.discriminator.arch.params.width=0.05",
        "eval.every=3", "eval.n=20", "train.log_every=1", "train.progress=false", "train.sample_every=0",
        "train.checkpoint_every=0"], run_dir=tmp_path / "run")
    stats = rundir.read_jsonl(run / "stats.jsonl")
    assert ["mle_loss" in r for r in stats] == [True, True, True, False, False, False]
    assert "g_loss" in stats[-1] and "ess" in stats[-1]
    ck = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    assert ck["optims"]["G"]["param_groups"][0]["lr"] == pytest.approx(2e-4)
    assert min(int(s["step"]) for s in ck["optims"]["G"]["state"].values()) == 2   # fresh at step 3: 2 G updates
