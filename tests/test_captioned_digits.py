import numpy as np
import pytest
import torch

from course_lib import data


@pytest.fixture(scope="module")
def test_split():
    return data.captioned_digits("test")


def test_shapes_range_and_attributes(test_split):
    images, captions, attributes = test_split
    assert images.shape == (1000, 3, 32, 32) and images.min() == -1 and images.max() <= 1
    assert len(captions) == 1000
    assert np.bincount(attributes["digit"]).tolist() == [100] * 10  # the same 1,000 digits
    for name, names in [("color", data.COLOR_NAMES), ("layout", data.LAYOUTS)]:
        assert attributes[name].dtype.kind == "i" and set(attributes[name]) == set(
            range(len(names))
        )


def test_deterministic(test_split):
    images, captions, attributes = data.captioned_digits("test")
    assert torch.equal(images, test_split[0]) and captions == test_split[1]
    colors, layouts = data._draw_attributes(attributes["digit"], "test", seed=5)
    assert (colors != attributes["color"]).any()  # another seed draws other colors and layouts


def test_captions_read_their_attributes():
    assert data.caption(3, 2, 0) == "a large blue three"
    assert data.caption(7, 0, 1) == "a small red seven in the top left"
    captions, attributes = data.all_captions()
    assert len(set(captions)) == 300 and captions[0] == "a large red zero"


def test_images_match_captions(test_split):
    images, captions, attributes = test_split
    for i in range(0, 1000, 7):
        image, color, layout = images[i], attributes["color"][i], attributes["layout"][i]
        assert data.COLOR_NAMES[color] in captions[i] and data.LAYOUTS[layout] in captions[i]
        rgb = np.array(data.COLORS[data.COLOR_NAMES[color]])
        lit = (image > -1).any(dim=0)  # stroke pixels
        for channel in range(3):  # a channel is lit exactly where the color has it
            assert (image[channel][lit] > -1).any().item() == bool(rgb[channel])
        rows, cols = np.nonzero(lit.numpy())
        name = data.LAYOUTS[layout]
        if name == "large":
            assert rows.min() >= 2 and rows.max() < 30 and cols.min() >= 2 and cols.max() < 30
            assert rows.max() - rows.min() > 14  # big: taller than a whole quadrant
        else:
            top = 0 if name.startswith("top") else 16
            left = 0 if name.endswith("left") else 16
            assert top <= rows.min() and rows.max() < top + 16
            assert left <= cols.min() and cols.max() < left + 16


def test_held_out_pairs_absent_from_train_present_in_test(test_split):
    _, _, train = data.captioned_digits("train")
    _, _, test = test_split
    for digit, name in data.HELD_OUT_PAIRS:
        color = data.COLOR_NAMES.index(name)
        assert not ((train["digit"] == digit) & (train["color"] == color)).any()
        assert ((test["digit"] == digit) & (test["color"] == color)).sum() > 5
    pairs = set(zip(train["digit"].tolist(), train["color"].tolist(), strict=True))
    assert len(pairs) == 60 - len(data.HELD_OUT_PAIRS)


def test_bad_split():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.captioned_digits("val")


def test_random_attributes_never_draw_a_held_out_pair_and_cover_the_rest():
    digits = np.repeat(np.arange(10), 600)  # 6,000 digits, 600 of each
    generator = torch.Generator().manual_seed(3)
    colors, layouts = data.random_attributes(digits, generator)
    pairs = set(zip(digits.tolist(), colors.tolist(), strict=True))
    held = {(d, data.COLOR_NAMES.index(c)) for d, c in data.HELD_OUT_PAIRS}
    assert not pairs & held and len(pairs) == 60 - len(held)
    assert set(layouts.tolist()) == set(range(len(data.LAYOUTS)))
    sevens = np.bincount(colors[digits == 7], minlength=6)  # yellow (3) is held out for 7
    assert sevens[3] == 0 and sevens.min(initial=600, where=sevens > 0) > 80  # ~120 each
    again = data.random_attributes(digits, torch.Generator().manual_seed(3))
    assert all(np.array_equal(a, b) for a, b in zip(again, (colors, layouts), strict=True))


def test_digit_strokes_render_to_the_captioned_digits(test_split):
    images, _, attributes = test_split
    strokes, digits = data.digit_strokes("test")
    assert strokes.shape == (1000, 1, 28, 28) and 0 <= strokes.min() and strokes.max() <= 1
    assert np.array_equal(digits, attributes["digit"])
    drawn = data.render_digits(strokes, attributes["color"], attributes["layout"])
    assert torch.equal(drawn, images)
