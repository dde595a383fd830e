import numpy as np
import pytest
import torch

from course_lib import clip, data, zero_shot


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return clip.CLIP(clip.CLIPConfig(conv_channels=(8, 8, 16), text_dim=32, embed_dim=16)).eval()


def test_zero_shot_prompts_and_recall():
    sizes = {a: [len(p) for p in zero_shot.ensemble_prompts(a)] for a in zero_shot.ATTRIBUTES}
    assert sizes == {"digit": [30] * 10, "color": [50] * 6, "layout": [60] * 5}
    with pytest.raises(ValueError, match="attribute"):
        zero_shot.ensemble_prompts("size")
    similarity = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.3, 0.1]])
    relevant = torch.tensor([[False, False, True], [False, False, True]])
    assert zero_shot.recall_at_k(similarity, relevant, 1) == 0.0
    assert zero_shot.recall_at_k(similarity, relevant, 2) == 0.5
    assert zero_shot.recall_at_k(similarity, relevant, 3) == 1.0


def test_caption_index_matches_all_captions():
    captions, attributes = data.all_captions()
    assert (zero_shot.caption_index(attributes) == np.arange(300)).all()


def test_zero_shot_predict_and_evaluate_run(model):
    images = torch.rand(50, 3, 32, 32) * 2 - 1
    _, attributes = data.all_captions()
    predicted = zero_shot.zero_shot_predict(model, images[:20], "color")
    assert predicted.shape == (20,) and predicted.max() < 6
    metrics = zero_shot.evaluate(model, images, {k: v[::6] for k, v in attributes.items()})
    assert set(metrics) >= {"zero_shot_digit", "exact_caption", "text_to_image_recall@5"}
    assert all(0 <= v <= 1 for v in metrics.values())
