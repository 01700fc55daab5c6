"""Study specs: strict parsing with clear errors, conditions, the shipped
specs, and how sampled parameters become a run config."""
import copy

import pytest
import yaml

from ganscape.config import from_dict
from ganscape.registry import ConfigError
from ganscape.study.runner import base_tree, suggest
from ganscape.study.spec import apply_params, list_specs, load_spec, parse_spec, set_key

SPEC = {
    "name": "t", "base": "digits", "set": ["train.steps=10"],
    "space": {
        "loss": {"key": "loss.name", "choices": ["ns", "hinge"]},
        "penalty": {"key": "penalties", "choices": {"none": [], "gp": [{"name": "gp"}]}},
        "w": {"key": "penalties.0.params.weight", "float": [0.1, 100], "log": True, "when": {"penalty": "gp"}},
        "beta1": {"keys": ["optim.generator.params.betas.0", "optim.discriminator.params.betas.0"],
                  "float": [0.0, 1.0]},
        "n_disc": {"key": "train.n_disc", "int": [1, 5]},
    },
    "trials": 3,
}


def _spec(**change):
    tree = copy.deepcopy(SPEC)
    for k, v in change.items():
        node, *path = k.split("/")
        target = tree
        for p in [node, *path][:-1]:
            target = target[p]
        if v is None:
            del target[[node, *path][-1]]
        else:
            target[[node, *path][-1]] = v
    return parse_spec(tree)


@pytest.mark.parametrize("change,match", [
    ({"trails": 3}, "unknown key 'trails'; allowed: name, description"),
    ({"space/loss/chioces": ["ns"]}, "space.loss: unknown key 'chioces'"),
    ({"space/w/float": [10, 1]}, r"space.w.float: low must be below high, got \[10, 1\]"),
    ({"space/w/float": [0, 1]}, "space.w.log: a log-uniform range needs low > 0"),
    ({"space/n_disc/int": [1.5, 5]}, "space.n_disc.int: bounds must be integers"),
    ({"space/w/when": {"penalty": "dragan"}}, "'dragan' is not a choice of 'penalty'; choices: none, gp"),
    ({"space/w/when": {"later": 1}}, "'later' must be a parameter listed before 'w'"),
    ({"space/loss/choices": [{"name": "ns"}]}, "is not a scalar; give a mapping label: value"),
    ({"sampler": "bayes"}, "sampler.name: 'bayes' is not allowed; choose one of random, grid, tpe, gp"),
    ({"sampler": "grid"}, "space.w.grid: the grid sampler needs the values of every number"),
    ({"pruner": "median"}, "pruning needs intermediate values; set objective.every > 0"),
    ({"trials": 0}, "spec.trials: must be an integer >= 1"),
    ({"objective": {"reduce": "mean"}}, "reduce: 'mean' is not allowed; choose best or last"),
    ({"objective": {"metrc": "fid"}}, "objective: unknown key 'metrc'"),
    ({"space/loss/key": None}, "give exactly one of key"),
    ({"space/loss/float": [0, 1]}, "give exactly one of choices"),
])
def test_bad_specs_are_clear_errors(change, match):
    with pytest.raises(ConfigError, match=match):
        _spec(**change)


def test_conditions_and_categorical_values():
    s = _spec()
    assert s.factors == ["loss", "penalty"]
    w = s.param("w")
    assert w.active({"penalty": "gp"}) and not w.active({"penalty": "none"}) and not w.active({})
    assert s.param("penalty").value_of("gp") == [{"name": "gp"}]


def test_parameters_become_a_valid_run_config():
    s = _spec()
    tree = base_tree(s)
    assert tree["train"]["steps"] == 10 and tree["eval"]["metrics"] == ["fid"] and tree["eval"]["best"] == "fid"
    t = apply_params(s, tree, {"loss": "hinge", "penalty": "gp", "w": 3.5, "beta1": 0.25, "n_disc": 4})
    cfg = from_dict(t)
    assert cfg.loss.name == "hinge" and cfg.train.n_disc == 4
    assert cfg.penalties[0].name == "gp" and cfg.penalties[0].params["weight"] == 3.5
    assert cfg.optim.generator.params["betas"][0] == 0.25 == cfg.optim.discriminator.params["betas"][0]
    assert cfg.optim.generator.params["betas"][1] == tree["optim"]["generator"]["params"]["betas"][1]
    assert from_dict(apply_params(s, tree, {"loss": "ns", "penalty": "none"})).penalties == ()
    assert tree["penalties"] == []  # the base tree is not modified


def test_scale_rule_follows_the_parameter():
    s = parse_spec({"name": "b", "space": {"bs": {
        "key": "train.batch_size", "choices": [16, 256],
        "scale": {"keys": ["optim.generator.params.lr"], "rule": "sqrt", "reference": 64}}}})
    tree = base_tree(s)
    lr = tree["optim"]["generator"]["params"]["lr"]
    t = apply_params(s, tree, {"bs": 256})
    assert t["train"]["batch_size"] == 256 and t["optim"]["generator"]["params"]["lr"] == pytest.approx(2 * lr)
    assert apply_params(s, tree, {"bs": 16})["optim"]["generator"]["params"]["lr"] == pytest.approx(lr / 2)
    with pytest.raises(ConfigError, match="scale.rule: 'cube' is not allowed"):
        parse_spec({"name": "b", "space": {"bs": {"key": "train.batch_size", "int": [1, 2],
                                                  "scale": {"keys": ["x"], "rule": "cube"}}}})


def test_set_key_indexes_lists_and_names_bad_paths():
    tree = {"a": [{"b": 1}], "loss": "ns"}
    set_key(tree, "a.0.b", 2)
    set_key(tree, "loss.params.smoothing", 0.1)
    assert tree == {"a": [{"b": 2}], "loss": {"name": "ns", "params": {"smoothing": 0.1}}}
    with pytest.raises(ConfigError, match="a.3 indexes a list of 1 items"):
        set_key(tree, "a.3.b", 1)


def test_suggest_skips_inactive_parameters():
    import optuna
    s = _spec()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        t = study.ask()
        chosen = suggest(t, s)
        assert ("w" in chosen) == (chosen["penalty"] == "gp")
        assert 0.1 <= chosen.get("w", 1) <= 100 and 1 <= chosen["n_disc"] <= 5
        seen.add(chosen["penalty"])
        study.tell(t, 0.0)
    assert seen == {"none", "gp"}


@pytest.mark.parametrize("name", list_specs())
def test_shipped_specs_parse_and_build_configs(name):
    s = load_spec(name)
    assert s.name == name and s.description and yaml.safe_load(s.text)["name"] == name
    if name == "arch-cifar10":
        return  # its base needs the CIFAR-10 files only to train; the config is checked like the others below
    tree = base_tree(s)
    for p in s.space:  # every level of every factor gives a valid config (numbers at both ends)
        if p.kind != "categorical":
            continue
        for label in p.grid_values():
            for end in ("low", "high"):
                chosen = {p.name: label}
                for q in s.space:
                    if q.kind == "categorical" and q.name not in chosen:
                        chosen[q.name] = q.grid_values()[-1]
                    elif q.kind != "categorical" and q.active(chosen):
                        chosen[q.name] = getattr(q, end)
                from_dict(apply_params(s, tree, chosen))


def test_required_shipped_specs():
    assert {"loss-digits", "norm-penalty-digits", "arch-digits", "arch-cifar10", "batch-size-digits"} <= \
        set(list_specs())


def test_unknown_shipped_spec_names_the_choices():
    with pytest.raises(ConfigError, match="unknown study 'loss'.*loss-digits"):
        load_spec("loss")
