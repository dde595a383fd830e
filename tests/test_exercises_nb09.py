"""Each notebook 09 check: the reference is Correct, a stub Not yet, plausible slips Not right."""

import torch

from course_lib import flow
from course_lib.exercises import nb09


def stub(*args):
    raise NotImplementedError


def first_word(capsys) -> list[str]:
    return [line.split(":")[0] for line in capsys.readouterr().out.strip().splitlines()]


def test_velocity_target(capsys):
    assert nb09.check_velocity_target(flow.velocity_target).passed
    assert nb09.check_velocity_target(stub).status == "Not yet"
    flipped = nb09.check_velocity_target(lambda x0, noise: x0 - noise)
    assert flipped.status == "Not right" and "sign" in flipped.message
    only_noise = nb09.check_velocity_target(lambda x0, noise: noise)
    assert only_noise.status == "Not right" and "subtract x_0" in only_noise.message
    assert first_word(capsys) == ["Correct", "Not yet", "Not right", "Not right"]


def test_euler_step(capsys):
    assert nb09.check_euler_step(flow.euler_step).passed
    assert nb09.check_euler_step(stub).status == "Not yet"
    backwards = nb09.check_euler_step(lambda x, v, t, tn: x + (t - tn) * v)
    assert backwards.status == "Not right" and "wrong way" in backwards.message
    one_time = nb09.check_euler_step(lambda x, v, t, tn: x - t * v)
    assert one_time.status == "Not right" and "time difference" in one_time.message
    assert first_word(capsys) == ["Correct", "Not yet", "Not right", "Not right"]


def test_steps_needed(capsys):
    needed, errors = nb09.toy_steps_needed()
    assert nb09.check_steps_needed(needed).passed
    assert nb09.check_steps_needed(None).status == "Not yet"
    assert nb09.check_steps_needed(1).status == "Not right"
    assert nb09.check_steps_needed(50).status == "Not right" or needed == 50
    assert nb09.check_steps_needed(3).status == "Not right"  # not an option
    assert errors["flow"][0] > errors["flow"][-1]
    assert first_word(capsys)[:3] == ["Correct", "Not yet", "Not right"]


def buggy_backwards(velocity, x, steps):
    times = torch.linspace(0, 1, steps + 1)
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        x = x + (t_next - t) * velocity(x, t)
    return x


def buggy_too_many(velocity, x, steps):  # the planted bug "fixed" twice over
    times = torch.linspace(1, 0, steps + 2)
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        x = x + (t_next - t) * velocity(x, t)
    return x


def buggy_velocity_at_end(velocity, x, steps):
    times = torch.linspace(1, 0, steps + 1)
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        x = x + (t_next - t) * velocity(x, t_next)
    return x


def test_euler_sample(capsys):
    assert nb09.check_euler_sample(nb09.reference_euler_sample).passed
    assert nb09.check_euler_sample(stub).status == "Not yet"
    planted = nb09.check_euler_sample(nb09.planted_euler_sample)  # handed out unchanged
    assert planted.status == "Not yet" and "planted bug" in planted.message
    backwards = nb09.check_euler_sample(buggy_backwards)
    assert backwards.status == "Not right" and "from 1 (noise)" in backwards.message
    too_many = nb09.check_euler_sample(buggy_too_many)
    assert too_many.status == "Not right" and "one step too many" in too_many.message
    at_end = nb09.check_euler_sample(buggy_velocity_at_end)
    assert at_end.status == "Not right" and "where the step starts" in at_end.message
    assert first_word(capsys) == ["Correct", "Not yet", "Not yet"] + ["Not right"] * 3


def test_planted_euler_sample_is_the_notebooks_stub():
    """The student edition hands out `torch.linspace(1, 0, steps)`: the check's planted loop."""
    import nbformat

    from tools import student

    nb = nbformat.read(student.ROOT / "notebooks" / "09_dit_flow.ipynb", as_version=4)
    cell = next(c.source for c in nb.cells if "def my_euler_sample" in c.source)
    scope = {"torch": torch}
    exec(cell.split("loop_result")[0], scope)
    x = torch.randn(5, 1, generator=torch.Generator().manual_seed(0))
    handed_out = scope["my_euler_sample"](nb09._gaussian_velocity, x, 6)
    assert torch.equal(handed_out, nb09.planted_euler_sample(nb09._gaussian_velocity, x, 6))
