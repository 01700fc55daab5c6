"""Text files as token sequences: vocabularies, ids, windows, lines, the
split by position, decoding, and every error."""
import pytest
import torch

from ganscape.data.text import PAD, UNK, decode, text_data
from ganscape.data.text import token_lists
from ganscape.registry import DATASETS, ConfigError


@pytest.fixture(autouse=True)
def _fresh():
    text_data.cache_clear()
    yield
    text_data.cache_clear()


def write(tmp_path, content, name="t.txt"):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return str(p)


def test_characters_in_windows(tmp_path):
    path = write(tmp_path, "abcabcabcabcabcabcxy")           # 20 chars; test = the last 3 ("cxy")
    params = {"path": path, "length": 3, "test_fraction": 0.15}
    d = DATASETS.build("text", params, "train", 0)
    assert d.info["vocab"] == ["<pad>", "<unk>", "a", "b", "c"]   # from the train part only
    assert d.floats().tolist() == [[2, 3, 4]] * 5 and d.vocab_size == 5  # 17 chars: 5 windows, the rest dropped
    assert d.info["joiner"] == "" and d.info["level"] == "char"
    t = DATASETS.build("text", params, "test", 0)
    assert t.floats().tolist() == [[4, UNK, UNK]]                     # x and y are not in the train vocabulary
    assert decode(d.floats()[:2], d.info) == ["abc", "abc"]
    with pytest.raises(ConfigError, match="0 test windows of 4 tokens .* a length of at most 3 would fit"):
        DATASETS.build("text", {**params, "length": 4}, "train", 0)


def test_words_in_lines_with_padding(tmp_path):
    path = write(tmp_path, "the cat sat.\n\nthe dog sat on the mat\nthe cat\nA bird!\n")
    params = {"path": path, "level": "word", "mode": "line", "length": 4, "top_n": 3, "test_fraction": 0.25}
    d = DATASETS.build("text", params, "train", 0)
    # train lines: the first 3 non-empty ones; counts: the 4, cat 2, sat 2, then . dog mat on 1
    assert d.info["vocab"] == ["<pad>", "<unk>", "the", "cat", "sat"]
    v = {w: i for i, w in enumerate(d.info["vocab"])}
    assert d.floats().tolist() == [[v["the"], v["cat"], v["sat"], UNK],
                            [v["the"], UNK, v["sat"], UNK],          # cut to 4 tokens
                            [v["the"], v["cat"], PAD, PAD]]
    t = DATASETS.build("text", params, "test", 0)
    assert t.floats().tolist() == [[UNK, UNK, UNK, PAD]]                  # "A bird !"
    assert decode(d.floats(), d.info) == ["the cat sat <unk>", "the <unk> sat <unk>", "the cat"]
    assert token_lists(d.floats()[2:], d.info) == [["the", "cat"]]
    assert d.info["train_words"] == sorted({"the", "cat", "sat", "dog", "on", "mat"})


def test_word_windows_cut_the_token_stream_not_a_word(tmp_path):
    # 10 words over 39 characters: a cut at 80% of the characters (31) would
    # fall inside "dddd" and put "dd" in the train vocabulary
    path = write(tmp_path, "a bb ccc dddd eeeee a bb ccc dddd eeeee")
    params = {"path": path, "level": "word", "length": 2, "test_fraction": 0.2}
    d = DATASETS.build("text", params, "train", 0)
    t = DATASETS.build("text", params, "test", 0)
    assert d.info["vocab"] == ["<pad>", "<unk>", "a", "bb", "ccc", "dddd", "eeeee"]  # counts 2, 2, 2, 1, 1
    assert d.floats().tolist() == [[2, 3], [4, 5], [6, 2], [3, 4]] and t.floats().tolist() == [[5, 6]]
    assert decode(d.floats(), d.info) == ["a bb", "ccc dddd", "eeeee a", "bb ccc"] and decode(t.floats(), t.info) == ["dddd eeeee"]
    assert d.info["train_words"] == ["a", "bb", "ccc", "dddd", "eeeee"] and d.info["joiner"] == " "
    # line breaks are tokens of the stream at word level too
    path = write(tmp_path, "x y\n" * 10, "lines.txt")
    d = DATASETS.build("text", {"path": path, "level": "word", "length": 3}, "train", 0)
    assert d.info["vocab"] == ["<pad>", "<unk>", "\n", "x", "y"] and d.floats()[0].tolist() == [3, 4, 2]


def test_lowercase_and_ids_are_deterministic(tmp_path):
    path = write(tmp_path, "Hello hello HELLO world " * 20)
    a = DATASETS.build("text", {"path": path, "level": "word", "lowercase": True, "length": 5}, "train", 0)
    b = DATASETS.build("text", {"path": path, "level": "word", "lowercase": True, "length": 5}, "train", 3)
    assert a.info["vocab"][:4] == ["<pad>", "<unk>", "hello", "world"]
    assert torch.equal(a.floats(), b.x)


@pytest.mark.parametrize("content,params,match", [
    ("", {}, "is empty"),
    ("   \n\n", {}, "is empty"),
    (b"abc\x00def" * 10, {}, "looks binary \\(a NUL byte at offset 3\\)"),
    (b"abc\xff\xfe" * 10, {}, "not UTF-8 text \\(invalid byte at offset 3\\)"),
    ("short text", {"length": 50}, "holds 10 char tokens"),
    ("one line only", {"mode": "line"}, "1 train and 0 test lines .* more non-empty lines than these 1"),
    ("a\nb\nc\n", {"mode": "line"}, "3 train and 0 test lines"),   # round(3 * 0.9) = 3: no test line
    ("ab" * 10, {"length": 2, "test_fraction": 0.01}, "the file is too short for windows"),
    ("ab" * 10, {"top_n": 0}, "top_n: must be >= 1"),
    ("ab" * 10, {"test_fraction": 1.0}, "test_fraction: must be in \\(0, 1\\)"),
    ("ab" * 10, {"level": "byte"}, "level"),
])
def test_errors(tmp_path, content, params, match):
    path = write(tmp_path, content)
    with pytest.raises(ConfigError, match=match):
        DATASETS.build("text", {"path": path, **params}, "train", 0)


def test_missing_file_and_path():
    with pytest.raises(ConfigError, match="set data.params.path=FILE"):
        DATASETS.build("text", {}, "train", 0)
    with pytest.raises(ConfigError, match="does not exist"):
        DATASETS.build("text", {"path": "/nonexistent/file.txt"}, "train", 0)
    with pytest.raises(ConfigError, match="length: at least 2"):
        DATASETS.build("text", {"path": "x", "length": 1}, "train", 0)
