"""Symbolic links inside a run folder are refused, never followed (issue 17,
item 24): `report` would publish, and `eval` append to, a file anywhere."""
import json

import pytest

import ganscape
from ganscape.cli import main
from ganscape.config import from_dict
from ganscape.study import report as R
from ganscape.train import rundir


@pytest.fixture
def run(tiny_tree, tmp_path):
    tiny_tree["train"].update(steps=4, sample_every=2, checkpoint_every=0, latest_every=2)
    return ganscape.train(from_dict(tiny_tree), run_dir=tmp_path / "run")


def test_report_does_not_follow_a_linked_metrics_file_or_sample_png(run, tmp_path):
    secret = tmp_path / "outside.jsonl"
    secret.write_text(json.dumps({"step": 1, "results": {"secret_value": 31337}}) + "\n")
    (run / "metrics.jsonl").unlink(missing_ok=True)
    (run / "metrics.jsonl").symlink_to(secret)
    outside_png = tmp_path / "outside.png"
    from PIL import Image
    Image.new("L", (7, 5), 123).save(outside_png)
    (run / "samples" / "step_000004.png").unlink()
    (run / "samples" / "step_000004.png").symlink_to(outside_png)
    page = R.run_report(run).read_text()
    assert "31337" not in page and "secret_value" not in page
    assert "metrics.jsonl is a symbolic link" in page
    import base64
    assert base64.b64encode(outside_png.read_bytes()).decode() not in page
    assert "symbolic links (never followed): samples/step_000004.png" in page


def test_eval_does_not_append_through_a_linked_metrics_file(run, tmp_path, capsys):
    outside = tmp_path / "outside.jsonl"
    outside.write_text("")
    (run / "metrics.jsonl").unlink(missing_ok=True)
    (run / "metrics.jsonl").symlink_to(outside)
    code = main(["eval", str(run), "--metrics", "fid", "--n", "32", "--extractor", "digits-cnn"])
    err = capsys.readouterr().err.strip().splitlines()
    err = [line for line in err if line.startswith("error")]  # (the progress bars are on stderr too)
    assert code == 2 and len(err) == 1 and "is a symbolic link" in err[0], err
    assert outside.read_text() == ""


def test_run_folder_files_are_opened_without_following_links(tmp_path):
    target = tmp_path / "t.jsonl"
    target.write_text('{"step": 1}\n')
    link = tmp_path / "stats.jsonl"
    link.symlink_to(target)
    with pytest.raises(rundir.LinkRefused, match=r"stats\.jsonl is a symbolic link \(to .*t\.jsonl\)"):
        rundir.read_jsonl(link)
    with pytest.raises(rundir.LinkRefused):
        rundir.append_jsonl(link, {"step": 2})
    assert target.read_text() == '{"step": 1}\n'
    (tmp_path / "status.json").symlink_to(target)
    with pytest.raises(rundir.LinkRefused):
        rundir.read_status(tmp_path)


def test_eval_of_a_run_folders_samples_does_not_follow_a_linked_png(run, tmp_path, capsys):
    from PIL import Image
    outside = tmp_path / "outside.png"
    Image.new("L", (8, 8), 200).save(outside)
    (run / "samples" / "step_000004.png").unlink()
    (run / "samples" / "step_000004.png").symlink_to(outside)
    code = main(["eval", "--samples", str(run / "samples"), "--reference", "digits", "--metrics", "fid"])
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("error")]
    assert code == 2 and len(err) == 1 and "step_000004.png is a symbolic link" in err[0], err
    # the same link in a folder of one's own is followed, as image folders usually are
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "a.png").symlink_to(outside)
    from ganscape.metrics.images import load_images
    assert load_images(mine).shape == (1, 1, 8, 8)
