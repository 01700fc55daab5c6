"""ganscape: train, evaluate and compare GANs across the whole design landscape."""
__version__ = "0.1.0"

from . import components  # noqa: E402,F401  (fills the registries)
from .api import load_generator, load_run, make_config, resume, sample, save_samples, train  # noqa: E402,F401
from .evaluation import evaluate, evaluate_samples, load_images  # noqa: E402,F401
from .metrics.evaluate import evaluate_arrays  # noqa: E402,F401
