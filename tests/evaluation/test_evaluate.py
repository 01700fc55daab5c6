"""The evaluation pipeline: shared features, cache, honest records, bad input."""
import json

import numpy as np
import pytest
import torch

import ganscape
from ganscape.metrics.cache import FeatureCache
from ganscape.metrics.evaluate import evaluate_arrays, reference_images
from ganscape.metrics.fid import fid_from_features
from ganscape.registry import ConfigError


@pytest.fixture(scope="module")
def digits():
    train, ref, _ = reference_images("digits", {"size": 8}, "train", None)
    test, _, _ = reference_images("digits", {"size": 8}, "test", None)
    return train, test, ref


def test_scores_match_the_metric_functions_on_shared_features(digits):
    train, test, ref = digits
    from ganscape.metrics.features.base import extract
    from ganscape.registry import EXTRACTORS
    ext = EXTRACTORS.build("digits-cnn", {})
    out = evaluate_arrays(test, train, ["fid", "is"], extractor=ext, reference=ref)
    f_real = extract(ext, train).features.astype(np.float32)
    f_fake = extract(ext, test).features.astype(np.float32)
    assert out["results"]["fid"] == pytest.approx(fid_from_features(f_fake, f_real), rel=1e-9)
    assert out["n_fake"] == 300 and out["n_real"] == 1497
    assert out["extractor"].startswith("digits-cnn(sha256=")
    assert out["reference"]["split"] == "train" and out["protocol"]["is"] == {"splits": 10}
    # held-out real digits are confidently and diversely classified: IS near 10
    assert 8.0 < out["results"]["is"] < 10.0


def test_same_numbers_whatever_the_batch_size(digits):
    train, test, ref = digits
    a = evaluate_arrays(test, train, ["fid", "is"], batch_size=7, extractor="digits-cnn")["results"]
    b = evaluate_arrays(test, train, ["fid", "is"], batch_size=1000, extractor="digits-cnn")["results"]
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-6), k


def test_uniform_noise_scores_far_worse_than_held_out_digits(digits):
    train, test, ref = digits
    noise = torch.rand(300, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    good = evaluate_arrays(test, train, ["fid"], extractor="digits-cnn")["results"]["fid"]
    bad = evaluate_arrays(noise, train, ["fid"], extractor="digits-cnn")["results"]["fid"]
    assert good < 30 and bad > 10 * good


def test_reference_cache_hit_stale_and_tampered(tmp_path, digits):
    train, test, ref = digits
    cache = FeatureCache(tmp_path)
    first = evaluate_arrays(test, train, ["fid"], reference=ref, cache=cache)["results"]["fid"]
    entries = list(tmp_path.glob("*.npz"))
    assert len(entries) == 1
    # a hit gives identical numbers to the fresh computation
    assert evaluate_arrays(test, train, ["fid"], reference=ref, cache=cache)["results"]["fid"] == first
    assert evaluate_arrays(test, train, ["fid"], reference=ref)["results"]["fid"] == first
    # another n or split is another key
    evaluate_arrays(test, train[:500], ["fid"], reference={**ref, "n": 500}, cache=cache)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    # a tampered entry is recomputed, not trusted
    entries[0].write_bytes(entries[0].read_bytes()[:-10] + b"0123456789")
    with pytest.warns(UserWarning, match="unusable.*recomputing"):
        again = evaluate_arrays(test, train, ["fid"], reference=ref, cache=cache)["results"]["fid"]
    assert again == first


def test_bad_inputs_give_clear_errors(digits):
    train, test, ref = digits
    bad = test.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="generated samples: contains NaN"):
        evaluate_arrays(bad, train, ["fid"], extractor="digits-cnn")
    with pytest.raises(ValueError, match=r"values must lie in \[-1, 1\]"):
        evaluate_arrays(test * 3, train, ["fid"], extractor="digits-cnn")
    with pytest.raises(ValueError, match=r"expected images \(N, C, H, W\)"):
        evaluate_arrays(test[:, 0], train, ["fid"], extractor="digits-cnn")
    with pytest.raises(ValueError, match="generated samples have shape"):
        evaluate_arrays(torch.full((10, 3, 8, 8), -0.5), train, ["fid"], extractor="digits-cnn")
    with pytest.raises(ValueError, match="need at least 2"):
        evaluate_arrays(test[:1], train, ["fid"], extractor="digits-cnn")
    with pytest.raises(ConfigError, match="unknown metric 'fdi'; choose one of: .*fid"):
        evaluate_arrays(test, train, ["fdi"])
    with pytest.warns(UserWarning, match="samples < feature dimension D=128"):
        evaluate_arrays(test[:50], train, ["fid"], extractor="digits-cnn")


