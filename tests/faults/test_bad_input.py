"""Bad input is one line naming what is wrong and what is allowed (issue 17,
items 16 (YAML aliases) and 26 (seed, a required parameter))."""
import pytest

from ganscape.cli import main
from ganscape.config import MAX_YAML_VALUES, ConfigError, load_config


def _bomb(levels: int) -> str:
    """A "billion laughs": each level aliases the one below ten times, so the
    last expands to 10^levels strings while the file stays a few lines."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path, capsys):
    # 10^10 strings expanded would be hundreds of GB; refused on reading, in a moment
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb(10))
    with pytest.raises(ConfigError, match=f"its YAML aliases expand to more than {MAX_YAML_VALUES} values"):
        load_config(None, str(path))
    assert main(["train", "--config", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bomb.yaml" in err[0] and "aliases expand" in err[0], err


def test_an_alias_bomb_in_set_and_a_self_reference_are_refused(tmp_path):
    flow = "[&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], " \
           "&d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d], " \
           "[*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]]"
    with pytest.raises(ConfigError, match="--set train.steps: its YAML aliases expand"):
        load_config(None, None, [f"train.steps={flow}"])
    path = tmp_path / "loop.yaml"
    path.write_text("train: &t\n  steps: 5\n  again: *t\n")
    with pytest.raises(ConfigError, match="refers to a value that contains it"):
        load_config(None, str(path))
    # a config that uses aliases sensibly still loads
    path.write_text("optim:\n  generator: &opt {name: adam, params: {lr: 1.0e-4}}\n  discriminator: *opt\n")
    cfg = load_config(None, str(path))
    assert cfg.optim.discriminator.params["lr"] == 1e-4


@pytest.mark.parametrize("seed", ["1e23", "-1", "4294967296"])
def test_a_seed_out_of_range_names_seed(seed, capsys):
    assert main(["train", "--set", f"seed={seed}", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: seed: must be an integer from 0 to 4294967295"), err
    assert load_config(None, None, ["seed=4294967295"]).seed == 4294967295


def test_a_required_parameter_is_named(capsys):
    assert main(["train", "--set", "data.name=image-folder", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: data.params.root is required and has no default; set it, e.g. "
                   "--set data.params.root=VALUE"], err
