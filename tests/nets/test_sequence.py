"""Sequence nets: exact enumeration of a tiny generator's distribution, its
samples against it, causality of the per-position discriminator, one-hot
inputs, and SeqGAN's CNN."""
import itertools

import pytest
import torch

from ganscape.nets.layers import NetSpec
from ganscape.registry import ARCHITECTURES, NORMALIZATIONS, ConfigError


def spec(role, length=3, vocab=3, norm="none"):
    return NetSpec(role=role, shape=(length,), z_dim=4, norm=NORMALIZATIONS.build(norm, {}), kind="tokens",
                   vocab_size=vocab)


GENERATORS = {"lstm": {"emb_dim": 4, "hidden_dim": 5}, "transformer": {"d_model": 8, "heads": 2, "layers": 2}}


def tiny_g(length=3, vocab=3, seed=0, arch="lstm"):
    torch.manual_seed(seed)
    G = ARCHITECTURES.build(arch, GENERATORS[arch], spec("generator", length, vocab))
    with torch.no_grad():  # larger weights: a peaked, non-uniform distribution
        for name, p in G.named_parameters():
            if "norm" not in name:
                p.mul_(3.0)
    return G.eval()


def all_sequences(length, vocab):
    return torch.tensor(list(itertools.product(range(vocab), repeat=length)))


@pytest.mark.parametrize("arch", sorted(GENERATORS))
def test_log_prob_is_a_distribution_over_all_sequences(arch):
    G = tiny_g(arch=arch)
    xs = all_sequences(3, 3)
    lp = G.log_prob(xs)
    assert lp.shape == (27, 3)
    torch.testing.assert_close(lp.sum(1).exp().sum(), torch.tensor(1.0))
    torch.testing.assert_close(lp, torch.log_softmax(G.logits(xs), -1).gather(-1, xs.unsqueeze(-1)).squeeze(-1))


@pytest.mark.parametrize("arch", sorted(GENERATORS))
def test_samples_follow_the_model_and_return_their_log_prob(arch):
    G = tiny_g(arch=arch)
    xs = all_sequences(3, 3)
    p = G.log_prob(xs).sum(1).exp().detach()
    g = torch.Generator().manual_seed(1)
    x, lp = G.sample(20000, generator=g, return_log_prob=True)
    torch.testing.assert_close(lp, G.log_prob(x))
    assert lp.requires_grad
    codes = x[:, 0] * 9 + x[:, 1] * 3 + x[:, 2]
    freq = torch.bincount(codes, minlength=27).float() / len(x)
    assert (freq - p).abs().max() < 0.015  # sd of a frequency <= 0.0036 here
    # the same generator seed gives the same draws
    torch.testing.assert_close(G.sample(50, generator=torch.Generator().manual_seed(3)),
                               G.sample(50, generator=torch.Generator().manual_seed(3)))


@pytest.mark.parametrize("arch", sorted(GENERATORS))
def test_rollouts_keep_the_prefix_and_draw_from_the_conditional(arch):
    G = tiny_g(arch=arch)
    prefix = torch.full((20000, 1), 2)
    x, lp = G.sample(20000, prefix=prefix, generator=torch.Generator().manual_seed(2), return_log_prob=True)
    assert torch.equal(x[:, :1], prefix)
    torch.testing.assert_close(lp, G.log_prob(x))
    # p(x_1 | x_0 = 2) from the model against the draws
    cond = torch.softmax(G.logits(torch.tensor([[2, 0, 0]]))[0, 1], -1).detach()
    freq = torch.bincount(x[:, 1], minlength=3).float() / len(x)
    assert (freq - cond).abs().max() < 0.015
    full = G.sample(5, prefix=torch.tensor([[0, 1, 2]] * 5))
    assert torch.equal(full, torch.tensor([[0, 1, 2]] * 5))


@pytest.mark.parametrize("arch", sorted(GENERATORS))
def test_low_temperature_is_greedy(arch):
    G = tiny_g(arch=arch)
    x = G.sample(200, temperature=1e-4, generator=torch.Generator().manual_seed(0))
    assert (x == x[0]).all()
    greedy = [G.logits(x[:1])[0, 0].argmax().item()]
    assert x[0, 0].item() == greedy[0]
    with pytest.raises(ValueError, match="temperature"):
        G.sample(2, temperature=0.0)


