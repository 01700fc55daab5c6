"""Downloads without a network: the URL table is patched to file:// URLs of files the tests write."""
import hashlib
import io
import re
import tarfile
import urllib.request

import numpy as np
import pytest

import ganscape.data.files  # noqa: F401 - registers the loaders the downloads feed
from ganscape.data import download as dl
from ganscape.data.download import (DownloadError, RemoteDataset, RemoteFile, UnsafeArchiveError, download,
                                    extract_tar_safely)
from ganscape.registry import DATASETS


# every test here fails if it opens a socket (conftest.no_network)
pytestmark = pytest.mark.usefixtures("no_network")


def serve(tmp_path, name, data):
    """Write `data` under tmp_path/server and return its file:// URL and SHA-256."""
    path = tmp_path / "server" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path.as_uri(), hashlib.sha256(data).hexdigest()


def patch_sources(monkeypatch, name, *files, **kw):
    monkeypatch.setitem(dl.SOURCES, name, RemoteDataset(name, tuple(files), **kw))


def listing(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_verified_file_is_installed(tmp_path, monkeypatch):
    data = b"some published bytes" * 1000
    url, sha = serve(tmp_path, "f.bin", data)
    patch_sources(monkeypatch, "mnist", RemoteFile("f.bin", (url,), sha, len(data)))
    root = tmp_path / "root"
    assert download("mnist", root, progress=False) == [root / "f.bin"]
    assert (root / "f.bin").read_bytes() == data
    assert listing(root) == ["f.bin"]  # no temporary files left


def test_wrong_hash_raises_and_leaves_nothing(tmp_path, monkeypatch):
    data = b"tampered bytes"
    url, _ = serve(tmp_path, "f.bin", data)
    wrong = hashlib.sha256(b"the published bytes").hexdigest()
    patch_sources(monkeypatch, "mnist", RemoteFile("f.bin", (url,), wrong, len(data)))
    root = tmp_path / "root"
    with pytest.raises(DownloadError, match="f.bin") as e:
        download("mnist", root, progress=False)
    assert wrong in str(e.value) and hashlib.sha256(data).hexdigest() in str(e.value)
    assert listing(root) == []


def test_wrong_size_raises(tmp_path, monkeypatch):
    data = b"abc"
    url, sha = serve(tmp_path, "f.bin", data)
    patch_sources(monkeypatch, "mnist", RemoteFile("f.bin", (url,), sha, 4))
    with pytest.raises(DownloadError, match="got 3 bytes"):
        download("mnist", tmp_path / "root", progress=False)
    assert listing(tmp_path / "root") == []
    patch_sources(monkeypatch, "mnist", RemoteFile("f.bin", (url,), sha, 2))
    with pytest.raises(DownloadError, match="got more than 2 bytes"):
        download("mnist", tmp_path / "root", progress=False)
    assert listing(tmp_path / "root") == []


def test_falls_back_to_the_next_mirror(tmp_path, monkeypatch):
    data = b"mirror two"
    url, sha = serve(tmp_path, "f.bin", data)
    bad_url, _ = serve(tmp_path, "other.bin", b"wrong bytes at mirror one")
    missing = (tmp_path / "server" / "missing.bin").as_uri()
    patch_sources(monkeypatch, "mnist", RemoteFile("f.bin", (missing, bad_url, url), sha, len(data)))
    download("mnist", tmp_path / "root", progress=False)
    assert (tmp_path / "root" / "f.bin").read_bytes() == data
    patch_sources(monkeypatch, "mnist", RemoteFile("g.bin", (missing, bad_url), sha, len(data)))
    with pytest.raises(DownloadError) as e:
        download("mnist", tmp_path / "root", progress=False)
    assert "missing.bin" in str(e.value) and "other.bin" in str(e.value)  # every failure reported


def test_present_file_with_right_hash_is_not_fetched(tmp_path, monkeypatch):
    data = b"already here"
    root = tmp_path / "root"
    root.mkdir()
    (root / "f.bin").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    fetched = []
    monkeypatch.setattr(dl, "download_verified", lambda *a, **k: fetched.append(a))
    patch_sources(monkeypatch, "mnist", RemoteFile("f.bin", ("file:///nonexistent",), sha, len(data)))
    download("mnist", root, progress=False)
    assert fetched == [] and (root / "f.bin").read_bytes() == data


def test_present_file_with_wrong_hash_is_replaced(tmp_path, monkeypatch):
    data = b"good bytes"
    url, sha = serve(tmp_path, "f.bin", data)
    root = tmp_path / "root"
    root.mkdir()
    (root / "f.bin").write_bytes(b"stale or corrupt")
    patch_sources(monkeypatch, "mnist", RemoteFile("f.bin", (url,), sha, len(data)))
    download("mnist", root, progress=False)
    assert (root / "f.bin").read_bytes() == data


def test_progress_output_does_not_break_a_download(tmp_path, monkeypatch, capsys):
    data = bytes(range(256)) * 50
    url, sha = serve(tmp_path, "f.bin", data)
    patch_sources(monkeypatch, "mnist", RemoteFile("f.bin", (url,), sha, len(data)))
    download("mnist", tmp_path / "root", progress=True)
    assert "SHA-256 verified" in capsys.readouterr().err
    assert (tmp_path / "root" / "f.bin").read_bytes() == data


def test_unknown_name():
    with pytest.raises(ValueError, match="choose one of: cifar10, fashion-mnist, mnist, sc09"):
        download("imagenet", "/tmp/never-created", progress=False)


def test_published_table_is_well_formed():
    assert dl.available() == ["cifar10", "fashion-mnist", "mnist", "sc09"]
    for name, source in dl.SOURCES.items():
        # `ganscape download NAME` matches the loader's name; sc09 is read by wav-folder
        assert (name if name != "sc09" else "wav-folder") in DATASETS
        for f in source.files:
            # Speech Commands' size is not published: only its digest is checked
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256) and (f.size is None if name == "sc09" else f.size > 0)
            assert f.urls and all(u.startswith(("https://", "http://")) and u.endswith(f.filename)
                                  for u in f.urls)
    assert len(dl.SOURCES["mnist"].files) == len(dl.SOURCES["fashion-mnist"].files) == 4


