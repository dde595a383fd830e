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