def test_relaxed_samples():
    G = tiny_g(length=4, vocab=5)
    y = G.soft_sample(6, tau=0.5)
    assert y.shape == (6, 4, 5)
    torch.testing.assert_close(y.sum(-1), torch.ones(6, 4))
    h = G.soft_sample(6, tau=0.5, hard=True)
    assert set(h.detach().unique().tolist()) <= {0.0, 1.0} and h.requires_grad
    h.sum().backward()
    assert G.emb.weight.grad is not None and G.emb.weight.grad.abs().sum() > 0  # gradients reach the generator
    s = G.softmax_sample(3)
    torch.testing.assert_close(s.sum(-1), torch.ones(3, 4))


def test_forward_and_placeholder_latents():
    G = tiny_g(length=4, vocab=5)
    x = G(G.sample_z(7))
    assert x.shape == (7, 4) and x.dtype == torch.long and 0 <= x.min() and x.max() < 5


def test_lstm_discriminator_is_causal_and_takes_one_hots():
    torch.manual_seed(0)
    D = ARCHITECTURES.build("lstm", {"emb_dim": 4, "hidden_dim": 6}, spec("discriminator", 5, 7))
    x = torch.randint(0, 7, (3, 5))
    v = D.per_position(x)
    assert v.shape == (3, 5) and D(x).shape == (3,)
    torch.testing.assert_close(D(x), v[:, -1])
    y = x.clone()
    y[:, 3:] = (y[:, 3:] + 1) % 7  # change the tokens from position 3 on
    torch.testing.assert_close(D.per_position(y)[:, :3], v[:, :3])
    assert not torch.allclose(D.per_position(y)[:, 3:], v[:, 3:])
    onehot = torch.nn.functional.one_hot(x, 7).float().requires_grad_(True)
    torch.testing.assert_close(D.per_position(onehot), v)
    D(onehot).sum().backward()
    assert onehot.grad.abs().sum() > 0


def test_seq_cnn():
    torch.manual_seed(0)
    D = ARCHITECTURES.build("seq-cnn", {"width": 0.1, "emb_dim": 8}, spec("discriminator", 6, 11))
    assert D.sizes == [1, 2, 3, 4, 5, 6]  # 7..20 exceed the length
    D.eval()  # no dropout
    x = torch.randint(0, 11, (4, 6))
    torch.testing.assert_close(D(torch.nn.functional.one_hot(x, 11).float()), D(x))
    v, h = D(x, return_features=True)
    assert v.shape == (4,) and h.shape == (4, sum(max(1, round(n * 0.1)) for n in (100, 200, 200, 200, 200, 100)))
    with pytest.raises(ConfigError, match="discriminator; the sequence generator is arch lstm"):
        ARCHITECTURES.build("seq-cnn", {}, spec("generator", 6, 11))
    with pytest.raises(ConfigError, match="every filter size exceeds"):
        ARCHITECTURES.build("seq-cnn", {"filter_sizes": [5], "num_filters": [3]}, spec("discriminator", 4, 11))
    with pytest.raises(ConfigError, match="equal length"):
        ARCHITECTURES.build("seq-cnn", {"filter_sizes": [1, 2], "num_filters": [3]}, spec("discriminator", 4, 11))


def test_norms_and_kinds():
    with pytest.raises(ConfigError, match="lstm takes none, spectral, weight, not 'batch'"):
        ARCHITECTURES.build("lstm", {}, spec("generator", norm="batch"))
    D = ARCHITECTURES.build("seq-cnn", {"width": 0.1}, spec("discriminator", 6, 11, norm="spectral"))
    assert hasattr(D.head, "parametrizations")
    assert ARCHITECTURES.get("lstm").tags["kinds"] == ("tokens",)


def test_transformer_is_causal_and_only_a_generator():
    G = tiny_g(length=6, vocab=5, arch="transformer")
    x = torch.randint(0, 5, (2, 6))
    y = x.clone()
    y[:, 4] = (y[:, 4] + 1) % 5               # change token 4: logits of positions <= 4 must not move
    a, b = G.logits(x), G.logits(y)
    torch.testing.assert_close(a[:, :5], b[:, :5])
    assert not torch.allclose(a[:, 5], b[:, 5])
    with pytest.raises(ConfigError, match="transformer is a generator"):
        ARCHITECTURES.build("transformer", {}, spec("discriminator"))
    with pytest.raises(ConfigError, match="divisible by heads"):
        ARCHITECTURES.params("transformer", {"d_model": 10, "heads": 4})
