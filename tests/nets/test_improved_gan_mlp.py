"""improved-gan-mlp, the authors' MNIST discriminator of the semi-supervised
GAN: data-dependent init (unit-scale pre-activations on the init batch),
fixed hidden scales and a trained head scale, feature matching before the
last noise layer, the init carried by checkpoints, clear errors; and the
classifier's validation split (the training images whose labels a run never saw)."""
import pytest
import torch

import ganscape
from ganscape.config import ConfigError, from_dict
from ganscape.data.base import labelled_subset
from ganscape.metrics.classifier_error import classifier_error, error_rate
from ganscape.nets.ssgan import WNDense
from ganscape.train import checkpoint as ckpt_io
from ganscape.train.state import build_state, load_data


def _tree(method="ssgan", widths=(12, 8), input_noise=0.6, hidden_noise=0.5, **train):
    return {
        "name": "tiny-wn", "deterministic": True,
        "data": {"name": "digits", "params": {"size": 8}},
        "model": {"z_dim": 4,
                  "generator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 2}}, "norm": "batch"},
                  "discriminator": {"arch": {"name": "improved-gan-mlp",
                                             "params": {"widths": list(widths), "input_noise": input_noise,
                                                        "hidden_noise": hidden_noise}},
                                    "norm": "none"}},
        "loss": "ns", "method": method,
        "train": {"steps": 4, "batch_size": 16, "log_every": 2, "sample_every": 0, "checkpoint_every": 0,
                  "latest_every": 2, "progress": False, "labelled_per_class": 10, "labelled_batch_size": 16,
                  **train},
    }


def _state(tree):
    cfg = from_dict(tree)
    data = load_data(cfg)
    torch.manual_seed(0)
    state, method = build_state(cfg, data.shape, torch.device("cpu"), data.num_classes)
    return cfg, data, state, method


def test_data_dependent_init_gives_every_unit_mean_zero_and_std_one_on_the_init_batch():
    # Without noise the init pass is deterministic: afterwards each dense
    # layer's pre-activation on the same batch has per-unit mean 0 and
    # (population) std 1, and the head's too (Salimans & Kingma 2016, sec. 3).
    _, data, state, _ = _state(_tree(input_noise=0.0, hidden_noise=0.0))
    D = state.nets["D"]
    x = data.floats()[:64]
    pre = []
    hooks = [m.register_forward_hook(lambda m, i, o: pre.append(o)) for m in D.modules() if isinstance(m, WNDense)]
    assert D.needs_data_init
    D.data_init(x)
    pre.clear()
    with torch.no_grad():
        D.class_logits(x)
    for h in hooks:
        h.remove()
    assert len(pre) == 3  # two hidden layers and the 10-logit head
    for t in pre:
        assert torch.allclose(t.mean(0), torch.zeros(t.shape[1]), atol=1e-5)
        assert torch.allclose(t.std(0, unbiased=False), torch.ones(t.shape[1]), atol=1e-4)
    assert not D.needs_data_init


def test_hidden_scales_are_fixed_and_the_head_scale_is_trained():
    _, data, state, method = _state(_tree(ema_decay=0.9))
    D = state.nets["D"]
    dense = [m for m in D.modules() if isinstance(m, WNDense)]
    hidden, head = dense[:-1], dense[-1]
    params = {id(p) for p in D.parameters()}
    assert all(id(m.g) not in params for m in hidden) and id(head.g) in params
    b = _batch(data)
    method.step(state, [b], log=False)  # the first step initialises, then updates
    g_hidden = [m.g.clone() for m in hidden]
    g_head = head.g.detach().clone()
    method.step(state, [b], log=False)
    assert all(torch.equal(a, m.g) for a, m in zip(g_hidden, hidden))
    assert not torch.equal(g_head, head.g)
    # the first step initialised D, and the EMA copy started from the initialised net
    assert bool(D.net.initialised) and bool(state.ema["D"].net.initialised)


def _batch(data, n=16):
    from ganscape.methods.base import Batch
    b = Batch(data.floats()[:n].clone(), data.y[:n].clone(), torch.ones(n, dtype=torch.bool))
    b.labelled_batch = Batch(data.floats()[n:2 * n].clone(), data.y[n:2 * n].clone())
    return b


