"""The FID InceptionV3 feature extractor (``inception-v3-fid``), without torchvision.

Network: InceptionV3 as in the TensorFlow graph "inception-2015-12-05" that the
reference FID (Heusel et al. 2017, TTUR code) and Inception Score (Salimans et
al. 2016) implementations use, in the PyTorch layout of the pytorch-fid weights
file ``pt_inception-2015-12-05-6726825d.pth``. Parameter and buffer names match
that file's keys exactly, so it loads with ``strict=True``. The graph differs
from the usual (torchvision) InceptionV3 in three ways, all reproduced here:

* 1008 output classes instead of 1000;
* the 3x3 average pools inside the Inception blocks do not count padded zeros
  (TF "SAME" average pooling, ``count_include_pad=False``);
* the pool branch of the last block (Mixed_7c) uses *max* pooling.

Preprocessing (the graph's own, in its order): images in [-1, 1] are mapped to
the [0, 255] scale, grey images are repeated to 3 channels, resized to 299x299
with bilinear interpolation, then scaled as (x - 128) / 128.

Resizing (``resize``):
  * ``"tf"`` (default): TensorFlow 1.x ``ResizeBilinear`` with
    ``align_corners=False, half_pixel_centers=False`` as inside the 2015 graph,
    i.e. the asymmetric mapping ``src = dst * in_size / out_size`` (float32),
    neighbours ``floor(src)`` and ``min(floor(src) + 1, in_size - 1)``. This is
    what the TF reference FID computes.
  * ``"torch"``: ``F.interpolate(mode="bilinear", align_corners=False)``
    (half-pixel centres, ``src = (dst + 0.5) * in/out - 0.5``), the resize used
    by pytorch-fid. Deviation: pytorch-fid then scales with (x - 127.5) / 127.5;
    this extractor keeps the graph's (x - 128) / 128 in both modes, so only the
    resize changes between the two.
Neither mode antialiases, as neither reference does.

Outputs: ``features`` = pool3 (global average of Mixed_7c), (N, 2048);
``logits`` (N, 1008). By default the logits are ``pool3 @ W^T`` *without* the
fc bias, because the reference Inception Score code (openai/improved-gan)
builds its softmax from the graph's ``softmax/logits/MatMul`` weight alone;
``logits_bias=True`` adds the bias (the graph's full classifier).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Literal, Mapping, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ganscape.metrics.features.base import FeatureExtractor
from ganscape.metrics.features.weights_io import (
    cache_dir,
    check_sha256,
    download_verified,
    load_state_dict_verified,
    sha256_file,
)
from ganscape.registry import EXTRACTORS, ConfigError

# --------------------------------------------------------------------------- weights
FID_WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                   + FID_WEIGHTS_FILENAME)
# Published SHA-256 of FID_WEIGHTS_FILENAME. Its first 8 hex digits are the
# file name's "6726825d" suffix (torch hub naming convention). The same digest
# is pinned for this file by several public projects (e.g. an InceptionModel
# registry pairing it with FID_WEIGHTS_URL, and torch-fidelity users pinning the
# byte-identical "weights-inception-2015-12-05-6726825d.pth").
FID_WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"

INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_CLASSES = 1008


def default_weights_path() -> Path:
    """Where the FID weights are looked for when no path is given:
    ``cache_dir()/weights/pt_inception-2015-12-05-6726825d.pth``."""
    return cache_dir() / "weights" / FID_WEIGHTS_FILENAME


def download_fid_weights(dest: Optional[Union[str, Path]] = None, progress: bool = True) -> Path:
    """Download the pytorch-fid InceptionV3 weights (~96 MB) once, verified
    against FID_WEIGHTS_SHA256; a file already at `dest` with the right digest
    is kept. Returns the path (default: `default_weights_path()`)."""
    dest = Path(dest) if dest is not None else default_weights_path()
    if dest.is_file() and sha256_file(dest) == FID_WEIGHTS_SHA256:
        return dest
    return download_verified(FID_WEIGHTS_URL, dest, FID_WEIGHTS_SHA256, progress=progress)


# --------------------------------------------------------------------------- resizing
def resize_bilinear_tf1(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """TensorFlow 1.x ``ResizeBilinear`` (align_corners=False, half_pixel_centers=False).

    x: float tensor (N, C, H, W), any value range; returns (N, C, *size), same dtype.
    Output pixel ``d`` samples source coordinate ``d * (in / out)`` (computed in
    float32 like the TF kernel), interpolating between ``floor`` and
    ``min(floor + 1, in - 1)``; the last rows/columns therefore replicate the
    edge. Rows are interpolated along x first, then along y, with TF's
    ``a + (b - a) * t`` form so the float32 rounding matches the kernel.
    Differentiable with respect to `x`.
    """
    if x.ndim != 4:
        raise ValueError(f"expected (N, C, H, W), got shape {tuple(x.shape)}")
    out_h, out_w = int(size[0]), int(size[1])
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"output size must be positive, got {size}")

    def taps(in_size: int, out_size: int):
        scale = torch.tensor(in_size, dtype=torch.float32) / torch.tensor(out_size, dtype=torch.float32)
        src = torch.arange(out_size, dtype=torch.float32) * scale
        lo_f = torch.floor(src)
        lo = lo_f.long().clamp_(0, in_size - 1)
        hi = (lo + 1).clamp_(max=in_size - 1)
        return lo.to(x.device), hi.to(x.device), (src - lo_f).to(device=x.device, dtype=x.dtype)

    y0, y1, ty = taps(x.shape[-2], out_h)
    x0, x1, tx = taps(x.shape[-1], out_w)
    left, right = x[..., x0], x[..., x1]
    rows = left + (right - left) * tx                  # (N, C, H_in, out_w)
    top, bottom = rows[..., y0, :], rows[..., y1, :]
    return top + (bottom - top) * ty[:, None]          # (N, C, out_h, out_w)


def resize_bilinear_torch(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """PyTorch bilinear resize with half-pixel centres (align_corners=False), no
    antialiasing: the resize pytorch-fid uses. (N, C, H, W) -> (N, C, *size)."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


