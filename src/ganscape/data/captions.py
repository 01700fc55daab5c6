"""Captioned shapes: one coloured shape per image and English captions of it, for text-to-image GANs.

Every image is a `shapes` render (data/shapes.py's renderer and geometry) of one shape whose four
attributes are discrete, so that a caption names them exactly and a sample can be checked against its
caption by the renderer's parameter recovery (``fit_shape``):

- shape: square, circle, triangle;
- colour: one of the six named colours of ``PALETTE`` (each channel jittered by U[-color_jitter, +]);
- size: small (bounding-box side U[0.25, 0.3125] x S) or large (U[0.4375, 0.5] x S): a gap between the
  two ranges, so a recovered size says which one without doubt;
- position: a quadrant (top left, top right, bottom left, bottom right: the whole shape inside that
  quarter of the canvas, its centre uniform where it fits) or the centre (the centre within S/16 of the
  canvas centre on each axis).

A *combination* is one value of each attribute (3 x 6 x 2 x 5 = 180). A fraction ``holdout`` of them is
held out: the train split draws its images from the other combinations only and the test split from the
held-out ones only, so a model scored on the test captions must compose attributes it never saw
together. Combination and held-out draws depend on the seed only, not the split.

Captions: ``captions_per_combo`` per combination, each a template filled with synonyms ("a small red
circle top left", "in the upper left corner there is a tiny crimson disc", ...), drawn once per seed.
Captions depend on the attributes alone, so the label y of an image is its combination's index and a
method picks one of that combination's captions per use. Tokens are whitespace-separated words; the
vocabulary (id 0 = padding) is fixed by the synonym tables and templates, not by the draws.

``info["captions"]`` holds: vocab (list of words), pad (0), tokens int64 (K, m, L) (padded with 0),
text (K lists of m strings), attributes int64 (K, 4) (indices into ATTRIBUTE_VALUES, order
ATTRIBUTES), heldout bool (K,), palette (6, 3); ``info["shapes"]`` is the shapes data set's ground truth
(so metric `shapes` applies as well).
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..registry import DATASETS, ConfigError
from .base import ArrayDataset, split_count, split_rng
from .shapes import SHAPE_KINDS, render_shapes

_SALT = 0xCA97

ATTRIBUTES: Tuple[str, ...] = ("shape", "colour", "size", "position")
PALETTE: Dict[str, Tuple[float, float, float]] = {
    "red": (1.0, 0.15, 0.15), "green": (0.15, 0.9, 0.15), "blue": (0.2, 0.35, 1.0),
    "yellow": (1.0, 0.9, 0.1), "cyan": (0.1, 0.9, 0.9), "magenta": (0.95, 0.2, 0.95)}
POSITIONS: Tuple[str, ...] = ("top left", "top right", "bottom left", "bottom right", "centre")
ATTRIBUTE_VALUES: Dict[str, Tuple[str, ...]] = {
    "shape": SHAPE_KINDS, "colour": tuple(PALETTE), "size": ("small", "large"), "position": POSITIONS}
SIZE_RANGES = {"small": (0.25, 0.3125), "large": (0.4375, 0.5)}  # fractions of the side S
SIZE_SPLIT = 0.375          # recovered size / S below this: small (the middle of the gap)
CENTRE_JITTER = 1.0 / 16    # a centred shape's centre lies within S/16 of the canvas centre
CENTRE_RADIUS = 3.0 / 32    # recovered centre within this (x S) of the canvas centre on both axes: centre

# Synonyms: every word names one attribute value, so a caption's attributes follow from its words.
SYNONYMS: Dict[str, Dict[str, Tuple[str, ...]]] = {
    "shape": {"square": ("square", "box", "block"), "circle": ("circle", "disc", "dot"),
              "triangle": ("triangle", "pyramid")},
    "colour": {"red": ("red", "crimson", "scarlet"), "green": ("green", "emerald", "lime"),
               "blue": ("blue", "azure", "cobalt"), "yellow": ("yellow", "golden", "lemon"),
               "cyan": ("cyan", "turquoise", "aqua"), "magenta": ("magenta", "purple", "violet")},
    "size": {"small": ("small", "tiny", "little"), "large": ("large", "big", "huge")},
}
VERTICAL = {"top": ("top", "upper"), "bottom": ("bottom", "lower")}
HORIZONTAL = {"left": ("left",), "right": ("right",)}
CENTRE_WORDS = ("centre", "center", "middle")
# {S} size, {C} colour, {K} kind, {P} a position phrase ("upper left corner", "middle").
TEMPLATES: Tuple[str, ...] = (
    "a {S} {C} {K} {P}",
    "a {S} {C} {K} in the {P}",
    "in the {P} there is a {S} {C} {K}",
    "a {K} that is {S} and {C} in the {P}",
    "{S} {C} {K} at the {P}",
)
FILLER = ("a", "in", "the", "there", "is", "that", "and", "at", "corner")
PAD = "<pad>"


def vocabulary() -> List[str]:
    """Every word a caption may use, sorted, after the padding token (id 0)."""
    words = set(FILLER) | set(CENTRE_WORDS)
    for table in (*SYNONYMS.values(), VERTICAL, HORIZONTAL):
        for syn in table.values():
            words.update(syn)
    return [PAD] + sorted(words)


def _word_meanings() -> Dict[str, Tuple[str, str]]:
    """word -> (attribute, value); position words -> ("vertical" | "horizontal" | "centre", value)."""
    out: Dict[str, Tuple[str, str]] = {}
    for attr, table in SYNONYMS.items():
        for value, words in table.items():
            out.update({w: (attr, value) for w in words})
    for axis, table in (("vertical", VERTICAL), ("horizontal", HORIZONTAL)):
        for value, words in table.items():
            out.update({w: (axis, value) for w in words})
    out.update({w: ("centre", "centre") for w in CENTRE_WORDS})
    return out


def words(text: str) -> List[str]:
    """A caption's words: lower case, split on anything that is not a letter, digit or underscore (so
    that an attribute name such as CelebA's "5_o_Clock_Shadow" is one word; the shapes captions hold
    letters and spaces only)."""
    return [w for w in re.split(r"[^a-z0-9_]+", text.lower()) if w]


def parse_caption(text: str) -> Dict[str, str]:
    """The attributes a caption names: {shape, colour, size, position: value}. Raises ValueError
    naming the word that is not in the vocabulary, or the attribute named twice or not at all."""
    vocab, meanings = set(vocabulary()[1:]), _word_meanings()
    found: Dict[str, List[str]] = {}
    for w in words(text):
        if w not in vocab:
            raise ValueError(f"caption {text!r}: the word {w!r} is not in the vocabulary; words allowed: "
                             f"{' '.join(sorted(vocab))}")
        if w in meanings:
            axis, value = meanings[w]
            found.setdefault(axis, []).append(value)
    out: Dict[str, str] = {}
    for attr in ("shape", "colour", "size"):
        values = found.get(attr, [])
        if len(set(values)) != 1:
            raise ValueError(f"caption {text!r}: name the {attr} exactly once ("
                             f"{', '.join(ATTRIBUTE_VALUES[attr])}), found {values or 'none'}")
        out[attr] = values[0]
    v, h, c = found.get("vertical", []), found.get("horizontal", []), found.get("centre", [])
    if c and not v and not h:
        out["position"] = "centre"
    elif len(set(v)) == 1 and len(set(h)) == 1 and not c:
        out["position"] = f"{v[0]} {h[0]}"
    else:
        raise ValueError(f"caption {text!r}: name the position as one of top/upper or bottom/lower with left "
                         f"or right, or centre/center/middle alone")
    return out


def attribute_index(attrs: Dict[str, str]) -> np.ndarray:
    """{attribute: value} -> int64 (4,) indices into ATTRIBUTE_VALUES, in ATTRIBUTES order."""
    return np.array([ATTRIBUTE_VALUES[a].index(attrs[a]) for a in ATTRIBUTES], dtype=np.int64)


def combinations() -> np.ndarray:
    """Every combination as int64 (K, 4) attribute indices; row k is combination k."""
    return np.array(list(itertools.product(*(range(len(ATTRIBUTE_VALUES[a])) for a in ATTRIBUTES))),
                    dtype=np.int64)


def write_caption(attrs: Dict[str, str], rng: np.random.Generator) -> str:
    """One caption of `attrs`: a random template, each attribute by a random synonym."""
    pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
    pos = attrs["position"]
    if pos == "centre":
        phrase = pick(CENTRE_WORDS)
    else:
        v, h = pos.split()
        phrase = f"{pick(VERTICAL[v])} {pick(HORIZONTAL[h])}" + pick(("", " corner"))
    return pick(TEMPLATES).format(S=pick(SYNONYMS["size"][attrs["size"]]),
                                  C=pick(SYNONYMS["colour"][attrs["colour"]]),
                                  K=pick(SYNONYMS["shape"][attrs["shape"]]), P=phrase)


def tokenize(texts: Sequence[str], length: int, vocab: Optional[Sequence[str]] = None) -> torch.Tensor:
    """Captions -> int64 (N, length) token ids, padded with 0. Raises ValueError on an unknown word or a
    caption longer than `length` words."""
    vocab = list(vocab or vocabulary())
    ids = {w: i for i, w in enumerate(vocab)}
    out = torch.zeros(len(texts), length, dtype=torch.int64)
    for i, t in enumerate(texts):
        ws = words(t)
        bad = [w for w in ws if w not in ids or w == PAD]
        if bad:
            raise ValueError(f"caption {t!r}: the word {bad[0]!r} is not in the vocabulary; words allowed: "
                             f"{' '.join(vocab[1:])}")
        if not ws or len(ws) > length:
            raise ValueError(f"caption {t!r}: has {len(ws)} words; captions need 1 to {length}")
        out[i, :len(ws)] = torch.tensor([ids[w] for w in ws])
    return out


def max_words() -> int:
    """The longest caption the templates can write, in words."""
    return max(len(t.split()) for t in TEMPLATES) + 2   # "{P}" is up to 3 words ("upper left corner")


def recover_attributes(fit: Optional[Dict[str, Any]], image_size: int) -> Optional[np.ndarray]:
    """Attribute indices (4,) of a shape recovered by data.shapes.fit_shape (None stays None): kind as
    fitted; colour the nearest palette colour; size small below SIZE_SPLIT x S; position the centre when
    the fitted centre is within CENTRE_RADIUS x S of the canvas centre on both axes, else its quadrant."""
    if fit is None:
        return None
    S = float(image_size)
    colour = np.asarray(fit["color"], np.float64)
    if colour.shape != (3,):
        colour = np.repeat(colour[:1], 3)
    palette = np.array(list(PALETTE.values()))
    c = int(np.argmin(((palette - colour) ** 2).sum(1)))
    size = 0 if fit["size"] / S < SIZE_SPLIT else 1
    dx, dy = fit["cx"] - S / 2, fit["cy"] - S / 2
    if max(abs(dx), abs(dy)) < CENTRE_RADIUS * S:
        pos = POSITIONS.index("centre")
    else:
        pos = POSITIONS.index(f"{'top' if dy < 0 else 'bottom'} {'left' if dx < 0 else 'right'}")
    return np.array([SHAPE_KINDS.index(fit["kind"]), c, size, pos], dtype=np.int64)


@dataclass(frozen=True)
class CaptionsParams:
    size: int = 32                 # image side S in pixels
    n: int = 4000                  # images in the train split (train combinations only)
    n_test: Optional[int] = None   # images in the test split (held-out combinations only); None: n // 5
    holdout: float = 0.2           # fraction of the 180 combinations held out of the train split
    captions_per_combo: int = 8    # captions drawn per combination
    color_jitter: float = 0.05     # each channel of the named colour moved by U[-j, j]
    supersample: int = 4           # anti-aliasing, as in shapes

    def validate(self, where: str) -> None:
        if not 16 <= self.size <= 128:
            raise ConfigError(f"{where}.size: {self.size} is not allowed; use 16 to 128 pixels")
        if self.n < 1:
            raise ConfigError(f"{where}.n: must be a positive number of images, got {self.n}")
        if self.n_test is not None and self.n_test < 1:
            raise ConfigError(f"{where}.n_test: must be a positive number of images or null, got {self.n_test}")
        if self.n_test is None and self.n // 5 < 1:
            raise ConfigError(f"{where}.n: n // 5 test images would be none; use n >= 5 or set n_test")
        if not 0.0 < self.holdout < 0.5:
            raise ConfigError(f"{where}.holdout: must lie in (0, 0.5) (a fraction of the combinations), "
                              f"got {self.holdout}")
        if not 1 <= self.captions_per_combo <= 64:
            raise ConfigError(f"{where}.captions_per_combo: must be 1 to 64, got {self.captions_per_combo}")
        if not 0.0 <= self.color_jitter <= 0.1:
            raise ConfigError(f"{where}.color_jitter: must lie in [0, 0.1] (colours stay nameable), "
                              f"got {self.color_jitter}")
        if not 1 <= self.supersample <= 8:
            raise ConfigError(f"{where}.supersample: must be 1 to 8, got {self.supersample}")


def heldout_mask(combos: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """bool (K,): round(fraction K) combinations held out, redrawn until every attribute value is still
    seen in some training combination (so held-out captions use no word training never paired)."""
    K = len(combos)
    m = max(1, int(round(fraction * K)))
    for _ in range(100):
        mask = np.zeros(K, bool)
        mask[rng.choice(K, m, replace=False)] = True
        train = combos[~mask]
        if all(len(np.unique(train[:, j])) == len(ATTRIBUTE_VALUES[a]) for j, a in enumerate(ATTRIBUTES)):
            return mask
    raise ConfigError(f"holdout {fraction}: no draw kept every attribute value in training")


def caption_table(params: CaptionsParams, seed: int) -> Dict[str, Any]:
    """The combinations, their captions and the held-out mask: a function of (params, seed) only."""
    rng = np.random.default_rng([_SALT, int(seed), 2])
    combos = combinations()
    held = heldout_mask(combos, params.holdout, rng)
    text = [[write_caption({a: ATTRIBUTE_VALUES[a][i] for a, i in zip(ATTRIBUTES, c)}, rng)
             for _ in range(params.captions_per_combo)] for c in combos]
    L, vocab = max_words(), vocabulary()
    tokens = tokenize([t for row in text for t in row], L, vocab).reshape(len(combos), params.captions_per_combo, L)
    return {"vocab": vocab, "pad": 0, "tokens": tokens.numpy(), "text": text, "attributes": combos,
            "heldout": held, "palette": np.array(list(PALETTE.values())), "attribute_names": ATTRIBUTES,
            "values": {a: list(v) for a, v in ATTRIBUTE_VALUES.items()}, "meanings": word_meanings(vocab)}


def word_meanings(vocab: Sequence[str]) -> np.ndarray:
    """float32 (vocab, A) multi-hot rows: the attribute value each word names (shape, colour, size, then
    the vertical and horizontal position axes; the centre words set both axes' middle, one column); 0 for
    filler. Summed over a caption they give its attribute vector (text encoder `attributes`), and two
    captions name the same combination when their sums agree (method gancls's wrong texts)."""
    cols: Dict[Tuple[str, str], int] = {}
    for attr in ("shape", "colour", "size"):
        for v in ATTRIBUTE_VALUES[attr]:
            cols[(attr, v)] = len(cols)
    for axis, values in (("vertical", ("top", "bottom")), ("horizontal", ("left", "right"))):
        for v in values:
            cols[(axis, v)] = len(cols)
    centre = len(cols)
    out = np.zeros((len(vocab), centre + 1), dtype=np.float32)
    meanings = _word_meanings()
    for i, w in enumerate(vocab):
        if w in meanings:
            out[i, centre if meanings[w][0] == "centre" else cols[meanings[w]]] = 1.0
    return out


def draw_geometry(attrs: np.ndarray, S: int, color_jitter: float, rng: np.random.Generator) -> Dict[str, np.ndarray]:
    """Centre, size and colour of one shape per row of attrs (N, 4), as the module docstring says."""
    n = len(attrs)
    lo = np.array([SIZE_RANGES[v][0] for v in ATTRIBUTE_VALUES["size"]])[attrs[:, 2]]
    hi = np.array([SIZE_RANGES[v][1] for v in ATTRIBUTE_VALUES["size"]])[attrs[:, 2]]
    s = rng.uniform(lo, hi) * S
    u = rng.uniform(0.0, 1.0, size=(n, 2))
    centre = attrs[:, 3] == POSITIONS.index("centre")
    names = np.array(POSITIONS)[attrs[:, 3]]
    left = np.char.find(names, "left") >= 0
    top = np.char.find(names, "top") >= 0
    # a quadrant: centre uniform in [s/2, S/2 - s/2] (left / top) or [S/2 + s/2, S - s/2] (right / bottom)
    span = S / 2 - s
    cx = np.where(left, s / 2 + u[:, 0] * span, S / 2 + s / 2 + u[:, 0] * span)
    cy = np.where(top, s / 2 + u[:, 1] * span, S / 2 + s / 2 + u[:, 1] * span)
    cx = np.where(centre, S / 2 + (2 * u[:, 0] - 1) * CENTRE_JITTER * S, cx)
    cy = np.where(centre, S / 2 + (2 * u[:, 1] - 1) * CENTRE_JITTER * S, cy)
    palette = np.array(list(PALETTE.values()))
    rgb = np.clip(palette[attrs[:, 1]] + rng.uniform(-color_jitter, color_jitter, size=(n, 3)), 0.05, 1.0)
    return {"cx": cx, "cy": cy, "size": s, "rgb": rgb}


@DATASETS.register("shapes-captions", params=CaptionsParams, extractor="random-conv",
                   metrics=("caption-accuracy", "fid"))
def shapes_captions(params: CaptionsParams, split: str, seed: int = 0) -> ArrayDataset:
    """One named shape per image with captions; train: seen combinations, test: held-out combinations."""
    table = caption_table(params, seed)
    rng = split_rng(_SALT, seed, split)
    allowed = np.flatnonzero(table["heldout"] if split == "test" else ~table["heldout"])
    n = split_count(params.n, params.n_test, split)
    y = allowed[rng.integers(0, len(allowed), size=n)]
    attrs = table["attributes"][y]
    g = draw_geometry(attrs, params.size, params.color_jitter, rng)
    col = lambda a: a[:, None].astype(np.float64)  # noqa: E731 - one shape slot
    gt = {"count": np.ones(n, np.int64), "kind": attrs[:, :1].copy(), "cx": col(g["cx"]), "cy": col(g["cy"]),
          "size": col(g["size"]), "r": col(g["rgb"][:, 0]), "g": col(g["rgb"][:, 1]), "b": col(g["rgb"][:, 2])}
    images = render_shapes(gt["kind"], gt["cx"], gt["cy"], gt["size"], g["rgb"][:, None, :], params.size,
                           SHAPE_KINDS, params.supersample)
    info = {"captions": table, "shapes": gt, "kinds": SHAPE_KINDS, "image_size": params.size,
            "supersample": params.supersample}
    x = torch.from_numpy(images) * 2.0 - 1.0
    return ArrayDataset(x=x.contiguous(), kind="image", y=torch.from_numpy(y.astype(np.int64)),
                        num_classes=len(table["attributes"]), info=info)


def read_attribute_file(path) -> Dict[str, Any]:
    """A multi-label attribute file in CelebA's list_attr_celeba.txt layout: line 1 the number of images,
    line 2 the attribute names (whitespace-separated), then one line per image: its file name and one value
    per attribute, 1 (has it) or -1 (has not). Returns {"names": tuple of A names, "files": list of N file
    names, "attributes": uint8 (N, A) of 0 / 1}: the multi-hot vectors a conditional net reads (a caption's
    attribute vector here plays the same part). Raises ValueError naming the line that breaks the layout."""
    from pathlib import Path
    lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
    if len(lines) < 2:
        raise ValueError(f"{path}: an attribute file needs a count line and a names line (list_attr_celeba.txt layout)")
    try:
        count = int(lines[0].split()[0])
    except ValueError:
        raise ValueError(f"{path}: line 1 must be the number of images, got {lines[0][:40]!r}") from None
    names = tuple(lines[1].split())
    rows = lines[2:]
    if len(rows) != count:
        raise ValueError(f"{path}: line 1 says {count} images, the file lists {len(rows)}")
    files, values = [], np.zeros((count, len(names)), dtype=np.uint8)
    for i, ln in enumerate(rows):
        parts = ln.split()
        if len(parts) != len(names) + 1 or any(v not in ("1", "-1") for v in parts[1:]):
            raise ValueError(f"{path}: line {i + 3} must be a file name and {len(names)} values of 1 or -1, "
                             f"got {ln[:60]!r}")
        files.append(parts[0])
        values[i] = [v == "1" for v in parts[1:]]
    return {"names": names, "files": files, "attributes": values}


NO_ATTRIBUTE = "none"   # the caption of an image with no positive attribute


def attribute_captions(values: np.ndarray, names: Sequence[str]) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Captions for multi-label attributes (read_attribute_file): (y (N,), table).

    Each distinct attribute vector is one combination (y is its index, in np.unique's order, so it is a
    function of the file alone and every split agrees); its one caption lists its positive attributes as
    words, in the file's order: "black_hair smiling young" (NO_ATTRIBUTE for none). The vocabulary is
    the padding, then the attribute names in lower case, then NO_ATTRIBUTE; the meanings are one-hot
    per attribute, so the `attributes` text encoder reads a caption as its multi-hot vector and the bag
    and GRU encoders read it as words. The table has the keys shapes-captions' has that method gancls
    and `ganscape sample --text` use (vocab, pad, tokens, text, attributes, meanings, attribute_names).
    """
    values = np.asarray(values, dtype=np.uint8)
    if values.ndim != 2 or values.shape[1] != len(names) or len(values) == 0:
        raise ValueError(f"attribute values must be (N >= 1, {len(names)}) 0 / 1, got {values.shape}")
    lowered = [str(n).lower() for n in names]
    bad = [n for n, w in zip(names, lowered) if words(w) != [w] or w in (PAD, NO_ATTRIBUTE)]
    if bad or len(set(lowered)) != len(lowered):
        raise ValueError(f"attribute names must be distinct single words of letters, digits and '_' "
                         f"(not {PAD!r} or {NO_ATTRIBUTE!r}), got {bad[0] if bad else 'a repeated name'!r}")
    combos, y = np.unique(values, axis=0, return_inverse=True)
    vocab = [PAD, *lowered, NO_ATTRIBUTE]
    L = max(1, int(combos.sum(1).max()))
    tokens = np.zeros((len(combos), 1, L), dtype=np.int64)
    text = []
    for k, c in enumerate(combos):
        on = np.flatnonzero(c)
        tokens[k, 0, :max(1, len(on))] = on + 1 if len(on) else [len(vocab) - 1]
        text.append([" ".join(lowered[j] for j in on) or NO_ATTRIBUTE])
    meanings = np.zeros((len(vocab), len(names)), dtype=np.float32)
    meanings[1:len(names) + 1] = np.eye(len(names), dtype=np.float32)
    table = {"vocab": vocab, "pad": 0, "tokens": tokens, "text": text, "attributes": combos,
             "attribute_names": tuple(names), "meanings": meanings}
    return np.asarray(y, dtype=np.int64).reshape(-1), table
