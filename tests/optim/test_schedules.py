"""Learning-rate schedules against their formulas and torch.optim.lr_scheduler."""

from __future__ import annotations

import pytest
import torch

from scratchlab import optim
from scratchlab.errors import ConfigError


def optimizer():
    return optim.VanillaSGD([torch.zeros(1, requires_grad=True)], learn_rate=123.0)


def torch_rates(make_scheduler, lr0, steps):
    torch_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
    scheduler = make_scheduler(torch_opt)
    rates = [torch_opt.param_groups[0]["lr"]]
    for _ in range(steps):
        torch_opt.step()
        scheduler.step()
        rates.append(torch_opt.param_groups[0]["lr"])
    return rates


def our_rates(schedule, steps):
    return [schedule.optimizer.learn_rate] + [schedule.step() for _ in range(steps)]


def test_exponential_decay():
    schedule = optim.ExponentialDecay(optimizer(), lr0=0.1, decay=0.9)
    rates = our_rates(schedule, 12)
    assert rates == pytest.approx([0.1 * 0.9**t for t in range(13)])
    expected = torch_rates(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9), 0.1, 12)
    assert rates == pytest.approx(expected)


def test_step_decay():
    schedule = optim.StepDecay(optimizer(), lr0=0.1, step_size=3, gamma=0.5)
    rates = our_rates(schedule, 10)
    assert rates == pytest.approx([0.1 * 0.5 ** (t // 3) for t in range(11)])
    expected = torch_rates(
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 0.1, 10
    )
    assert rates == pytest.approx(expected)


@pytest.mark.parametrize(
    "make",
    [
        lambda o: optim.ExponentialDecay(o, lr0=0.1, decay=0.8),
        lambda o: optim.StepDecay(o, lr0=0.1, step_size=2, gamma=0.3),
    ],
)
def test_state_dict_resumes(make):
    schedule = make(optimizer())
    for _ in range(5):
        schedule.step()
    resumed = make(optimizer())
    resumed.load_state_dict(schedule.state_dict())
    assert resumed.optimizer.learn_rate == schedule.optimizer.learn_rate
    assert resumed.step() == schedule.step()


@pytest.mark.parametrize(
    "make",
    [
        lambda o: optim.ExponentialDecay(o, lr0=0.1, decay=0.0),
        lambda o: optim.ExponentialDecay(o, lr0=-0.1, decay=0.5),
        lambda o: optim.StepDecay(o, lr0=0.1, step_size=0, gamma=0.5),
        lambda o: optim.StepDecay(o, lr0=0.1, step_size=2, gamma=1.5),
    ],
)
def test_bad_settings(make):
    with pytest.raises(ConfigError):
        make(optimizer())