_RESIZERS = {"tf": resize_bilinear_tf1, "torch": resize_bilinear_torch}


def preprocess_images(images: torch.Tensor, resize: str = "tf") -> torch.Tensor:
    """ganscape images -> FID InceptionV3 input, as the TF graph preprocesses.

    images: float (N, 1 or 3, H, W) in [-1, 1]. Steps: [-1, 1] -> [0, 255] as
    (x + 1) * 127.5 (the inverse of ganscape's uint8 -> float map; no
    rounding, so generated images are not quantized), grey -> RGB by
    repetition, bilinear resize to 299x299 with `resize` ("tf" or "torch",
    skipped when already 299x299), then (x - 128) / 128.
    Returns float32 (N, 3, 299, 299), in [-1, 127/128] for inputs in [-1, 1].
    """
    if resize not in _RESIZERS:
        raise ValueError(f"resize must be one of 'tf', 'torch'; got {resize!r}")
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    if images.shape[1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got {images.shape[1]}")
    if not images.is_floating_point():
        raise TypeError(f"images must be a float tensor in [-1, 1], got {images.dtype}")
    x = (images.float() + 1.0) * 127.5
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if tuple(x.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):
        x = _RESIZERS[resize](x, (INPUT_SIZE, INPUT_SIZE))
    return (x - 128.0) / 128.0


# --------------------------------------------------------------------------- network
class BasicConv2d(nn.Module):
    """conv (no bias) -> BatchNorm (eps 0.001, as in the TF graph) -> ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_ch, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_tf(x: torch.Tensor) -> torch.Tensor:
    # TF "SAME" average pooling divides by the number of real (unpadded) pixels.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


def _max_pool_3x3_s2(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, kernel_size=3, stride=2)


class InceptionA(nn.Module):
    """Mixed_5b/5c/5d: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1 (35x35 grid).
    Output channels 64 + 64 + 96 + pool_features."""

    def __init__(self, in_ch: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_ch, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_ch, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_ch, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(in_ch, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_avg_pool_tf(x))
        return torch.cat([b1, b5, b3, bp], dim=1)


class InceptionB(nn.Module):
    """Mixed_6a, grid reduction 35 -> 17: 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2.
    Output channels 384 + 96 + in_ch."""

    def __init__(self, in_ch: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_ch, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_ch, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b3, bd, _max_pool_3x3_s2(x)], dim=1)


class InceptionC(nn.Module):
    """Mixed_6b-6e (17x17 grid) with factorized 7x7 convolutions (1x7 and 7x1).
    Output channels 4 * 192 = 768."""

    def __init__(self, in_ch: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_ch, 192, 1)
        self.branch7x7_1 = BasicConv2d(in_ch, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_ch, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_ch, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for conv in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                     self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = conv(bd)
        bp = self.branch_pool(_avg_pool_tf(x))
        return torch.cat([b1, b7, bd, bp], dim=1)


class InceptionD(nn.Module):
    """Mixed_7a, grid reduction 17 -> 8: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2.
    Output channels 320 + 192 + in_ch."""

    def __init__(self, in_ch: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_ch, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_ch, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = x
        for conv in (self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = conv(b7)
        return torch.cat([b3, b7, _max_pool_3x3_s2(x)], dim=1)


class InceptionE(nn.Module):
    """Mixed_7b / Mixed_7c (8x8 grid) with expanded 1x3 + 3x1 filter banks.
    Output channels 320 + 768 + 768 + 192 = 2048.

    `pool` selects the pool branch: "avg" (padding excluded) in Mixed_7b and
    "max" in Mixed_7c, as in the TF graph.
    """

    def __init__(self, in_ch: int, pool: Literal["avg", "max"]):
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_ch, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_ch, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_ch, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_ch, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], dim=1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], dim=1)
        if self.pool == "avg":
            pooled = _avg_pool_tf(x)
        else:
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat([b1, b3, bd, self.branch_pool(pooled)], dim=1)


class FIDInceptionV3(nn.Module):
    """The FID InceptionV3 network (randomly initialised; load the published
    state dict to use it). 23,850,960 parameters.

    forward(x): x (N, 3, H, W) already preprocessed, i.e. 299x299 in [-1, 1]
    (other sizes >= 75 run too, since the head is a global average) ->
    (pool3 features (N, 2048), fc weight applied logits (N, 1008) without bias).
    """

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def pool3(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed images (N, 3, 299, 299) -> pool3 features (N, 2048)."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = _max_pool_3x3_s2(x)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = _max_pool_3x3_s2(x)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b,
                      self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b,
                      self.Mixed_7c):
            x = block(x)
        return x.mean(dim=(2, 3))  # the graph's pool_3: 8x8 average, VALID

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        f = self.pool3(x)
        return f, F.linear(f, self.fc.weight)


# --------------------------------------------------------------------------- extractor
class InceptionV3FID(FeatureExtractor):
    """FID InceptionV3 as a ganscape FeatureExtractor.

    Args:
        state_dict: the network's weights; every key and shape must match
            (strict loading). None keeps the random initialisation (tests
            only: features are meaningless).
        weights_sha256: SHA-256 of the file the weights came from; part of
            `identity()` so cached reference statistics follow the weights.
            Must be given when `state_dict` is given.
        resize: "tf" (TF1 ResizeBilinear, default) or "torch" (half-pixel).
        logits_bias: add the fc bias to the logits (default False, as the
            reference Inception Score code).

    forward(images): (N, 1 or 3, H, W) float in [-1, 1], any H, W >= 1 ->
    {"features": (N, 2048) float32 pool3, "logits": (N, 1008) float32}.
    """

    name = "inception-v3-fid"
    feature_dim = FEATURE_DIM
    num_classes = NUM_CLASSES

    def __init__(self, state_dict: Optional[Mapping[str, torch.Tensor]] = None,
                 weights_sha256: Optional[str] = None, resize: str = "tf",
                 logits_bias: bool = False):
        super().__init__()
        if resize not in _RESIZERS:
            raise ValueError(f"resize must be one of 'tf', 'torch'; got {resize!r}")
        self.resize = resize
        self.logits_bias = bool(logits_bias)
        if state_dict is None:
            self.weights_id = "random-init"
            self.net = FIDInceptionV3()
        else:
            if weights_sha256 is None:
                raise ValueError("weights_sha256 is required with a state_dict (it keys feature caches)")
            self.weights_id = "sha256:" + check_sha256(weights_sha256, "weights_sha256")
            # Built on the meta device: initialising 24M parameters only to
            # overwrite them costs more than loading the file.
            with torch.device("meta"):
                self.net = FIDInceptionV3()
            self._load(state_dict)
            self.net.float()  # a half-precision file still yields a float32 network
        self.net.requires_grad_(False)
        self.eval()

    def _load(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        try:
            result = self.net.load_state_dict(dict(state_dict), strict=False, assign=True)
        except RuntimeError as e:  # tensor shape mismatches
            raise ValueError(f"weights do not fit the FID InceptionV3: {e}") from None
        if result.missing_keys or result.unexpected_keys:
            def show(keys: List[str]) -> str:
                return ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")
            raise ValueError(
                "weights do not fit the FID InceptionV3: "
                f"missing keys [{show(result.missing_keys)}], "
                f"unexpected keys [{show(result.unexpected_keys)}]"
            )

    def identity(self) -> str:
        bias = "fc+bias" if self.logits_bias else "fc-nobias"
        return f"{self.name}|weights={self.weights_id}|resize={self.resize}|logits={bias}"

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 1 or 3, H, W) in [-1, 1] -> (N, 3, 299, 299); see `preprocess_images`."""
        return preprocess_images(images, self.resize)

    def forward(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        """images (N, 1 or 3, H, W) in [-1, 1] ->
        {"features": (N, 2048), "logits": (N, 1008)}, float32."""
        x = self.preprocess(images.to(self.net.fc.weight.device))
        feats, logits = self.net(x)
        if self.logits_bias:
            logits = logits + self.net.fc.bias
        return {"features": feats, "logits": logits}


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class InceptionParams:
    """Parameters of `inception-v3-fid`.

    weights: path of the weights file (.pth or .safetensors); None looks for
        ``default_weights_path()`` (``$GANSCAPE_CACHE`` or ~/.cache/ganscape,
        then weights/pt_inception-2015-12-05-6726825d.pth).
    sha256: expected SHA-256 of that file; None means the published digest of
        pt_inception-2015-12-05-6726825d.pth. Set it only for a converted copy
        (e.g. a .safetensors file) whose digest you have checked yourself.
    download: when the file is missing, download it from the pytorch-fid
        release (verified) instead of failing.
    resize: "tf" (TF1 ResizeBilinear, the reference FID's) or "torch"
        (F.interpolate half-pixel bilinear, pytorch-fid's).
    logits_bias: add the fc bias to the logits (False matches the reference
        Inception Score code).
    """
    weights: Optional[str] = None
    sha256: Optional[str] = None
    download: bool = False
    resize: Literal["tf", "torch"] = "tf"
    logits_bias: bool = False

    def validate(self, where: str) -> None:
        if self.resize not in _RESIZERS:
            raise ConfigError(f"{where}.resize: {self.resize!r} is not allowed; choose one of 'tf', 'torch'")
        if self.sha256 is not None:
            try:
                check_sha256(self.sha256, f"{where}.sha256")
            except (ValueError, TypeError) as e:
                raise ConfigError(str(e)) from None


def resolve_weights(params: InceptionParams) -> Tuple[Path, str]:
    """(path, expected sha256) of the weights `params` asks for, downloading the
    file first when it is missing and `params.download` is true."""
    path = Path(params.weights).expanduser() if params.weights else default_weights_path()
    expected = check_sha256(params.sha256) if params.sha256 else FID_WEIGHTS_SHA256
    if not path.is_file():
        if not params.download:
            raise FileNotFoundError(
                f"InceptionV3 FID weights not found at {path}. Fetch them once (~96 MB, SHA-256 "
                f"verified) with `ganscape download inception-v3-fid` (or in Python "
                f"ganscape.metrics.features.inception.download_fid_weights()), or point to an existing copy "
                f"of {FID_WEIGHTS_FILENAME} with `ganscape eval --extractor-weights PATH` (in Python: "
                f"extractor params weights=PATH; download=true fetches it when missing)."
            )
        download_verified(FID_WEIGHTS_URL, path, expected)
    return path, expected


@EXTRACTORS.register("inception-v3-fid", params=InceptionParams)
def build_inception_v3_fid(params: InceptionParams) -> InceptionV3FID:
    """FID InceptionV3 (TF inception-2015-12-05 weights): 2048-d pool3 features and 1008 logits."""
    params.validate("feature extractor:inception-v3-fid")
    path, expected = resolve_weights(params)
    state = load_state_dict_verified(path, expected)
    return InceptionV3FID(state, weights_sha256=expected, resize=params.resize,
                          logits_bias=params.logits_bias)
