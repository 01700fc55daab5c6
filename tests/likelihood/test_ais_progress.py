"""AIS reports every transition (the progress bar and the thread count feed
on it) without changing its result; the `nll` metric's AIS shows a bar over
all of them, measures the thread count where nothing holds it, and leaves a
training run's count alone."""
import torch
from torch import nn

from ganscape.likelihood import ais as A
from ganscape.metrics import nll as M
from ganscape.train import threads as thr


def _decoder():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(6, 2, generator=g, dtype=torch.float64)
    return lambda z: z.double() @ W.T


def test_on_step_is_called_once_per_transition_and_changes_nothing():
    dec = _decoder()
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    calls = []
    a = A.ais(dec, x, 2, 0.3, steps=25, chains=3, generator=torch.Generator().manual_seed(2),
              on_step=lambda: calls.append(1))
    b = A.ais(dec, x, 2, 0.3, steps=25, chains=3, generator=torch.Generator().manual_seed(2))
    assert len(calls) == 25
    assert torch.equal(a.log_w, b.log_w) and a.acceptance == b.acceptance
    calls.clear()
    A.choose_sigma(dec, x, 2, (0.1, 0.3, 0.9), steps=7, chains=2, on_step=lambda: calls.append(1))
    assert len(calls) == 21


class TinyG(nn.Module):
    z_dim = 2

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 4)

    def forward(self, z):
        return torch.tanh(self.lin(z)).view(-1, 1, 2, 2)


def _nll(progress):
    torch.manual_seed(0)
    G = TinyG()
    x = (torch.randint(0, 4, (5, 1, 2, 2)).float() / 3) * 2 - 1
    xv = (torch.randint(0, 4, (3, 1, 2, 2)).float() / 3) * 2 - 1
    p = M.NLLParams(ais_steps=30, ais_chains=2, ais_leapfrog=2, ais_sigmas=(0.2, 0.4), batch=2,
                    baseline_components=0)
    return M.model_nll(G, x, 4, p, xv, progress=progress)


def test_the_nll_bar_counts_every_transition(monkeypatch):
    import tqdm.auto
    seen = {}
    real = tqdm.auto.tqdm

    class Spy(real):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            seen.setdefault("total", self.total)
            seen.setdefault("disable", k.get("disable"))

        def update(self, n=1):
            seen["updates"] = seen.get("updates", 0) + n
            return super().update(n)

    monkeypatch.setattr(tqdm.auto, "tqdm", Spy)
    _nll(progress=True)
    # sigma: 2 values x max(10, 30 // 10) transitions; then 3 batches of the 5 test images x 30
    assert seen["total"] == 2 * 10 + 3 * 30 == seen["updates"]
    assert seen["disable"] is False


def test_nll_measures_threads_when_free_and_leaves_a_run_alone(monkeypatch):
    made = []
    real = thr.tuner

    def spy(*a, **k):
        t = real(*a, **k)
        made.append(t)
        return t

    monkeypatch.setattr(thr, "tuner", spy)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    _nll(progress=False)
    assert torch.get_num_threads() == before
    assert type(made[-1]) is thr.AutoThreads
    # inside a training run (something holds the count) AIS does not touch it
    holder = thr.FixedThreads(1, "train.threads", 2)
    holder.begin()
    try:
        _nll(progress=False)
    finally:
        holder.close()
    assert isinstance(made[-1], thr.LeaveAlone) and made[-1].why == "held by the work around it"
    assert torch.get_num_threads() == before
