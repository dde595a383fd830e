import pytest
import torch

from course_lib import data, tokenizer


@pytest.fixture(scope="module")
def tok():
    return tokenizer.Tokenizer(tokenizer.digit_caption_vocab(), context_length=12)


def test_tokenizer_round_trips_and_reports_unknown_words(tok):
    captions, _ = data.all_captions()
    ids = tok.encode(captions)
    assert ids.shape == (300, 12) and ids.dtype == torch.long
    assert tok.decode(ids) == captions
    assert (ids == tok.end_id).sum(dim=1).tolist() == [1] * 300
    with pytest.warns(tokenizer.UnknownWordWarning, match="purple"):
        ids = tok.encode(["a large purple seven"])
    assert tok.decode(ids) == ["a large <unk> seven"]  # kept, visible, not dropped
    assert tok.unknown_words("A Purple SEVEN!") == ["purple"]
    with pytest.raises(ValueError, match="purple"):
        tok.encode(["a purple seven"], unknown="raise")
    with pytest.raises(ValueError, match="no words"):
        tok.encode(["   "])
    with pytest.raises(ValueError, match="at most"):
        tok.encode([" ".join(["seven"] * 20)])
    with pytest.raises(ValueError, match="non-empty"):
        tok.encode([])
    with pytest.raises(ValueError, match="starts with"):
        tokenizer.Tokenizer(("a", "b"), context_length=4)


def test_vocab_is_built_from_captions():
    vocab = tokenizer.build_vocab(["A small red seven.", "a large blue one"])
    assert vocab == tokenizer.SPECIAL_TOKENS + (
        "a",
        "blue",
        "large",
        "one",
        "red",
        "seven",
        "small",
    )
    full = tokenizer.digit_caption_vocab()  # what the 300 captions use
    assert len(full) == 3 + 2 + 10 + 6 + 2 + 1 + 4  # specials, a/in, digits, colors, sizes...
