import numpy as np
import pytest
import torch

from course_lib import clip, data
from widgets import SimilarityExplorer, frames
from widgets.similarity_explorer import softmax_ranking


@pytest.fixture(scope="module")
def explorer():
    torch.manual_seed(0)
    model = clip.CLIP(clip.CLIPConfig(conv_channels=(8, 8, 16), text_dim=32, embed_dim=16))
    captions = data.all_captions()[0][::5]  # 60 captions, with made-up images
    images = torch.rand(60, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return SimilarityExplorer(model.eval(), images, captions, top_k=6)


def test_new_prompt_costs_one_text_call_and_changes_the_frame(explorer):
    before = explorer.frame.value
    cached = len(explorer.caches["text"])
    explorer.controls["prompt"].value = "a small green four in the bottom left"
    assert explorer.frame.value != before and len(explorer.caches["text"]) == cached + 1
    prompt, t, i = (explorer.controls[k].value for k in ("prompt", "temperature", "image"))
    assert np.array_equal(frames.decode(explorer.frame.value), explorer.compose(prompt, t, i))


def test_temperature_and_image_change_the_frame(explorer):
    for name, value in [("temperature", 0.5), ("image", 7)]:
        before = explorer.frame.value
        explorer.controls[name].value = value
        assert explorer.frame.value != before, f"moving {name} did not change the frame"
    assert "error" not in explorer.status.value.lower()


def test_softmax_sharpens_as_temperature_drops():
    scores = torch.tensor([0.9, 0.8, 0.1, -0.3])
    _, _, hot = softmax_ranking(scores, 1.0, 2)
    _, _, cold = softmax_ranking(scores, 0.01, 2)
    assert cold[0] > hot[0] and cold[0] > 0.99
    with pytest.raises(ValueError, match="positive"):
        softmax_ranking(scores, 0.0, 2)


def test_unknown_words_are_reported_and_empty_prompt_shows_an_error(explorer):
    explorer.controls["prompt"].value = "a large purple seven"
    assert "purple" in explorer.status.value
    explorer.controls["prompt"].value = "  "
    assert "no words" in explorer.status.value
    explorer.controls["prompt"].value = "a large red seven"
    assert "no words" not in explorer.status.value


def test_static_and_bad_inputs(explorer):
    fig = explorer.static()
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="one caption per image"):
        SimilarityExplorer(explorer.model, explorer.images[:3], ["a large red one"])
    with pytest.raises(TypeError, match="CLIP"):
        SimilarityExplorer(torch.nn.Linear(2, 2), explorer.images[:1], ["x"])
