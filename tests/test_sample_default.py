"""`ganscape sample` draws from best.pt where the run's evaluation chose one
(issue 17, item 27), else from the latest checkpoint."""
import ganscape
from ganscape.api import default_checkpoint
from ganscape.config import from_dict

ORACLE = {"name": "oracle", "params": {"vocab_size": 6, "length": 4, "n_train": 64, "n_test": 16,
                                       "emb_dim": 4, "hidden_dim": 4}}


def tree(**eval_):
    return {"data": ORACLE, "method": "mle",
            "model": {"generator": {"arch": {"name": "lstm", "params": {"emb_dim": 4, "hidden_dim": 4}}}},
            "train": {"steps": 4, "batch_size": 16, "sample_every": 0, "checkpoint_every": 0, "progress": False},
            "eval": eval_}


def test_best_where_evaluation_chose_one_else_latest(tmp_path):
    plain = ganscape.train(from_dict(tree()), run_dir=tmp_path / "plain")
    assert default_checkpoint(plain) == "latest"
    evaluated = ganscape.train(from_dict(tree(metrics=["oracle-nll"], every=2, n=20, best="oracle_nll")),
                               run_dir=tmp_path / "evaluated")
    assert (evaluated / "checkpoints" / "best.pt").exists()
    assert default_checkpoint(evaluated) == "best"


def test_the_sample_command_draws_from_best_by_default(tmp_path, capsys):
    import numpy as np
    import torch

    from ganscape.cli import main
    tr = tree(metrics=["oracle-nll"], every=1, n=200, best="oracle_nll")
    tr["optim"] = {"generator": {"name": "adam", "params": {"lr": 0.5}}}  # a rate that makes later steps worse
    run = ganscape.train(from_dict(tr), run_dir=tmp_path / "run")
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)["step"]
    assert best < 4                                      # best.pt is not the latest state
    assert main(["sample", str(run), "-n", "50", "--out", str(tmp_path / "a.npz")]) == 0
    assert "checkpoint: best" in capsys.readouterr().out
    got = np.load(tmp_path / "a.npz")["tokens"]
    assert np.array_equal(got, ganscape.sample(run, n=50, checkpoint="best").numpy())
    assert not np.array_equal(got, ganscape.sample(run, n=50, checkpoint="latest").numpy())
    assert main(["sample", str(run), "-n", "50", "--out", str(tmp_path / "b.npz"), "--checkpoint", "latest"]) == 0
    assert "checkpoint: latest" in capsys.readouterr().out