def test_feature_matching_reads_the_last_hidden_layer_before_its_noise():
    # The authors' generator matches layers[-3], the last dense layer's
    # output, not the noise layer after it. With no input noise and one
    # hidden layer nothing random comes before the features in training mode,
    # while the class logits (after the noise) vary from call to call.
    _, data, state, _ = _state(_tree(widths=(8,), input_noise=0.0, hidden_noise=0.5))
    D = state.nets["D"].train()
    x = data.floats()[:8]
    with torch.no_grad():
        assert torch.equal(D.features(x), D.features(x))
        _, h = D(x, return_features=True)
        assert torch.equal(h, D.features(x))
        assert not torch.equal(D.class_logits(x), D.class_logits(x))


def test_the_init_is_carried_by_checkpoints_and_resume_is_bit_exact(tmp_path):
    tree = _tree(steps=4, ema_decay=0.9)
    full = ganscape.train(from_dict(tree), run_dir=tmp_path / "full")
    half = ganscape.train(from_dict({**tree, "train": {**tree["train"], "steps": 2}}), run_dir=tmp_path / "half")
    ganscape.resume(half, steps=4)  # a re-init on resume would break the equality
    a = ckpt_io.load(full / "checkpoints" / "latest.pt")
    b = ckpt_io.load(half / "checkpoints" / "latest.pt")
    assert bool(a["nets"]["D"]["net.initialised"])
    for group in ("nets", "ema"):
        for name in a[group]:
            for k in a[group][name]:
                assert torch.equal(a[group][name][k], b[group][name][k]), (group, name, k)


def test_validation_split_is_the_training_images_whose_labels_were_not_used(tmp_path):
    tree = _tree(method="supervised", steps=2, ema_decay=0.0)
    run = ganscape.train(from_dict(tree), run_dir=tmp_path / "run")
    cfg, _, state, _ = _state(tree)
    D = state.nets["D"]
    D.load_state_dict(ckpt_io.load(run / "checkpoints" / "latest.pt")["nets"]["D"])
    train = load_data(cfg, "train")
    keep = ~labelled_subset(train.y, 10, cfg.seed)
    assert int(keep.sum()) == len(train.y) - 100
    res = classifier_error(run, split="validation")
    assert res["n_real"] == len(train.y) - 100 and res["reference"]["split"] == "validation"
    assert res["results"]["classifier_error"] == pytest.approx(error_rate(D, train.floats()[keep], train.y[keep]))
    with pytest.raises(ValueError, match="choose test or validation"):
        classifier_error(run, split="val")


@pytest.mark.parametrize("change,match", [
    (lambda t: t["model"]["discriminator"].update(norm="weight"), "carries its own weight normalization"),
    (lambda t: t["model"].update(generator={"arch": {"name": "improved-gan-mlp"}, "norm": "none"}),
     "is a discriminator"),
    (lambda t: t["model"]["discriminator"]["arch"]["params"].update(widths=[]), "at least one hidden layer"),
    (lambda t: t["model"]["discriminator"]["arch"]["params"].update(input_noise=-1.0), "input_noise"),
])
def test_clear_errors(change, match):
    tree = _tree()
    change(tree)
    with pytest.raises(ConfigError, match=match):
        _state(tree)


def test_the_ssgan_preset_uses_the_authors_discriminator():
    cfg = ganscape.make_config("ssgan-digits")
    d = cfg.model.discriminator
    assert d.arch.name == "improved-gan-mlp" and d.norm.name == "none"
    # the architecture's defaults are the authors' noise scales; the preset's smaller ones were chosen on validation
    from ganscape.nets.ssgan import ImprovedGANMLPParams
    assert (ImprovedGANMLPParams().input_noise, ImprovedGANMLPParams().hidden_noise) == (0.6, 0.5)
    assert (d.arch.params["input_noise"], d.arch.params["hidden_noise"]) == (0.3, 0.3)
    assert cfg.optim.discriminator.params["lr"] == pytest.approx(0.003)
