import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from ganscape.data.files import (CIFAR10_CLASSES, DataFileError, holdout_split, list_images, load_image,
                                 read_cifar_batch, read_idx)
from ganscape.data.base import float_to_uint8
from ganscape.registry import DATASETS, ConfigError

RNG = np.random.default_rng(0)


# --- writers (independent of the readers under test) -------------------------------------------

def idx_bytes(array, code=0x08, fmt="B"):
    a = np.asarray(array)
    header = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + struct.pack(f">{a.size}{fmt}", *a.ravel().tolist())


def write(path, data, gz=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def write_mnist(root, n_train=5, n_test=3, gz=True):
    """Random MNIST-format files; returns {split: (images, labels)}."""
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = RNG.integers(0, 10, n, dtype=np.uint8)
        write(root / f"{prefix}-images-idx3-ubyte", idx_bytes(images), gz)
        write(root / f"{prefix}-labels-idx1-ubyte", idx_bytes(labels), gz)
        out[split] = (images, labels)
    return out


def cifar_records(n, label_max=9):
    labels = RNG.integers(0, label_max + 1, n, dtype=np.uint8)
    pixels = RNG.integers(0, 256, (n, 3072), dtype=np.uint8)
    return bytes(np.concatenate([labels[:, None], pixels], axis=1).ravel()), labels, pixels


def write_cifar(folder, per_batch=2, n_test=3):
    """Train batches of `per_batch` records and a test batch; returns {split: (labels, raw pixels)}."""
    folder.mkdir(parents=True, exist_ok=True)
    train_l, train_p = [], []
    for i in range(1, 6):
        data, labels, pixels = cifar_records(per_batch)
        (folder / f"data_batch_{i}.bin").write_bytes(data)
        train_l.append(labels)
        train_p.append(pixels)
    data, labels, pixels = cifar_records(n_test)
    (folder / "test_batch.bin").write_bytes(data)
    return {"train": (np.concatenate(train_l), np.concatenate(train_p)), "test": (labels, pixels)}


def as_float(u8):
    """The documented pixel map p -> p / 127.5 - 1, in float32."""
    return np.asarray(u8).astype(np.float32) / np.float32(127.5) - np.float32(1)


def save_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


# --- IDX -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("code, fmt, dtype", [(0x08, "B", np.uint8), (0x09, "b", np.int8), (0x0B, "h", np.int16),
                                              (0x0C, "i", np.int32), (0x0D, "f", np.float32),
                                              (0x0E, "d", np.float64)])
def test_read_idx_all_types_big_endian(tmp_path, code, fmt, dtype):
    values = np.array([[0, 1, 2], [100, -3 if dtype != np.uint8 else 3, 7]]).astype(dtype)
    p = write(tmp_path / "a.idx", idx_bytes(values, code, fmt))
    got = read_idx(p)
    assert got.dtype == np.dtype(dtype) and got.shape == (2, 3)
    np.testing.assert_array_equal(got, values)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_pixels_round_trip(tmp_path, gz):
    truth = write_mnist(tmp_path, gz=gz)
    for split in ("train", "test"):
        ds = DATASETS.build("mnist", {"root": str(tmp_path), "size": 28}, split)
        images, labels = truth[split]
        assert ds.floats().shape == (len(images), 1, 28, 28) and ds.num_classes == 10
        np.testing.assert_array_equal(ds.floats()[:, 0].numpy(), as_float(images))
        np.testing.assert_array_equal(float_to_uint8(ds.floats())[:, 0], images)  # exact round trip
        assert ds.y.tolist() == labels.tolist()
        assert ds.floats()[:, 0].numpy().min() >= -1 and ds.floats().numpy().max() <= 1


