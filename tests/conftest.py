import socket

import pytest
import torch

# Tests run tiny tensors, where extra threads only add synchronisation cost
# (and under two xdist workers on two cores, oversubscription).
torch.set_num_threads(1)


@pytest.fixture
def tiny_tree():
    """A config tree for a seconds-long digits run with small nets."""
    return {
        "name": "tiny",
        "data": {"name": "digits"},
        "model": {"z_dim": 8,
                  "generator": {"arch": {"name": "mlp", "params": {"width": 32, "depth": 2}}},
                  "discriminator": {"arch": {"name": "mlp", "params": {"width": 32, "depth": 2}}}},
        "train": {"steps": 20, "batch_size": 16, "log_every": 5, "sample_every": 10,
                  "checkpoint_every": 10, "latest_every": 5, "progress": False},
    }


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Reference-feature and weight caches go to a temporary folder, never ~/.cache."""
    monkeypatch.setenv("GANSCAPE_CACHE", str(tmp_path_factory.getbasetemp() / "ganscape-cache"))


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket fails the test: file:// URLs need none."""
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def same_checkpoints():
    """assert that two runs' latest checkpoints hold bit-identical nets and EMA
    copies (the resume tests); returns both checkpoints for further checks."""
    def check(run_a, run_b):
        from ganscape.train import checkpoint as ckpt_io
        a = ckpt_io.load(run_a / "checkpoints" / "latest.pt")
        b = ckpt_io.load(run_b / "checkpoints" / "latest.pt")
        for group in ("nets", "ema"):
            assert set(a[group]) == set(b[group])
            for name in a[group]:
                for k in a[group][name]:
                    assert torch.equal(a[group][name][k], b[group][name][k]), (group, name, k)
        return a, b

    return check


@pytest.fixture(autouse=True)
def _thread_settings_stay_in_their_test():
    """A test that runs a study worker in-process (worker_main sets the
    process-wide thread override, as a worker process should) must not leak
    that override into the next test on the same xdist worker."""
    from ganscape.train import threads as thr
    saved = (thr._override, thr._cap, torch.get_num_threads())
    yield
    thr._override, thr._cap = saved[:2]
    torch.set_num_threads(saved[2])
