"""The one place that imports every component module, so that each
registers itself (by decorator) in its registry: data sets, architectures,
normalizations, losses, penalties, optimizers, methods, feature extractors
and metrics.

Imported by the entry points only: the package's __init__ (so that any
`import ganscape...` fills the registries first), api, the command line
and the study worker. Never by config.py, registry.py or a component
module: that is what kept a 19-module import circle (tests/test_imports.py
checks it). A new component module is added to the list below.
"""
from .data import demos, digits, discrete, files, oracle, pack, shapes, stacked, synthetic, text  # noqa: F401
from .data import captions  # noqa: F401  (shapes-captions)
from .data import graphs as graph_data  # noqa: F401  (data set graph: random walks, NetGAN)
from .data import audio_files, notes  # noqa: F401  (audio: notes, wav-folder; issue 21)
from .nets import dcgan, dirac, flows, lqg, mlp, norms, pixelcnn, resnet, resnet19, seq_cnn, sequence, sndcgan, transformer  # noqa: F401
from .nets import ssgan as ssgan_nets  # noqa: F401  (architecture improved-gan-mlp)
from .nets import specgan, wavegan  # noqa: F401  (audio architectures, issue 21)
from .nets import netgan as netgan_nets  # noqa: F401  (architecture netgan)
from .objectives import losses, penalties  # noqa: F401
from . import optim  # noqa: F401
from .methods import bc, bgan, cgan, consensus, expert, gail, gan, infogan, likelihood, sequence, ssgan, vae, vime  # noqa: F401
from .methods import gancls  # noqa: F401  (text-to-image: GAN-CLS, GAN-INT)
from .methods import netgan  # noqa: F401  (NetGAN, issue 21)
from .methods import otgan  # noqa: F401  (OT-GAN, issue 21)
from .metrics.features import digits_cnn, inception, random_net  # noqa: F401
from .metrics import classifier_error, image_metrics, nll, returns, sequences  # noqa: F401
from .metrics import captions as caption_metrics  # noqa: F401  (caption-accuracy)
from .metrics import infogan as infogan_metric  # noqa: F401
from .metrics import audio as audio_metrics  # noqa: F401  (pitch-, instrument-accuracy; audio FID / IS)
from .metrics.features import audio_cnn  # noqa: F401  (extractor audio-cnn)
from .metrics import graphs as graph_metrics  # noqa: F401  (metric graph: NetGAN's graph statistics)
