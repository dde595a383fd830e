import math

import pytest
import torch

from course_lib import train


def test_fit_lowers_the_loss_and_keeps_history():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    target = torch.tensor([[1.0], [-2.0], [0.5]])
    x = torch.randn(64, 3)
    y = x @ target

    def loss_fn(m, batch):
        return ((m(batch[0]) - batch[1]) ** 2).mean()

    batches = iter(lambda: (x, y), None)
    result = train.fit(
        model,
        loss_fn,
        batches,
        optimizer=torch.optim.SGD(model.parameters(), 0.1),
        steps=200,
        progress=False,
    )
    assert result.steps == 200 and not result.interrupted
    assert result.losses[-1] < 1e-3 < result.losses[0]
    assert len(result.smoothed(10)) == 200


def test_ema_is_the_closed_form_average():
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = train.EMA(model, decay=0.9)
    with torch.no_grad():
        model.weight.fill_(1.0)
    for _ in range(3):
        ema.update(model)
    # shadow = 1 - 0.9^3 after three updates towards 1 from 0
    assert torch.allclose(ema.model.weight, torch.tensor([[1 - 0.9**3]]))


def test_ctrl_c_keeps_the_model_and_history():
    model = torch.nn.Linear(1, 1)
    calls = {"n": 0}

    def loss_fn(m, batch):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return m(batch).pow(2).mean()

    result = train.fit(
        model,
        loss_fn,
        iter(lambda: torch.ones(2, 1), None),
        optimizer=torch.optim.SGD(model.parameters(), 0.1),
        steps=10,
        progress=False,
    )
    assert result.interrupted and result.steps == 3


def test_budget_is_required():
    import pytest

    with pytest.raises(ValueError, match="budget"):
        train.fit(torch.nn.Linear(1, 1), None, iter([]), optimizer=None)


def test_warmup_cosine_rises_linearly_then_falls_to_the_floor():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = train.warmup_cosine(optimizer, steps=110, warmup=10, floor=0.1)
    rates = []
    for _ in range(110):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[:10] == pytest.approx([(i + 1) / 10 for i in range(10)])
    assert rates[10] == pytest.approx(1.0)
    midway = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5))  # half-way down the cosine
    assert rates[60] == pytest.approx(midway)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)  # after the last step


def test_fit_with_ema_trains_and_averages_only_the_part():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 1))
    frozen = [p.detach().clone() for p in model[1].parameters()]
    x, y = torch.randn(64, 3), torch.randn(64, 1)
    result, ema = train.fit_with_ema(
        model,
        lambda m, batch: ((m(batch[0]) - batch[1]) ** 2).mean(),
        iter(lambda: (x, y), None),
        steps=20,
        lr=1e-2,
        ema_decay=0.5,
        part=lambda m: m[0],
        warmup=1,
        progress=False,
    )
    assert result.steps == 20
    assert all(torch.equal(a, b) for a, b in zip(frozen, model[1].parameters(), strict=True))
    assert isinstance(ema.model, torch.nn.Linear)  # the average of the part alone
    assert not torch.equal(ema.model.weight, model[0].weight)  # lags behind ...
    assert torch.allclose(ema.model.weight, model[0].weight, atol=0.05)  # ... but follows
