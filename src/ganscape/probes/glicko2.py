"""Glicko-2 ratings (Glickman, "Example of the Glicko-2 system", 2013), for the
tournaments of discriminators against generators (Olsson et al. 2018,
"Skill rating for generative models"; probes/tournament.py).

A player has a rating r (1500 for a newcomer), a rating deviation RD (350)
and a volatility sigma (0.06). One rating period updates each player from the
games it played in that period against opponents whose ratings are those at
the period's start, in Glickman's steps 2-8 (the Illinois variant of regula
falsi for the volatility, his step 5). Written here (a few dozen lines, pinned
by the paper's worked example in tests/probes/test_tournament.py) rather than
imported: the PyPI `glicko2` packages are small, unmaintained and differ in
the volatility iteration.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Tuple

SCALE = 173.7178   # Glicko-2's scale factor: mu = (r - 1500) / SCALE


@dataclass(frozen=True)
class Rating:
    rating: float = 1500.0
    rd: float = 350.0
    vol: float = 0.06


def _g(phi: float) -> float:
    return 1.0 / math.sqrt(1.0 + 3.0 * phi * phi / math.pi ** 2)


def _e(mu: float, mu_j: float, phi_j: float) -> float:
    return 1.0 / (1.0 + math.exp(-_g(phi_j) * (mu - mu_j)))


def update(player: Rating, games: Sequence[Tuple[Rating, float]], tau: float = 0.5,
           eps: float = 1e-6) -> Rating:
    """The player's rating after one period of `games`: (opponent's rating at the period's start, score
    1 win / 0.5 draw / 0 loss). No games: only the deviation grows (step 6 alone)."""
    mu, phi = (player.rating - 1500.0) / SCALE, player.rd / SCALE
    if not games:
        return Rating(player.rating, SCALE * math.sqrt(phi * phi + player.vol ** 2), player.vol)
    v_inv, delta_sum = 0.0, 0.0
    for opp, score in games:
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"a game's score must lie in [0, 1], got {score}")
        mu_j, phi_j = (opp.rating - 1500.0) / SCALE, opp.rd / SCALE
        e = _e(mu, mu_j, phi_j)
        v_inv += _g(phi_j) ** 2 * e * (1.0 - e)
        delta_sum += _g(phi_j) * (score - e)
    v = 1.0 / v_inv
    delta = v * delta_sum
    # step 5: the new volatility, the root of f by the Illinois algorithm
    a = math.log(player.vol ** 2)

    def f(x: float) -> float:
        ex = math.exp(x)
        return ex * (delta ** 2 - phi ** 2 - v - ex) / (2.0 * (phi ** 2 + v + ex) ** 2) - (x - a) / tau ** 2
    A = a
    if delta ** 2 > phi ** 2 + v:
        B = math.log(delta ** 2 - phi ** 2 - v)
    else:
        k = 1
        while f(a - k * tau) < 0:
            k += 1
        B = a - k * tau
    fA, fB = f(A), f(B)
    while abs(B - A) > eps:
        C = A + (A - B) * fA / (fB - fA)
        fC = f(C)
        if fC * fB <= 0:
            A, fA = B, fB
        else:
            fA /= 2.0
        B, fB = C, fC
    vol = math.exp(A / 2.0)
    phi_star = math.sqrt(phi * phi + vol * vol)
    phi_new = 1.0 / math.sqrt(1.0 / phi_star ** 2 + 1.0 / v)
    mu_new = mu + phi_new ** 2 * delta_sum
    return Rating(SCALE * mu_new + 1500.0, SCALE * phi_new, vol)
