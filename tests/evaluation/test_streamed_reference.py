"""Evaluation streams the reference set (issue 19, part 4): features of a data
set's images are extracted a batch at a time from its stored form, with the
same numbers as from the whole set decoded at once."""
import numpy as np
import pytest
import torch

from ganscape.data.base import ArrayDataset
from ganscape.metrics.evaluate import build_extractor, evaluate_arrays, reference_images
from ganscape.metrics.features.base import extract
from ganscape.metrics.images import StreamedImages


def test_streamed_reference_features_equal_those_of_the_decoded_set_and_never_decode_it_whole(monkeypatch):
    ext = build_extractor("digits-cnn")
    whole, _, data = reference_images("digits", {"size": 8}, "train", 500, seed=3)
    streamed, ref, _ = reference_images("digits", {"size": 8}, "train", 500, seed=3, stream=True)
    assert isinstance(streamed, StreamedImages) and streamed.shape == tuple(whole.shape)
    a = extract(ext, whole, batch_size=64)
    monkeypatch.setattr(ArrayDataset, "floats", lambda self: pytest.fail("the whole set was decoded"))
    b = extract(ext, streamed, batch_size=64)
    np.testing.assert_allclose(a.features, b.features, rtol=0, atol=1e-9)
    fake = whole[:200].flip(-1)   # something to score
    r1 = evaluate_arrays(fake, whole, ["fid"], extractor=ext)["results"]["fid"]
    r2 = evaluate_arrays(fake, streamed, ["fid"], extractor=ext)["results"]["fid"]
    assert r1 == pytest.approx(r2, abs=1e-6) and r1 > 0


def test_a_bad_batch_in_a_streamed_reference_is_one_error():
    data = ArrayDataset(x=torch.full((10, 1, 8, 8), float("nan")), kind="image")
    with pytest.raises(ValueError, match="images contain NaN or Inf"):
        extract(build_extractor("digits-cnn"), StreamedImages(data), batch_size=4)
