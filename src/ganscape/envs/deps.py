"""gymnasium, imported on demand: the `rl` extra."""
from __future__ import annotations

from ..registry import ConfigError


def require_gymnasium():
    """The gymnasium module, or a ConfigError that names the extra to install."""
    try:
        import gymnasium
    except ImportError:
        raise ConfigError("environments need gymnasium: pip install -e \".[rl]\" "
                          "(\".[mujoco]\" adds the MuJoCo tasks)") from None
    return gymnasium