def test_uint8_and_float_inputs_agree(digits):
    train, test, ref = digits
    from ganscape.data.base import float_to_uint8
    q = torch.from_numpy(float_to_uint8(test))
    a = evaluate_arrays(q, train, ["fid"], extractor="digits-cnn")["results"]["fid"]
    b = evaluate_arrays(q.float() / 127.5 - 1, train, ["fid"], extractor="digits-cnn")["results"]["fid"]
    assert a == pytest.approx(b, rel=1e-12)


def test_evaluate_a_run_appends_to_metrics_jsonl(tiny_tree, tmp_path):
    from ganscape.config import from_dict
    run = ganscape.train(from_dict(tiny_tree), run_dir=tmp_path / "run")
    rec = ganscape.evaluate(run, metrics="fid,is", n=200)
    assert rec["n_fake"] == 200 and rec["step"] == 20 and rec["checkpoint"] == "latest.pt"
    line = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert line["results"]["fid"] == pytest.approx(rec["results"]["fid"])
    assert line["reference"]["dataset"] == "digits" and line["protocol"]["is"]["splits"] == 10
    # deterministic: same seed, same samples, same score
    assert ganscape.evaluate(run, metrics="fid", n=200, record=False)["results"]["fid"] == rec["results"]["fid"]


def test_evaluation_during_training_keeps_the_best_checkpoint(tiny_tree, tmp_path):
    from ganscape.config import from_dict
    from ganscape.train import checkpoint as ckpt_io
    from ganscape.train import rundir
    tiny_tree["eval"] = {"every": 10, "metrics": ["fid"], "n": 100}
    run = ganscape.train(from_dict(tiny_tree), run_dir=tmp_path / "run")
    recs = rundir.read_jsonl(run / "metrics.jsonl")
    assert [r["step"] for r in recs] == [10, 20]
    best = min(recs, key=lambda r: r["results"]["fid"])
    assert ckpt_io.load(run / "checkpoints" / "best.pt")["step"] == best["step"]
    tiny_tree["eval"]["best"] = "nope"
    with pytest.raises(ConfigError, match="eval.best: 'nope' is not"):
        ganscape.train(from_dict(tiny_tree), run_dir=tmp_path / "run2")


def test_samples_from_files_and_folders(tmp_path, digits):
    from PIL import Image
    train, test, ref = digits
    from ganscape.data.base import float_to_uint8
    np.savez(tmp_path / "s.npz", x=test.numpy())
    a = ganscape.evaluate_samples(tmp_path / "s.npz", "digits", metrics="fid")["results"]["fid"]
    b = evaluate_arrays(test, train, ["fid"], extractor="digits-cnn")["results"]["fid"]
    assert a == pytest.approx(b, rel=1e-9)
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, im in enumerate(float_to_uint8(test[:20])):
        Image.fromarray(im[0]).save(folder / f"{i:03d}.png")
    x = ganscape.load_images(folder)
    assert x.shape == (20, 1, 8, 8)
    assert torch.allclose(x, torch.from_numpy(float_to_uint8(test[:20])).float() / 127.5 - 1)
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match="broken.png: cannot read image"):
        ganscape.load_images(folder)
    with pytest.raises(ConfigError, match="neither a registered data set"):
        ganscape.evaluate_samples(tmp_path / "s.npz", "no-such-thing")


def test_a_run_stopped_after_its_last_evaluation_was_recorded_resumes_without_a_duplicate(tiny_tree, tmp_path):
    """kill -9 between the final evaluation's record and status `completed` (seen in the study's
    kill-a-worker test under load): the resume evaluates the last step once, not twice, and best.pt
    is the best recorded step."""
    from ganscape.config import from_dict
    from ganscape.train import checkpoint as ckpt_io
    from ganscape.train import rundir
    tiny_tree["eval"] = {"every": 10, "metrics": ["fid"], "n": 100}
    run = ganscape.train(from_dict(tiny_tree), run_dir=tmp_path / "run")
    rundir.write_status(run, "running", step=20, checkpoint_step=20)  # what the kill left
    ganscape.resume(run, progress=False)
    recs = rundir.read_jsonl(run / "metrics.jsonl")
    assert [r["step"] for r in recs] == [10, 20]
    best = min(recs, key=lambda r: r["results"]["fid"])
    assert ckpt_io.load(run / "checkpoints" / "best.pt")["step"] == best["step"]
    assert rundir.read_status(run)["status"] == "completed"
