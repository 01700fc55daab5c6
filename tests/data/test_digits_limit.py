"""digits' train_limit: the first N training images, the other splits unchanged."""
import pytest
import torch

from ganscape.config import load_config
from ganscape.registry import ConfigError
from ganscape.train.state import load_data


def test_train_limit_keeps_the_first_training_images_and_leaves_test_alone():
    full = load_config("digits")
    cut = load_config("digits", overrides=["data.params.train_limit=50"])
    a, b = load_data(full, "train"), load_data(cut, "train")
    assert len(b) == 50 and torch.equal(b.x, a.x[:50]) and torch.equal(b.y, a.y[:50])
    assert torch.equal(load_data(cut, "test").x, load_data(full, "test").x)
    with pytest.raises(ConfigError, match="train_limit: must be >= 0"):
        load_config("digits", overrides=["data.params.train_limit=-3"])