def test_mnist_size_32_zero_pads_and_other_sizes_resize(tmp_path):
    images, _ = write_mnist(tmp_path)["train"]
    x = DATASETS.build("mnist", {"root": str(tmp_path)}, "train").floats()  # default size 32
    assert x.shape == (5, 1, 32, 32)
    np.testing.assert_array_equal(x[:, 0, 2:30, 2:30].numpy(), as_float(images))
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert (x[:, 0].numpy()[:, border] == -1).all()
    for size in (8, 16, 64):
        xs = DATASETS.build("mnist", {"root": str(tmp_path), "size": size}, "train").floats()
        assert xs.shape == (5, 1, size, size) and xs.min() >= -1 and xs.max() <= 1
    # Halving with the antialiased bilinear filter: output pixel k averages input
    # pixels 2k-1 .. 2k+2 with weights 1, 3, 3, 1 (the triangle filter widened by
    # 2), renormalized where the window leaves the image.
    x16 = DATASETS.build("mnist", {"root": str(tmp_path), "size": 16}, "train").floats()
    m = np.zeros((16, 32))
    for k in range(16):
        for j, w in zip(range(2 * k - 1, 2 * k + 3), (1, 3, 3, 1)):
            if 0 <= j < 32:
                m[k, j] = w
    m /= m.sum(axis=1, keepdims=True)
    ref = np.einsum("ki,nij,lj->nkl", m, x[:, 0].double().numpy(), m)
    np.testing.assert_allclose(x16[:, 0].numpy(), ref, atol=1e-5)


def test_fashion_mnist_in_torchvision_layout(tmp_path):
    truth = write_mnist(tmp_path / "FashionMNIST" / "raw", gz=False)
    ds = DATASETS.build("fashion-mnist", {"root": str(tmp_path), "size": 28}, "test")
    np.testing.assert_array_equal(ds.floats()[:, 0].numpy(), as_float(truth["test"][0]))
    assert ds.info["classes"][9] == "Ankle boot"


def test_idx_corrupt_files_give_clear_errors(tmp_path):
    good = idx_bytes(RNG.integers(0, 256, (5, 28, 28), dtype=np.uint8))
    cases = {
        "truncated": (good[:-10], "truncated"),
        "trailing": (good + b"\0", "trailing"),
        "magic": (b"\x12\x34" + good[2:], "not an IDX file"),
        "typecode": (good[:2] + b"\x07" + good[3:], "not an IDX file"),
        "header": (good[:9], "cut short"),
        "tiny": (good[:2], "too short"),
    }
    for name, (data, match) in cases.items():
        p = write(tmp_path / name, data)
        with pytest.raises(DataFileError, match=match) as e:
            read_idx(p)
        assert str(p) in str(e.value)
    p = write(tmp_path / "bad.gz", b"this is not gzip data at all")
    with pytest.raises(DataFileError, match="corrupt or truncated") as e:
        read_idx(p)
    assert "bad.gz" in str(e.value)
    cut = gzip.compress(good)[:200]
    p = write(tmp_path / "cut.gz", cut)
    with pytest.raises(DataFileError, match="cut.gz"):
        read_idx(p)


def test_mnist_missing_and_inconsistent_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ganscape download mnist --root") as e:
        DATASETS.build("mnist", {"root": str(tmp_path)}, "train")
    assert "train-images-idx3-ubyte" in str(e.value)
    write_mnist(tmp_path, gz=False)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(4, np.uint8)))  # 4 labels, 3 images
    with pytest.raises(DataFileError, match="4 labels for the 3 images"):
        DATASETS.build("mnist", {"root": str(tmp_path)}, "test")
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.array([1, 2, 10], np.uint8)))
    with pytest.raises(DataFileError, match="label 10"):
        DATASETS.build("mnist", {"root": str(tmp_path)}, "test")
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(np.zeros((3, 32, 32), np.uint8)))
    with pytest.raises(DataFileError, match=r"\(N, 28, 28\)"):
        DATASETS.build("mnist", {"root": str(tmp_path)}, "test")


def test_mnist_bad_size():
    with pytest.raises(ConfigError, match="size"):
        DATASETS.params("mnist", {"size": 30})


# --- CIFAR-10 ------------------------------------------------------------------------------------

