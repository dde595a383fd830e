import pytest
import torch

from course_lib import memorisation


def test_duplicated_set_holds_exactly_copies_of_each_chosen_image():
    images = torch.arange(10.0).view(10, 1, 1, 1)
    chosen = torch.tensor([2, 7])
    out = memorisation.duplicated_set(images, chosen, copies=200)
    assert len(out) == 10 + 2 * 199
    counts = torch.bincount(out.flatten().long(), minlength=10)
    assert counts[2] == 200 and counts[7] == 200
    assert counts[[0, 1, 3, 4, 5, 6, 8, 9]].tolist() == [1] * 8
    assert torch.equal(memorisation.duplicated_set(images, chosen, 1), images)
    with pytest.raises(ValueError, match="copies"):
        memorisation.duplicated_set(images, chosen, 0)


def test_choose_duplicated_picks_digits_of_different_classes():
    labels = torch.arange(100) % 10
    chosen = memorisation.choose_duplicated(labels, 4, seed=0)
    assert len(set(labels[chosen].tolist())) == 4
    assert torch.equal(chosen, memorisation.choose_duplicated(labels, 4, seed=0))
    with pytest.raises(ValueError, match="between 1 and 10"):
        memorisation.choose_duplicated(labels, 11)


def test_count_copies_on_a_hand_made_case():
    distances = torch.tensor([0.05, 0.1, 0.3, 0.05, 0.5, 0.15])
    nearest = torch.tensor([7, 2, 7, 9, 7, 7])
    counts = memorisation.count_copies(distances, nearest, torch.tensor([7, 2]), threshold=0.2)
    # under 0.2: samples 0 (7), 1 (2), 3 (9), 5 (7); of the duplicated 7 and 2: 0, 1, 5
    assert counts == {"copies": 4, "copies_of_duplicated": 3, "per_duplicated": [2, 1]}


def test_base_digits_keeps_per_class_digits_of_each_class():
    images, labels = memorisation.base_digits(3)
    assert images.shape == (30, 1, 28, 28) and torch.bincount(labels).tolist() == [3] * 10


def test_a_tiny_run_fills_the_table_and_it_round_trips_through_the_manifest(tmp_path):
    setup = memorisation.Setup(
        base_per_class=2, duplicated=2, copies=3, sampling_steps=2, start_from=None
    )
    table = memorisation.run(
        memorisation.with_budget(setup, steps=2, samples=4, batch_size=8), progress=False
    )
    assert set(table["runs"]) == {"de-duplicated", "duplicated"}
    assert table["runs"]["duplicated"]["training_images"] == 20 + 2 * 2
    assert table["threshold"] == pytest.approx(0.5 * table["baseline"], abs=1e-3)
    (tmp_path / "manifest.json").write_text('{"ddpm-digits": {"files": {}}}')
    memorisation.store(table, tmp_path)
    assert memorisation.load(tmp_path) == table
    assert "near-copies / 1,000" in memorisation.markdown(table)
    (tmp_path / memorisation.TABLE).write_text("{}")
    with pytest.raises(ValueError, match="differs from the sha256"):
        memorisation.load(tmp_path)
