"""Policy optimization shared by the recipes that act (GAIL, AIRL, VIME, an
expert trained on the true reward): advantages (GAE), TRPO's natural-gradient
step and PPO's clipped objectives, as short functions on tensors.

Nothing here knows about environments, run folders or the training loop: a
recipe in methods/ collects whole episodes, calls these, and owns its step.
Why not stable-baselines3: its learn() owns the loop, the random state and
the buffers (which breaks "a method owns its step" and bit-exact resume),
and its TRPO defaults differ from the papers'.
"""