def test_cifar10_pixels_round_trip(tmp_path):
    truth = write_cifar(tmp_path / "cifar-10-batches-bin")
    for split, n in (("train", 10), ("test", 3)):
        ds = DATASETS.build("cifar10", {"root": str(tmp_path)}, split)
        labels, pixels = truth[split]
        assert ds.floats().shape == (n, 3, 32, 32) and ds.num_classes == 10
        assert ds.y.tolist() == labels.tolist()
        # Record layout: red plane, green plane, blue plane, each row-major.
        for i in range(n):
            for c, row, col in ((0, 0, 0), (1, 5, 17), (2, 31, 31), (0, 12, 30)):
                expected = pixels[i, c * 1024 + row * 32 + col] / 127.5 - 1
                assert ds.floats()[i, c, row, col].item() == pytest.approx(expected, abs=1e-7)
        np.testing.assert_array_equal(ds.floats().numpy().reshape(n, 3072), as_float(pixels))
        np.testing.assert_array_equal(float_to_uint8(ds.floats()).reshape(n, 3072), pixels)
    assert ds.info["classes"] == CIFAR10_CLASSES


def test_cifar10_files_directly_in_root_and_resize(tmp_path):
    write_cifar(tmp_path)
    ds = DATASETS.build("cifar10", {"root": str(tmp_path), "size": 16}, "test")
    assert ds.floats().shape == (3, 3, 16, 16)


