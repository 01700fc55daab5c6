"""ArrayDataset's tokens kind: int64 ids checked against the vocabulary."""
import pytest
import torch

from ganscape.data.base import ArrayDataset
from ganscape.train.state import DataSpec


def test_tokens_dataset_and_its_spec():
    d = ArrayDataset(x=torch.tensor([[0, 3, 4], [1, 1, 2]]), kind="tokens", vocab_size=5, info={"vocab": list("abcde")})
    assert d.shape == (3,) and len(d) == 2
    spec = DataSpec.of(d)
    assert (spec.shape, spec.kind, spec.vocab_size, spec.num_classes) == ((3,), "tokens", 5, 0)
    assert spec.info["vocab"] == list("abcde")


@pytest.mark.parametrize("x,vocab,match", [
    (torch.tensor([[0.0, 1.0]]), 5, "int64"),
    (torch.tensor([0, 1]), 5, "int64"),
    (torch.tensor([[0, 5]]), 5, r"\[0, 5\)"),
    (torch.tensor([[-1, 2]]), 5, r"\[0, 5\)"),
    (torch.tensor([[0, 1]]), 1, "vocab_size >= 2"),
])
def test_bad_token_data(x, vocab, match):
    with pytest.raises((TypeError, ValueError), match=match):
        ArrayDataset(x=x, kind="tokens", vocab_size=vocab)


def test_unknown_kind():
    with pytest.raises(ValueError, match="image, points, tokens, transitions, none"):
        ArrayDataset(x=torch.zeros(2, 2), kind="text")
