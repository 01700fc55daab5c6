"""Bad evaluation inputs give an error that says what is wrong and what is
allowed, never a silent conversion, a dropped sample or torch's raw error."""
import numpy as np
import pytest
import torch

from ganscape.metrics.evaluate import evaluate_samples, load_images
from ganscape.metrics.evaluate import NonFiniteSamplesError, evaluate_arrays, generate


@pytest.fixture(scope="module")
def imgs():
    return torch.rand(20, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_empty_npz_files(tmp_path):
    np.savez(tmp_path / "none.npz")
    with pytest.raises(ValueError, match="holds no arrays"):
        load_images(tmp_path / "none.npz")
    np.savez(tmp_path / "zero.npz", x=np.zeros((0, 1, 8, 8), np.float32))
    with pytest.raises(ValueError, match="holds 0 images"):
        load_images(tmp_path / "zero.npz")


@pytest.mark.parametrize("dtype", [bool, np.complex64, np.int64, np.uint16])
def test_arrays_of_the_wrong_kind_are_refused(tmp_path, dtype):
    np.savez(tmp_path / "a.npz", x=np.ones((4, 1, 8, 8), dtype=dtype))
    with pytest.raises(ValueError, match=rf"dtype {np.dtype(dtype).name}.*float.*\[-1, 1\].*uint8"):
        load_images(tmp_path / "a.npz")
    with pytest.raises(ValueError, match=rf"dtype {np.dtype(dtype).name}.*float.*\[-1, 1\].*uint8"):
        evaluate_arrays(np.ones((4, 1, 8, 8), dtype=dtype), np.zeros((4, 1, 8, 8), np.float32), ["fid"],
                        extractor="random-conv")


def test_unit_range_floats_are_an_error_unless_converted(tmp_path, imgs):
    unit = (imgs + 1) / 2
    np.savez(tmp_path / "u.npz", x=unit.numpy())
    with pytest.raises(ValueError, match=r"values lie in \[0, 1\].*expects \[-1, 1\].*--range 01"):
        load_images(tmp_path / "u.npz")
    with pytest.raises(ValueError, match=r"values lie in \[0, 1\]"):
        evaluate_arrays(unit, imgs, ["fid"], extractor="random-conv")
    converted = load_images(tmp_path / "u.npz", value_range="01")
    torch.testing.assert_close(converted, imgs, rtol=0, atol=1e-6)
    # "11" says the data are in [-1, 1] already (they just happen to be >= 0)
    torch.testing.assert_close(load_images(tmp_path / "u.npz", value_range="11"), unit)
    with pytest.raises(ValueError, match="value_range must be one of"):
        load_images(tmp_path / "u.npz", value_range="0,1")
    # "01" on data outside [0, 1] is refused rather than shifted out of range
    np.savez(tmp_path / "s.npz", x=imgs.numpy())
    with pytest.raises(ValueError, match=r"value_range '01'.*outside \[0, 1\]"):
        load_images(tmp_path / "s.npz", value_range="01")


def test_sample_count_must_be_positive(imgs):
    for n in (0, -3):
        with pytest.raises(ValueError, match=f"n must be a positive number of samples, got {n}"):
            evaluate_samples(imgs, imgs, "fid", extractor="random-conv", n=n)


def test_empty_arrays_and_bad_batch_sizes(imgs):
    with pytest.raises(ValueError, match=r"generated samples: no images \(shape \(0, 1, 8, 8\)\)"):
        evaluate_arrays(imgs[:0], imgs, ["fid"], extractor="random-conv")
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        evaluate_arrays(imgs, imgs, ["fid"], extractor="random-conv", batch_size=0)


class Constant(torch.nn.Module):
    z_dim = 2

    def __init__(self, value):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(value))

    def forward(self, z):
        return self.w * torch.ones(len(z), 1, 4, 4)


def test_generate_refuses_non_finite_output():
    with pytest.raises(NonFiniteSamplesError, match=r"the generator of X outputs NaN or Inf .*its weights "
                                                    r"contain NaN or Inf.*diverged"):
        generate(Constant(float("nan")), 10, seed=0, source="the generator of X")
    assert issubclass(NonFiniteSamplesError, ValueError)
    assert generate(Constant(0.5), 3, seed=0).shape == (3, 1, 4, 4)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        generate(Constant(0.5), 3, seed=0, batch_size=0)
