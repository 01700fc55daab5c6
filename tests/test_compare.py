"""ganscape compare: one row per run with quality, labelled likelihood,
times and parameters; HTML (self-contained, escaped), markdown and CSV."""
import csv

import ganscape
from ganscape.cli import main
from ganscape.config import from_dict

VAE = {"data": {"name": "digits"}, "method": {"name": "vae"}, "model": {"z_dim": 4,
       "generator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 1}}, "norm": "none"},
       "discriminator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 1}}, "norm": "none"}},
       "train": {"steps": 3, "progress": False, "sample_every": 3, "batch_size": 16}}
GAN = {"model": {"z_dim": 4,
       "generator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 1}}},
       "discriminator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 1}}}},
       "train": {"steps": 3, "progress": False, "sample_every": 3, "batch_size": 16}}


def test_compare_writes_every_format(tmp_path, capsys):
    vae = ganscape.train(from_dict(VAE), run_dir=tmp_path / "vae")
    gan = ganscape.train(from_dict(GAN), run_dir=tmp_path / "<gan>")
    out = tmp_path / "cmp"
    assert main(["compare", str(vae), str(gan), "--out", str(out), "--n", "20", "--no-ais",
                 "--param", "nll.iwae_k=4"]) == 0
    rows = list(csv.DictReader(open(out / "compare.csv")))
    assert [r["family"] for r in rows] == ["VAE", "GAN"]
    assert rows[0]["nll_kind"] == "IWAE bound (k=4)" and float(rows[0]["bits_per_dim"]) > 0
    assert rows[1]["nll_kind"] == "(AIS skipped)" and rows[1]["bits_per_dim"] == ""
    for r in rows:
        assert float(r["fid"]) > 0 and 0 <= float(r["precision"]) <= 1
        assert float(r["sample_seconds_per_1000"]) > 0 and int(r["sampler_params"]) > 0
        assert int(r["steps"]) == 3 and float(r["train_seconds"]) > 0
    page = (out / "compare.html").read_text()
    assert "Content-Security-Policy" in page and "<script" not in page
    assert "&lt;gan&gt;" in page and "<gan>" not in page            # run names are escaped
    assert "| VAE |" in (out / "compare.md").read_text()
    assert "report:" in capsys.readouterr().out
    assert main(["compare", str(vae), "--out", str(out), "--param", "fid.x=1"]) == 2


def test_compare_falls_back_over_a_truncated_latest_checkpoint(tmp_path):
    import pytest

    from ganscape.compare import measure
    from ganscape.train import checkpoint as ckpt_io

    tree = {**GAN, "train": {**GAN["train"], "steps": 4, "latest_every": 2}}
    gan = ganscape.train(from_dict(tree), run_dir=tmp_path / "gan")
    latest = gan / "checkpoints" / "latest.pt"
    latest.write_bytes(latest.read_bytes()[:1000])
    with pytest.warns(ckpt_io.CheckpointWarning, match="latest.pt is truncated or corrupt"):
        row = measure(gan, n=20, ais=False)
    assert row["steps"] == 2  # previous.pt, the one the generator was loaded from
