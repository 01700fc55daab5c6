"""PPO's objectives (Schulman et al. 2017), as losses to minimize.

    L_clip = -E[min(rho A, clip(rho, 1 - eps, 1 + eps) A)],   rho = pi(a|s) / pi_old(a|s)

and the value loss, optionally clipped around the old values as OpenAI
baselines' PPO2 does:

    L_V = 1/2 E[max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2)]

(without clipping: 1/2 E[(V - R)^2]). The 1/2 is baselines' PPO2, which then
weights this loss by vf_coef 0.5 (0.25 E[(V - R)^2] in all); stable-baselines3
weights E[(V - R)^2] by its vf_coef 0.5. The weight is the caller's; PPO2
clips the values with the policy's clip range and standardizes the
advantages per minibatch, also the caller's.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def clipped_surrogate_loss(logp: Tensor, logp_old: Tensor, advantages: Tensor, clip: float) -> Tensor:
    """-mean(min(rho A, clip(rho, 1-clip, 1+clip) A)), rho = exp(logp - logp_old); all (B,)."""
    if clip <= 0:
        raise ValueError(f"clipped_surrogate_loss: clip must be > 0, got {clip}")
    ratio = torch.exp(logp - logp_old)
    return -torch.minimum(ratio * advantages, ratio.clamp(1.0 - clip, 1.0 + clip) * advantages).mean()


def value_loss(values: Tensor, returns: Tensor, values_old: Optional[Tensor] = None,
               clip: Optional[float] = None) -> Tensor:
    """1/2 mean((V - R)^2), or with clip and values_old the pessimistic clipped form above."""
    err = (values - returns) ** 2
    if clip is not None:
        if values_old is None:
            raise ValueError("value_loss: clipping needs values_old")
        clipped = values_old + (values - values_old).clamp(-clip, clip)
        err = torch.maximum(err, (clipped - returns) ** 2)
    return 0.5 * err.mean()
