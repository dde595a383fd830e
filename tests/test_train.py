import dataclasses
import json
import math

import pytest
import torch

from course_lib import data, diffusion, train
from course_lib.unet import UNet, UNetConfig


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


def test_fit_one_cycle_is_adamw_and_one_cycle_at_its_numbers():
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    hp = train.OneCycleTraining(steps=40, batch_size=16, lr=0.05, weight_decay=0.01)

    def loss_fn(m, batch):
        return ((m(batch[0]) - batch[1]) ** 2).mean()

    def run(by_hand: bool) -> list[float]:
        torch.manual_seed(0)
        model, generator = torch.nn.Linear(3, 1), torch.Generator().manual_seed(1)
        if not by_hand:
            result = train.fit_one_cycle(model, loss_fn, (x, y), hp, generator=generator)
            return result.losses
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.01)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=40)
        batches = data.batches(x, y, batch_size=16, generator=generator)
        result = train.fit(
            model, loss_fn, batches, optimizer=optimizer, scheduler=schedule, steps=40
        )
        return result.losses

    losses = run(by_hand=False)
    assert len(losses) == hp.steps and losses[-1] < 0.5 * losses[0]
    assert losses == run(by_hand=True)
    # zero gradients: only weight decay moves the weights, and decay_matrices_only spares the bias
    still = torch.nn.Linear(3, 1)
    weight, bias = still.weight.detach().clone(), still.bias.detach().clone()
    spare = dataclasses.replace(hp, steps=5, weight_decay=0.5, decay_matrices_only=True)
    train.fit_one_cycle(still, lambda m, batch: 0 * m(batch[0]).sum(), (x,), spare, generator=None)
    assert torch.equal(still.bias, bias) and bool((still.weight.abs() < weight.abs()).all())
    assert dataclasses.replace(hp, steps=5).steps == 5 and hp.steps == 40
    with pytest.raises(dataclasses.FrozenInstanceError):
        hp.lr = 1.0
    for bad, match in [
        (dict(batch_size=0), "batch_size must be a whole number >= 1"),
        (dict(lr=-1e-3), "lr must be a number > 0"),
        (dict(weight_decay=-0.1), "weight_decay must be a number > 0"),
    ]:
        with pytest.raises(ValueError, match=match):
            dataclasses.replace(hp, **bad)


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


# fit_denoiser: the one trainer of ddpm-, cfg- and ldm-digits, on toys of a few seconds.

TOY_UNET = UNetConfig(image_size=8, widths=(8,), attention_levels=(), groups=4, time_dim=16)


def toy_training(**changes) -> train.DenoiserTraining:
    base = dict(steps=60, batch_size=16, lr=1e-2, warmup=5, ema_decay=0.9, min_snr_gamma=None)
    return train.DenoiserTraining(**{**base, **changes})


def checkerboard(n: int) -> torch.Tensor:
    """n copies of one +-1 checkerboard (n, 1, 8, 8): the noise in x_t is then learnable."""
    board = (torch.arange(8)[:, None] + torch.arange(8)) % 2 * 2.0 - 1  # (8, 8)
    return board.expand(n, 1, 8, 8).clone()


def fit_toy(model, hp, seed: int = 0, **options):
    """fit_denoiser on 32 checkerboards with a 100-step cosine schedule, seeded, no bar."""
    generator = torch.Generator().manual_seed(seed)
    schedule = diffusion.NoiseSchedule.cosine(100)
    examples = (checkerboard(32),)
    return train.fit_denoiser(
        model, schedule, examples, hp, generator=generator, progress=False, **options
    )


def test_fit_denoiser_lowers_the_loss_on_a_toy():
    torch.manual_seed(0)
    model = UNet(TOY_UNET)
    hp = toy_training(channels_last=True)
    result, ema = fit_toy(model, hp)
    assert result.steps == hp.steps and not result.interrupted
    first, last = sum(result.losses[:10]) / 10, sum(result.losses[-10:]) / 10
    assert last < 0.5 * first  # a zero guess scores about 1; the noise is learnable here
    assert isinstance(ema.model, UNet)
    assert not torch.equal(ema.model.conv_out.weight, model.conv_out.weight)  # EMA lags
    for trained in (model, ema.model):  # channels_last was for training only
        assert all(p.is_contiguous() for p in trained.parameters())
    meta = train.denoiser_metadata(hp, result, ema.model)  # what a checkpoint records
    assert meta["training"] == dataclasses.asdict(hp) and meta["steps"] == hp.steps
    assert meta["parameters"] == sum(p.numel() for p in model.parameters())
    assert json.loads(json.dumps(meta)) == meta


