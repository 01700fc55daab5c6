"""Likelihood evaluation in one place (DESIGN.md): the discrete-level
convention and bits/dim (core), simple baselines (baselines), and the
decoder-based estimators (ais: annealed importance sampling with
bidirectional Monte Carlo)."""
