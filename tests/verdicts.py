"""Shared by the exercise-check tests: the three verdicts every implement check must give."""


def stub(*args):
    """An unfinished exercise, as the student edition hands it out."""
    raise NotImplementedError("write it")


def assert_verdicts(check, right, wrong, hint: str, *args) -> None:
    """check(right) says Correct, check(stub) Not yet, check(wrong) Not right naming `hint`;
    args: whatever else the check takes (a model, images)."""
    assert check(right, *args).status == "Correct"
    assert check(stub, *args).status == "Not yet"
    result = check(wrong, *args)
    assert result.status == "Not right", result
    assert hint in result.message, result.message