def test_cifar10_errors(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar(folder)
    (folder / "data_batch_3.bin").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3.bin") as e:
        DATASETS.build("cifar10", {"root": str(tmp_path)}, "train")
    assert "ganscape download cifar10 --root" in str(e.value)
    data = (folder / "test_batch.bin").read_bytes()
    (folder / "test_batch.bin").write_bytes(data[:-100])
    with pytest.raises(DataFileError, match="test_batch.bin.*not a whole number of 3073-byte"):
        DATASETS.build("cifar10", {"root": str(tmp_path)}, "test")
    (folder / "test_batch.bin").write_bytes(b"")
    with pytest.raises(DataFileError, match="0 bytes"):
        read_cifar_batch(folder / "test_batch.bin")
    bad, _, _ = cifar_records(2)
    (folder / "test_batch.bin").write_bytes(bytes([57]) + bad[1:])
    with pytest.raises(DataFileError, match="record 0 has label 57"):
        read_cifar_batch(folder / "test_batch.bin")


# --- image folders ---------------------------------------------------------------------------------

def folder_params(root, **kw):
    return {"root": str(root), **kw}


def test_image_folder_exact_round_trip_and_labels(tmp_path):
    arrays = {}
    for cls in ("dog", "cat"):
        for k in range(3):
            a = RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            save_png(tmp_path / cls / f"{k}.png", a)
            arrays[f"{cls}/{k}.png"] = a
    ds = DATASETS.build("image-folder", folder_params(tmp_path, size=8, labels_from_dirs=True,
                                                       test_fraction=0.0), "train")
    assert ds.floats().shape == (6, 3, 8, 8) and ds.info["classes"] == ("cat", "dog") and ds.num_classes == 2
    for i, rel in enumerate(ds.info["files"]):
        np.testing.assert_array_equal(float_to_uint8(ds.floats()[i:i + 1])[0], arrays[rel].transpose(2, 0, 1))
        assert int(ds.y[i]) == (0 if rel.startswith("cat/") else 1)


def test_image_folder_centre_crop_resize_and_grey(tmp_path):
    wide = RNG.integers(0, 256, (8, 12, 3), dtype=np.uint8)  # 12 wide, 8 high
    save_png(tmp_path / "wide.png", wide)
    flat = np.full((40, 24, 3), (200, 100, 50), np.uint8)  # constant colour, 24 wide, 40 high
    save_png(tmp_path / "flat.jpg", flat)
    got = load_image(tmp_path / "wide.png", 8)
    np.testing.assert_array_equal(got, wide[:, 2:10].transpose(2, 0, 1))  # central 8x8, scale 1
    flat_small = load_image(tmp_path / "flat.jpg", 16, resample="lanczos")
    assert flat_small.shape == (3, 16, 16)
    assert np.abs(flat_small.astype(int) - np.array([200, 100, 50])[:, None, None]).max() <= 2  # JPEG loss
    grey = load_image(tmp_path / "wide.png", 8, channels=1)
    luma = (wide[:, 2:10] @ np.array([299, 587, 114])) / 1000  # ITU-R 601-2
    assert grey.shape == (1, 8, 8) and np.abs(grey[0] - luma).max() <= 1


def test_image_folder_sixteen_bit_png_is_scaled(tmp_path):
    a = np.array([[0, 257, 65535, 32896]], dtype=np.uint16).repeat(4, 0)
    Image.fromarray(a).save(tmp_path / "deep.png")
    got = load_image(tmp_path / "deep.png", 4, channels=1)
    np.testing.assert_array_equal(got[0, :, :], np.array([[0, 1, 255, 128]] * 4))


def test_image_folder_split_is_disjoint_deterministic_and_seeded(tmp_path):
    for k in range(20):
        save_png(tmp_path / f"img{k:02d}.png", np.full((8, 8, 3), k, np.uint8))
    p = folder_params(tmp_path, size=8)
    train = DATASETS.build("image-folder", p, "train")
    test = DATASETS.build("image-folder", p, "test", seed=123)  # the run seed does not move the split
    assert len(test) == 2 and len(train) == 18
    assert set(train.info["files"]) | set(test.info["files"]) == {f"img{k:02d}.png" for k in range(20)}
    assert not set(train.info["files"]) & set(test.info["files"])
    assert DATASETS.build("image-folder", p, "test").info["files"] == test.info["files"]
    other = {tuple(holdout_split([f"img{k:02d}.png" for k in range(20)], 0.1, s)[1]) for s in range(5)}
    assert len(other) > 1  # split_seed changes which files are held out
    assert len(DATASETS.build("image-folder", {**p, "max_images": 5}, "train")) == 5
    assert DATASETS.build("image-folder", p, "train").y is None


def test_image_folder_bad_images(tmp_path):
    for k in range(3):
        save_png(tmp_path / f"ok{k}.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "garbage.png").write_bytes(b"definitely not a png")
    p = folder_params(tmp_path, size=8, test_fraction=0.0)
    with pytest.raises(DataFileError, match="garbage.png.*skip_bad"):
        DATASETS.build("image-folder", p, "train")
    with pytest.warns(RuntimeWarning, match="skipped 1 unreadable"):
        ds = DATASETS.build("image-folder", {**p, "skip_bad": True}, "train")
    assert len(ds) == 3 and ds.info["skipped"] == ["garbage.png"]
    (tmp_path / "garbage.png").unlink()
    big = tmp_path / "big.png"
    save_png(big, RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    big.write_bytes(big.read_bytes()[:400])  # truncated mid-stream
    with pytest.raises(DataFileError, match="big.png"):
        DATASETS.build("image-folder", p, "train")


def test_image_folder_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="root"):
        DATASETS.params("image-folder", {})
    with pytest.raises(ConfigError, match="size"):
        DATASETS.params("image-folder", folder_params(tmp_path, size=48))
    with pytest.raises(ConfigError, match="test_fraction"):
        DATASETS.params("image-folder", folder_params(tmp_path, test_fraction=1.0))
    with pytest.raises(FileNotFoundError, match="no .png"):
        DATASETS.build("image-folder", folder_params(tmp_path), "train")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        DATASETS.build("image-folder", folder_params(tmp_path / "nope"), "train")
    save_png(tmp_path / "loose.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataFileError, match="loose.png.*class subfolder"):
        DATASETS.build("image-folder", folder_params(tmp_path, labels_from_dirs=True), "train")
    with pytest.raises(ValueError, match="test split .* is empty"):
        DATASETS.build("image-folder", folder_params(tmp_path, test_fraction=0.0), "test")


def test_list_images_is_recursive_sorted_and_filtered(tmp_path):
    for rel in ("b/x.PNG", "a/y.jpeg", "a/deep/z.jpg", "c.txt", ".hidden.png", "a/w.gif"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    got = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert got == ["a/deep/z.jpg", "a/y.jpeg", "b/x.PNG"]