# --- tar extraction --------------------------------------------------------------------------------

def make_tar(path, members):
    """members: (TarInfo-producing spec) list of (name, kind, payload)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = payload
                tar.addfile(info)
    return path


@pytest.mark.parametrize("member, match", [
    (("../evil.txt", "file", b"x"), r"\.\."),
    (("ok/../../evil.txt", "file", b"x"), r"\.\."),
    (("/tmp/ganscape-evil.txt", "file", b"x"), "absolute"),
    (("link", "symlink", "/etc/passwd"), "not a regular file"),
    (("hard", "hardlink", "good.txt"), "not a regular file"),
])
def test_extraction_rejects_unsafe_members(tmp_path, member, match):
    archive = make_tar(tmp_path / "a.tar.gz", [("good.txt", "file", b"fine"), member])
    root = tmp_path / "root"
    with pytest.raises(UnsafeArchiveError, match=match):
        extract_tar_safely(archive, root)
    assert listing(root) == []  # checked before anything was written
    assert not (tmp_path / "evil.txt").exists()


def test_extraction_writes_plain_members(tmp_path):
    archive = make_tar(tmp_path / "a.tar.gz", [("d", "dir", None), ("d/x.bin", "file", b"123"),
                                               ("y.txt", "file", b"why")])
    written = extract_tar_safely(archive, tmp_path / "root")
    assert sorted(p.name for p in written) == ["x.bin", "y.txt"]
    assert (tmp_path / "root" / "d" / "x.bin").read_bytes() == b"123"
    assert listing(tmp_path / "root") == ["d", "d/x.bin", "y.txt"]


def test_cifar10_download_unpack_and_load(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    records = {}
    members = []
    for f in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        rec = np.concatenate([rng.integers(0, 10, (2, 1)), rng.integers(0, 256, (2, 3072))], 1).astype(np.uint8)
        records[f] = rec
        members.append((f"cifar-10-batches-bin/{f}", "file", rec.tobytes()))
    archive = make_tar(tmp_path / "cifar-10-binary.tar.gz", members)
    data = archive.read_bytes()
    url, sha = serve(tmp_path, "cifar-10-binary.tar.gz", data)
    patch_sources(monkeypatch, "cifar10", RemoteFile("cifar-10-binary.tar.gz", (url,), sha, len(data)),
                  extract="cifar-10-binary.tar.gz",
                  extracted=(("cifar-10-batches-bin/test_batch.bin", 2 * 3073),))
    root = tmp_path / "root"
    assert download("cifar10", root, progress=False) == [root / "cifar-10-binary.tar.gz"]
    ds = DATASETS.build("cifar10", {"root": str(root)}, "test")
    rec = records["test_batch.bin"]
    assert ds.y.tolist() == rec[:, 0].tolist()
    np.testing.assert_array_equal(((ds.floats().numpy() + 1) * 127.5).round().reshape(2, 3072), rec[:, 1:])
    # A second call finds everything in place: nothing is fetched or unpacked again.
    monkeypatch.setattr(dl, "download_verified", lambda *a, **k: pytest.fail("fetched again"))
    monkeypatch.setattr(dl, "extract_tar_safely", lambda *a: pytest.fail("unpacked again"))
    download("cifar10", root, progress=False)


def test_loading_never_touches_the_network(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("network used"))
    with pytest.raises(FileNotFoundError, match="ganscape download fashion-mnist"):
        DATASETS.build("fashion-mnist", {"root": str(tmp_path)}, "train")
