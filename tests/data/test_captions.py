"""Data set shapes-captions: captions round-trip to the attributes and the renderer's parameters, the
held-out combinations are kept out of training, and bad captions are refused in one line."""
import numpy as np
import pytest

from ganscape.data import captions as C
from ganscape.data.shapes import fit_shape
from ganscape.registry import ConfigError


@pytest.fixture(scope="module")
def splits():
    p = C.CaptionsParams(n=120, n_test=60)
    return C.shapes_captions(p, "train", 3), C.shapes_captions(p, "test", 3)


def test_every_caption_parses_back_to_its_combination(splits):
    tab = splits[0].info["captions"]
    assert tab["tokens"].shape == (180, 8, C.max_words()) and len(tab["vocab"]) == len(set(tab["vocab"]))
    for combo, texts in zip(tab["attributes"], tab["text"]):
        for t in texts:
            assert np.array_equal(C.attribute_index(C.parse_caption(t)), combo), t
    # tokens are the words' ids, padded with 0
    vocab = tab["vocab"]
    assert " ".join(vocab[i] for i in tab["tokens"][7, 2] if i) == " ".join(C.words(tab["text"][7][2]))


def test_images_round_trip_to_their_captions_attributes(splits):
    """fit_shape recovers kind, centre, size and colour; recover_attributes names the caption's values."""
    for d in splits:
        tab = d.info["captions"]
        for i in range(0, len(d), 3):
            got = C.recover_attributes(fit_shape(d.x[i]), d.info["image_size"])
            assert np.array_equal(got, tab["attributes"][int(d.y[i])]), i
        gt = d.info["shapes"]
        assert np.array_equal(gt["kind"][:, 0], tab["attributes"][d.y.numpy(), 0])


def test_recover_attributes_by_hand():
    S = 32
    fit = {"kind": "triangle", "cx": 25.0, "cy": 6.0, "size": 9.0, "color": (0.1, 0.85, 0.95)}
    assert C.recover_attributes(fit, S).tolist() == [2, 4, 0, 1]     # triangle cyan small top right
    fit = dict(fit, cx=18.0, cy=14.5, size=15.0)
    assert C.recover_attributes(fit, S).tolist() == [2, 4, 1, 4]     # large, centre (|dx| = 2 < 3)
    fit = dict(fit, cx=12.0, cy=20.0)
    assert C.recover_attributes(fit, S).tolist() == [2, 4, 1, 2]     # bottom left
    assert C.recover_attributes(None, S) is None


def test_heldout_combinations_stay_out_of_training(splits):
    train, test = splits
    held = train.info["captions"]["heldout"]
    assert held.sum() == 36 and np.array_equal(held, test.info["captions"]["heldout"])
    assert not held[train.y.numpy()].any() and held[test.y.numpy()].all()
    seen = train.info["captions"]["attributes"][~held]
    for j, a in enumerate(C.ATTRIBUTES):
        assert set(seen[:, j]) == set(range(len(C.ATTRIBUTE_VALUES[a])))
    assert train.num_classes == 180 and train.x.shape == (120, 3, 32, 32)
    assert float(train.x.min()) >= -1 and float(train.x.max()) <= 1


def test_bad_captions_and_params_are_refused():
    with pytest.raises(ValueError, match="the word 'dodecahedron' is not in the vocabulary"):
        C.parse_caption("a small red dodecahedron top left")
    with pytest.raises(ValueError, match="name the colour exactly once"):
        C.parse_caption("a small red blue circle top left")
    with pytest.raises(ValueError, match="name the position"):
        C.parse_caption("a small red circle top")
    with pytest.raises(ValueError, match="'zebra' is not in the vocabulary"):
        C.tokenize(["a zebra"], 12)
    assert C.tokenize(["A large BLUE triangle"], 6)[0, 4:].tolist() == [0, 0]
    with pytest.raises(ConfigError, match="holdout: must lie in"):
        C.CaptionsParams(holdout=0.7).validate("data.params")


def test_celeba_attribute_file_layout(tmp_path):
    f = tmp_path / "list_attr_celeba.txt"
    f.write_text("3\n5_o_Clock_Shadow Arched_Eyebrows Smiling \n"
                 "000001.jpg -1  1  1\n000002.jpg -1 -1  1\n000003.jpg  1 -1 -1\n")
    got = C.read_attribute_file(f)
    assert got["names"] == ("5_o_Clock_Shadow", "Arched_Eyebrows", "Smiling")
    assert got["files"] == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert got["attributes"].tolist() == [[0, 1, 1], [0, 0, 1], [1, 0, 0]]
    f.write_text("2\nA B\n1.jpg 1 -1\n2.jpg 1 0\n")
    with pytest.raises(ValueError, match="line 4 must be a file name and 2 values of 1 or -1"):
        C.read_attribute_file(f)
    f.write_text("3\nA B\n1.jpg 1 -1\n")
    with pytest.raises(ValueError, match="line 1 says 3 images, the file lists 1"):
        C.read_attribute_file(f)
