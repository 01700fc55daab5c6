"""Importing this module registers every built-in component."""
from .data import digits, discrete, files, oracle, shapes, stacked, synthetic, text  # noqa: F401
from .nets import dcgan, flows, mlp, norms, pixelcnn, resnet, resnet19, seq_cnn, sequence, sndcgan, transformer  # noqa: F401
from .objectives import losses, penalties  # noqa: F401
from . import optim  # noqa: F401
from .methods import bgan, cgan, gan, likelihood, sequence, vae  # noqa: F401
from .methods import infogan  # noqa: F401  (registers method infogan and metric infogan-accuracy)
from .methods import ssgan  # noqa: F401  (methods ssgan, supervised; metric classifier-error)
from .metrics.features import digits_cnn, inception, random_net  # noqa: F401
from .metrics import evaluate, sequences  # noqa: F401
from .likelihood import metric as _likelihood_metric  # noqa: F401  (metric nll)
