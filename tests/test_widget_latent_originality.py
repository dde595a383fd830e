"""LatentExplorer's "originality" view: each sample beside its nearest training images."""

import numpy as np
import pytest
import tiny
import torch

from course_lib import provenance
from widgets import LatentExplorer, frames
from widgets.latent_explorer import originality_pixels

SCALE = 2


@pytest.fixture(scope="module")
def pipe():
    return tiny.text_to_image()


def explorer_with(pipe, training_images, **options):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    index = provenance.TrainingIndex(training_images, space="pixel")
    return LatentExplorer(
        pipe,
        images,
        ["a large red seven", "a small blue two in the top left"],
        images_per_prompt=2,
        steps=3,
        scale=SCALE,
        training={"pixel": index},
        **options,
    )


def test_originality_view_shows_each_sample_beside_its_nearest_training_images(pipe):
    g = torch.Generator().manual_seed(1)
    training = torch.rand(6, 3, 32, 32, generator=g) * 2 - 1
    explorer = explorer_with(pipe, training)
    before = explorer.frame.value
    explorer.controls["view"].value = "originality"
    assert explorer.frame.value != before and explorer.frame.format == "png"
    key = explorer.generation_key()
    samples = frames.to_model_space(explorer.generation(key)[0].images)
    found = explorer.training["pixel"].nearest(samples, k=3)
    expected = originality_pixels(samples, found, training, SCALE, explorer.labels)
    assert np.array_equal(frames.decode(explorer.frame.value), expected)
    assert "typically" in explorer.status.value and "<pre" not in explorer.status.value
    assert explorer.controls["space"].layout.display is None  # shown in this view only
    explorer.controls["view"].value = "latents"
    assert explorer.controls["space"].layout.display == "none"


def test_a_sample_that_is_in_the_training_set_is_found_at_distance_zero(pipe):
    g = torch.Generator().manual_seed(1)
    first = explorer_with(pipe, torch.rand(4, 3, 32, 32, generator=g) * 2 - 1)
    samples = frames.to_model_space(first.generation()[0].images)  # (2, 3, 32, 32)
    training = torch.cat([torch.rand(4, 3, 32, 32, generator=g) * 2 - 1, samples[:1]])
    explorer = explorer_with(pipe, training, view="originality")
    found = explorer.nearest(explorer.generation_key(), "pixel")
    assert found.indices[0, 0] == 4 and found.distances[0, 0] < 1e-5
    assert "0.00" in explorer.status.value
