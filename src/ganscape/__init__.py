"""ganscape: train, evaluate and compare GANs across the whole design landscape."""
__version__ = "0.1.0"

# The registries are filled here, once, before anything else is used: every
# `import ganscape.X` runs this file first (see components.py).
from . import components  # noqa: E402,F401
from .api import load_generator, load_run, make_config, resume, sample, save_samples, train  # noqa: E402,F401
from .metrics.evaluate import evaluate_arrays, evaluate_samples, load_images  # noqa: E402,F401
from .metrics.evaluate_run import evaluate  # noqa: E402,F401
