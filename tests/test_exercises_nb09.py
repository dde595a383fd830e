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


def buggy_short(velocity, x, steps):  # the notebook's bug: one time too few on the grid
    times = torch.linspace(1, 0, steps)
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        x = x + (t_next - t) * velocity(x, t)
    return x


def buggy_backwards(velocity, x, steps):
    times = torch.linspace(0, 1, steps + 1)
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        x = x + (t_next - t) * velocity(x, t)
    return x


def test_euler_sample(capsys):
    assert nb09.check_euler_sample(nb09.reference_euler_sample).passed
    assert nb09.check_euler_sample(stub).status == "Not yet"
    short = nb09.check_euler_sample(buggy_short)
    assert short.status == "Not right" and "one step too few" in short.message
    assert nb09.check_euler_sample(buggy_backwards).status == "Not right"
    assert first_word(capsys) == ["Correct", "Not yet", "Not right", "Not right"]
