"""The exercise harness: one line starting Correct / Not yet / Not right, never a crash."""

import pytest
import torch

from course_lib import exercises


def square(x):
    return x**2


def test_compare_says_correct_not_yet_and_not_right_with_the_input(capsys):
    cases = [(torch.arange(3.0),), (torch.ones(2, 2),)]
    assert exercises.compare(square, square, cases, name="yours").passed

    def stub(x):
        raise NotImplementedError("write it")

    assert exercises.compare(stub, square, cases, name="yours").status == "Not yet"
    wrong = exercises.compare(lambda x: x * 2, square, cases, name="yours", labels=["a", "b"])
    assert wrong.status == "Not right" and "on a" in wrong.message and "index (0,)" not in ""
    shaped = exercises.compare(lambda x: x.flatten() ** 2, square, cases[1:], name="yours")
    assert "shape (4,), expected (2, 2)" in shaped.message
    crashed = exercises.compare(lambda x: x.foo, square, cases, name="yours")
    assert crashed.status == "Not right" and "AttributeError" in crashed.message
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "Correct",
        "Not yet",
        "Not right",
        "Not right",
        "Not right",
    ]


def test_diagnosis_names_the_slip():
    def diagnose(got, expected, case):
        return "the square is missing" if torch.allclose(got, case[0]) else None

    result = exercises.compare(
        lambda x: x, square, [(torch.arange(3.0),)], name="y", diagnose=diagnose
    )
    assert result.message.endswith("Hint: the square is missing")


def test_prediction_and_choice():
    assert exercises.prediction(None, 2.0, tolerance=0.1, explanation="").status == "Not yet"
    assert exercises.prediction(2.05, 2.0, tolerance=0.1, explanation="").passed
    assert exercises.prediction(3.0, 2.0, tolerance=0.1, explanation="").status == "Not right"
    assert exercises.prediction(110, 100, tolerance=0.2, relative=True, explanation="").passed
    assert exercises.prediction("2", 2.0, tolerance=0.1, explanation="").status == "Not right"
    assert exercises.choice(None, "a", ["a", "b"], explanation="").status == "Not yet"
    assert exercises.choice("b", "a", ["a", "b"], explanation="").status == "Not right"
    assert exercises.choice("a", "a", ["a", "b"], explanation="").passed


def test_wrong_types_are_named_by_type_and_shape_not_dumped():
    cases = [(torch.ones(17, 17),)]
    array = exercises.compare(lambda x: (x**2).numpy(), square, cases, name="y")
    assert "a numpy float32 array of shape (17, 17)" in array.message
    assert "torch.from_numpy" in array.message and "array([" not in array.message
    listed = exercises.compare(lambda x: x.tolist(), square, cases, name="y")
    assert listed.status == "Not right" and "..." in listed.message and len(listed.message) < 200
    number = exercises.compare(lambda x: x.sum() + 1, lambda x: x.sum(), cases, name="y")
    assert "yours is 290, the reference 289" in number.message and "index ()" not in number.message


def test_a_percentage_for_a_fraction_gets_a_hint():
    percent = exercises.prediction(95.9, 0.959, tolerance=0.005, explanation="", fraction=True)
    assert percent.status == "Not right" and "as a fraction, 0.959" in percent.message
    plain = exercises.prediction(95.9, 0.959, tolerance=0.005, explanation="")
    assert plain.status == "Not right" and "fraction" not in plain.message


def test_use_falls_back_to_the_reference(capsys):
    not_yet = exercises.Result("Not yet", "")
    assert not_yet.use(len, sum) is sum and "reference" in capsys.readouterr().out
    assert exercises.Result("Correct", "").use(len, sum) is len


def test_planted_bug_is_not_yet_until_fixed():
    cases = [(torch.arange(3.0),)]

    def planted(x):
        return x * 2

    assert exercises.compare(planted, square, cases, name="y", planted=planted).status == "Not yet"
    other = exercises.compare(lambda x: x + 1, square, cases, name="y", planted=planted)
    assert other.status == "Not right"
    assert exercises.compare(square, square, cases, name="y", planted=planted).passed


def test_summary_asserts_the_expected_verdicts_only_in_the_course_tests(capsys, monkeypatch):
    results = [exercises.Result("Correct", ""), exercises.Result("Not yet", "")]
    monkeypatch.setenv("COURSE_CHECK_EDITIONS", "1")  # as conftest.py sets it for make test
    exercises.summary(results)
    assert "exercise 2: Not yet" in capsys.readouterr().out
    exercises.summary(results[:1], expect="Correct")
    with pytest.raises(AssertionError, match=r"exercises \[2\] did not say 'Correct'"):
        exercises.summary(results, expect="Correct")
    monkeypatch.delenv("COURSE_CHECK_EDITIONS")  # a student who solved a few: only printed
    exercises.summary(results, expect="Not yet")
    assert "exercise 1: Correct" in capsys.readouterr().out


def test_a_prediction_not_yet_made_does_not_give_the_measurement_away():
    verdict = exercises.prediction(None, 2500.0, tolerance=0, explanation="a 50 x 50 map")
    assert verdict.status == "Not yet" and "2500" not in str(verdict)


def test_several_outputs_name_the_one_that_differs():
    def pair(x):
        return x + 1, x**2

    cases = [(torch.arange(3.0),)]
    wrong = exercises.compare(lambda x: (x + 1, x * 2), pair, cases, name="yours")
    assert wrong.status == "Not right" and "in output 2 of 2" in wrong.message
    single = exercises.compare(lambda x: x + 1, pair, cases, name="yours")
    assert "expected 2 values (a torch.float32 tensor of shape (3,)" in single.message
