"""Environments for the recipes that act: construction from an id with
clear errors (make.py) and the wrappers their protocols need (wrappers.py).
gymnasium is the `rl` extra (`pip install -e ".[rl]"`); nothing here is
imported unless a recipe asks for an environment."""
