import pytest
import torch

from course_lib import provenance


def digits(n: int = 12, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g) * 2 - 1


def test_a_training_image_is_its_own_nearest_at_distance_zero():
    images = digits()
    labels = torch.arange(12) % 10
    index = provenance.TrainingIndex(images, labels=labels, space="pixel")
    found = index.nearest(images[[3, 7]], k=2)
    assert found.indices[:, 0].tolist() == [3, 7]
    assert found.distances[:, 0].abs().max() < 1e-5
    assert found.labels[:, 0].tolist() == [3, 7]
    assert (found.distances[:, 1] > 0).all()  # the next one is another image
    assert found.ratio.max() < 1e-4
    assert "nearest / typical" in str(found)


def test_pixel_distance_is_rms_per_pixel_and_baseline_is_the_median_nearest_other():
    images = torch.stack([torch.full((1, 4, 4), v) for v in (-1.0, -0.5, 0.5, 1.0)])
    index = provenance.TrainingIndex(images)
    # nearest other: 0.5, 0.5, 0.5, 0.5 (RMS of a constant shift is the shift)
    assert index.baseline == pytest.approx(0.5)
    found = index.nearest(torch.full((1, 1, 4, 4), 0.0), k=4)
    assert found.distances[0].tolist() == pytest.approx([0.5, 0.5, 1.0, 1.0])


def test_an_exact_duplicate_in_the_training_set_is_a_neighbour_at_zero():
    images = digits(5)
    with_copy = torch.cat([images, images[:1]])
    baseline = provenance.nearest_neighbour_baseline(provenance.embed(with_copy, "pixel"), "pixel")
    assert baseline[0] == 0 and baseline[-1] == 0 and (baseline[1:5] > 0).all()


def test_clip_distance_is_one_minus_cosine():
    a = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=-1)
    assert provenance.distances(a, a, "clip").tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_nearest_training_images_accepts_one_image_and_finds_it_among_the_digits():
    from course_lib import data

    train, labels = data.mnist_tensors("train")
    index = provenance.TrainingIndex(train[:300], labels=labels[:300])
    found = provenance.nearest_training_images(train[42], k=3, index=index)
    assert found.indices[0, 0] == 42 and found.distances[0, 0] < 1e-5
    assert 0.2 < found.baseline < 0.6  # digits are about 0.4 RMS from their nearest other


def test_bad_inputs_say_what_to_pass():
    index = provenance.TrainingIndex(digits(4))
    with pytest.raises(ValueError, match="k must be"):
        index.nearest(digits(1), k=5)
    with pytest.raises(ValueError, match="compare like with like"):
        index.nearest(torch.zeros(1, 3, 32, 32), k=1)
    with pytest.raises(ValueError, match="unknown space"):
        provenance.embed(digits(2), "fourier")
    with pytest.raises(ValueError, match="one each"):
        provenance.TrainingIndex(digits(4), labels=torch.zeros(3))
    with pytest.raises(ValueError, match="unknown kind"):
        provenance.training_index("faces")


@pytest.mark.parametrize("dtype, tolerance", [(torch.float16, 1e-3), (torch.uint8, 5e-3)])
def test_a_compact_index_finds_the_same_neighbours_at_nearly_the_same_distances(dtype, tolerance):
    images, queries = digits(40), digits(6, seed=1)
    full = provenance.TrainingIndex(images)
    compact = provenance.TrainingIndex(images, dtype=dtype)
    assert compact.images.dtype == dtype and compact.images.nbytes < full.images.nbytes
    a, b = full.nearest(queries, k=3), compact.nearest(queries, k=3)
    assert torch.equal(a.indices, b.indices)
    assert (a.distances - b.distances).abs().max() < tolerance
    assert abs(full.baseline - compact.baseline) < tolerance
    pixels = provenance.as_float(compact.images)  # uint8 0..255 -> [-1, 1]
    assert (pixels - images).abs().max() <= 0.5 / 127.5 + 1e-6  # half a grey level at most


def test_distances_in_chunks_equal_one_cdist():
    queries, keys = digits(700).flatten(1), digits(1100, seed=2).flatten(1)
    whole = torch.cdist(queries.double(), keys.double()) / queries.shape[1] ** 0.5
    assert torch.allclose(provenance.distances(queries, keys, "pixel").double(), whole, atol=1e-6)


def test_a_compact_index_refuses_what_it_cannot_keep():
    with pytest.raises(ValueError, match=r"in \[-1, 1\] to be kept as uint8"):
        provenance.TrainingIndex(digits(4) * 255, dtype=torch.uint8)
    with pytest.raises(ValueError, match="dtype must be one of"):
        provenance.TrainingIndex(digits(4), dtype=torch.int16)
    with pytest.raises(TypeError, match="floats in"):
        provenance.TrainingIndex(torch.zeros(4, 1, 28, 28, dtype=torch.int64))
