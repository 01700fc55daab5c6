import math

import pytest
import torch

from ganscape.likelihood import baselines, core
from ganscape.registry import ConfigError


def test_levels_round_trip_on_the_digits_grid():
    from ganscape.data.digits import digits, DigitsParams
    d = digits(DigitsParams(), "test")
    assert core.levels_of(d.info) == 17
    v = core.to_levels(d.floats(), 17)
    assert v.min() >= 0 and v.max() <= 16
    assert torch.equal(core.from_levels(v, 17), d.floats())
    assert torch.equal(core.quantize(d.floats() + 0.04, 17), d.floats())   # within half a bin (1/16)
    with pytest.raises(ConfigError, match="discrete levels"):
        core.levels_of(digits(DigitsParams(size=16), "test").info)


def test_dequantized_values_stay_in_their_bin():
    x = core.from_levels(torch.randint(0, 17, (50, 1, 8, 8)), 17)
    y = core.dequantize(x, 17, torch.Generator().manual_seed(0))
    assert (y - x).abs().max() <= 1 / 16 + 1e-7 and (y - x).abs().max() > 0.05
    assert torch.equal(core.quantize(y, 17), x)


def test_a_flat_density_over_the_bins_is_log2_k_bits():
    # uniform density on [-1 - delta/2, 1 + delta/2]^D: width K delta per dimension
    for k in (2, 17, 256):
        d, delta = 64, core.bin_width(k)
        log_density = torch.full((5,), -d * math.log(k * delta), dtype=torch.float64)
        bound = core.discrete_log_prob_bound(log_density, d, k)
        assert core.bits_per_dim(bound, d) == pytest.approx(math.log2(k), rel=1e-12)


def test_independent_categoricals_by_hand():
    v = torch.tensor([[0, 1], [0, 2], [1, 2]])           # 3 images of 2 pixels, K = 3
    m = baselines.fit_independent(v, 3, alpha=1.0)
    # pixel 0: counts (2, 1, 0) -> (3, 2, 1) / 6; pixel 1: (0, 1, 2) -> (1, 2, 3) / 6
    want = math.log(3 / 6) + math.log(2 / 6)
    assert float(m.log_prob(torch.tensor([[0, 1]]))) == pytest.approx(want, abs=1e-12)
    # normalized over all 9 images
    allv = torch.cartesian_prod(torch.arange(3), torch.arange(3))
    assert float(m.log_prob(allv).exp().sum()) == pytest.approx(1.0, abs=1e-12)


def test_mixture_finds_two_prototypes_and_is_normalized():
    g = torch.Generator().manual_seed(0)
    proto = torch.randint(0, 4, (2, 6), generator=g)
    which = torch.randint(0, 2, (400,), generator=g)
    v = proto[which]
    flip = torch.rand(v.shape, generator=g) < 0.05
    v = torch.where(flip, torch.randint(0, 4, v.shape, generator=g), v)
    ind = baselines.fit_independent(v, 4)
    mix = baselines.fit_mixture(v, 4, components=2, seed=0)
    assert float(mix.log_prob(v).mean()) > float(ind.log_prob(v).mean()) + 0.5
    allv = torch.cartesian_prod(*[torch.arange(4)] * 6)
    assert float(mix.log_prob(allv).exp().sum()) == pytest.approx(1.0, abs=1e-9)
    one = baselines.fit_mixture(v, 4, components=1)
    assert torch.allclose(one.log_prob(v), ind.log_prob(v), atol=1e-9)