def test_fit_denoiser_same_generator_same_numbers():
    def run():
        torch.manual_seed(0)
        return fit_toy(UNet(TOY_UNET), toy_training(steps=3), seed=1)[0].losses

    assert run() == run()


def test_denoiser_training_is_frozen_and_checks_its_numbers():
    hp = toy_training()
    with pytest.raises(dataclasses.FrozenInstanceError):
        hp.lr = 1.0
    assert dataclasses.replace(hp, steps=5).steps == 5 and hp.steps == 60
    for bad, match in [
        (dict(batch_size=0), "batch_size must be a whole number >= 1"),
        (dict(steps=2.5), "steps must be a whole number"),
        (dict(lr=0.0), "lr must be a number > 0"),
        (dict(ema_decay=1.0), "ema_decay must be a number between 0 and 1"),
        (dict(cond_dropout=1.5), "cond_dropout must be a number between 0 and 1"),
        (dict(min_snr_gamma=-1.0), "min_snr_gamma"),
        (dict(schedule_steps=0), "schedule_steps"),
    ]:
        with pytest.raises(ValueError, match=match):
            toy_training(**bad)
    with pytest.raises(TypeError, match="batch_size"):
        train.DenoiserTraining(steps=1, lr=1e-3, warmup=0, ema_decay=0.9, min_snr_gamma=None)


class Scaled(torch.nn.Module):
    """A U-Net behind a learnable input scale: `part` picks the U-Net, the scale must stay."""

    def __init__(self):
        super().__init__()
        self.unet = UNet(TOY_UNET)
        self.scale = torch.nn.Parameter(torch.ones(1))

    def forward(self, x, t, cond=None):
        return self.unet(x * self.scale, t, cond)


def test_fit_denoiser_with_part_trains_and_averages_only_the_part():
    torch.manual_seed(0)
    model = Scaled()
    before = model.unet.conv_out.weight.detach().clone()
    _, ema = fit_toy(model, toy_training(steps=5), part=lambda m: m.unet)
    assert model.scale.item() == 1.0  # in the graph, but not in the part: untouched
    assert not torch.equal(model.unet.conv_out.weight, before)  # the part trained
    assert isinstance(ema.model, UNet)  # the average of the part alone


def test_fit_denoiser_drops_conditions_to_the_null_one():
    seen = []

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x, t, cond):
            seen.append(cond)
            return self.w * x

    labels = torch.arange(1000) % 10
    hp = toy_training(steps=1, batch_size=1000, cond_dropout=0.25)
    examples = (torch.zeros(1000, 1, 8, 8), labels)
    g = torch.Generator().manual_seed(0)
    train.fit_denoiser(
        Spy(),
        diffusion.NoiseSchedule.cosine(100),
        examples,
        hp,
        generator=g,
        cond_null=10,
        progress=False,
    )
    (cond,) = seen
    assert abs((cond == 10).float().mean().item() - 0.25) < 0.05
    with pytest.raises(ValueError, match="cond_null="):
        train.fit_denoiser(Spy(), None, examples, hp, generator=g, progress=False)
    with pytest.raises(ValueError, match="examples has none"):
        train.fit_denoiser(Spy(), None, examples[:1], hp, generator=g, cond_null=10)
    with pytest.raises(TypeError, match=r"\(x0, cond\)"):
        train.fit_denoiser(Spy(), None, examples[0], hp, generator=g)


def test_denoiser_recipes_state_their_own_numbers_and_import_no_other_recipe():
    import importlib
    import pathlib
    import re

    from course_lib import recipes

    for name in ("ddpm-digits", "cfg-digits", "ldm-digits"):
        assert isinstance(recipes.get(name).TRAINING, train.DenoiserTraining)
    modules = {name.replace("-", "_") for name in recipes.names()}
    folder = pathlib.Path(recipes.__file__).parent
    for path in folder.glob("[!_]*.py"):
        source = path.read_text()
        dotted = set(re.findall(r"course_lib\.recipes\.(\w+)", source))
        listed = re.findall(r"from course_lib\.recipes import ([\w, ]+)", source)
        imported = dotted | {n.strip() for names in listed for n in names.split(",")}
        assert not imported & modules, f"{path.name} imports another recipe"
        importlib.import_module(f"course_lib.recipes.{path.stem}")


def test_training_step_row_times_the_run_after_a_warm_up():
    from course_lib.recipes import training_step_row

    calls = []

    def run(steps):
        calls.append(steps)
        return train.TrainResult(losses=[0.0] * steps)

    row = training_step_row("toy", run, batch_size=8, warmup=2, steps=5)
    assert calls == [2, 5] and row.unit == "ms" and row.value >= 0
    assert row.metric == "training step (batch 8)"
