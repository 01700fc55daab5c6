"""`compare` shows one bar over every run's stages (and AIS's own bar
below it); the sampling time is measured at a measured thread count, and
`eval` records the count it used."""
import tqdm.auto

import ganscape
from ganscape.compare import STAGES, compare
from ganscape.config import from_dict
from ganscape.metrics.evaluate_run import evaluate

GAN = {"model": {"z_dim": 4,
       "generator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 1}}},
       "discriminator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 1}}}},
       "train": {"steps": 3, "progress": False, "sample_every": 3, "batch_size": 16}}


def test_compare_bar_walks_every_stage_of_every_run(tmp_path, monkeypatch):
    a = ganscape.train(from_dict(GAN), run_dir=tmp_path / "a")
    b = ganscape.train(from_dict(GAN), run_dir=tmp_path / "b")
    bars = []
    real = tqdm.auto.tqdm

    class Spy(real):
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            self.seen = []
            bars.append(self)

        def set_description_str(self, desc=None, refresh=True):
            self.seen.append(desc)
            return super().set_description_str(desc, refresh)

    monkeypatch.setattr(tqdm.auto, "tqdm", Spy)
    rows_html = compare([a, b], tmp_path / "cmp", n=20, nll_params={"ais_steps": 10, "ais_chains": 2, "n": 4,
                                                                     "ais_validation": 3, "baseline_components": 0},
                        progress=True)
    assert rows_html.exists()
    outer = bars[0]
    assert outer.total == 2 * len(STAGES) and outer.n == outer.total
    assert outer.seen == [f"[{i}/2] {r}: {s}" for i, r in ((1, "a"), (2, "b")) for s in STAGES]
    ais_bars = [x for x in bars if x.desc == "AIS"]
    assert len(ais_bars) == 2 and all(x.n == x.total > 0 for x in ais_bars)


def test_eval_records_the_thread_count(tmp_path):
    run = ganscape.train(from_dict(GAN), run_dir=tmp_path / "r")
    rec = evaluate(run, metrics="fid", n=20)
    assert rec["threads"]["threads"] >= 1 and "why" in rec["threads"]
    from ganscape.train import threads as thr
    with thr.using(threads=1):
        rec = evaluate(run, metrics="fid", n=20)
    assert rec["threads"] == {"threads": 1, "why": "--threads", "units_per_s": {}, "available": rec["threads"]["available"]}
