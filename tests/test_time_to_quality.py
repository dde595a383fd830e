"""course_lib.time_to_quality: the clock counts training only, each mark is judged once, and
the stored curves cover every recipe at every mark."""

import time

from course_lib import time_to_quality
from course_lib.unet import UNetConfig

TINY = UNetConfig(image_size=28, widths=(8, 16), blocks_per_level=1, attention_levels=(), groups=4)


def test_judging_pauses_the_clock_and_each_mark_is_judged_once(monkeypatch):
    calls = []

    def slow_judge(model, schedule, train_features, referee):
        calls.append(time.perf_counter())
        time.sleep(0.5)  # longer than the gap between the marks
        return {"confident": 0.5, "digits": 3, "frechet": 9.0}

    monkeypatch.setattr(time_to_quality, "judged", slow_judge)
    points = time_to_quality.curve(TINY, time_to_quality.NOTEBOOK, marks=(0.2, 0.4))
    assert len(points) == len(calls) == 2
    assert points[0]["steps"] < points[1]["steps"]
    # Between the two judgings the wall clock ran through the first one's 0.5 s of judging;
    # the training clock did not (seconds are kept to 0.1).
    trained = points[1]["seconds"] - points[0]["seconds"]
    assert trained < calls[1] - calls[0] - 0.5 + 0.1
    table = time_to_quality.markdown({"threads": 1, "samples": 4, "curves": {"tiny": points}})
    assert table.count("| tiny |") == 2


def test_the_stored_curves_cover_every_recipe_at_every_mark():
    stored = time_to_quality.load()
    assert set(stored["curves"]) == set(time_to_quality.RECIPES)
    for points in stored["curves"].values():
        assert [round(p["seconds"] / 60) for p in points] == [
            m // 60 for m in time_to_quality.MARKS
        ]
        assert all(0 <= p["confident"] <= 1 and 0 <= p["digits"] <= 10 for p in points)
