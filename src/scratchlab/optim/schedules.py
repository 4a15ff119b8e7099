"""Learning-rate schedules: each `step()` sets the optimizer's `learn_rate` for the next steps."""

from __future__ import annotations

from typing import Any

from scratchlab.errors import ConfigError
from scratchlab.optim.base import Optimizer


class Schedule:
    """Sets `optimizer.learn_rate = rate(t)`, t counting calls of `step()` (t = 0 at creation)."""

    def __init__(self, optimizer: Optimizer, lr0: float) -> None:
        if lr0 < 0:
            raise ConfigError(f"lr0 must be >= 0, got lr0={lr0}")
        self.optimizer, self.lr0, self.t = optimizer, lr0, 0
        optimizer.learn_rate = self.rate(0)

    def rate(self, t: int) -> float:
        """The learning rate after t calls of `step()`."""
        raise NotImplementedError

    def step(self) -> float:
        """Advance one step (usually one epoch) and return the new learning rate."""
        self.t += 1
        self.optimizer.learn_rate = self.rate(self.t)
        return self.optimizer.learn_rate

    def state_dict(self) -> dict[str, Any]:
        """The step count (the settings come from the constructor)."""
        return {"t": self.t}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the step count and the optimizer's learning rate."""
        self.t = int(state["t"])
        self.optimizer.learn_rate = self.rate(self.t)


class ExponentialDecay(Schedule):
    """lr_t = lr0 * decay ** t (torch.optim.lr_scheduler.ExponentialLR with gamma=decay)."""

    def __init__(self, optimizer: Optimizer, lr0: float, decay: float) -> None:
        if not 0 < decay <= 1:
            raise ConfigError(f"decay must be in (0, 1], got decay={decay}")
        self.decay = decay
        super().__init__(optimizer, lr0)

    def rate(self, t: int) -> float:
        return self.lr0 * self.decay**t


class StepDecay(Schedule):
    """lr_t = lr0 * gamma ** (t // step_size) (torch.optim.lr_scheduler.StepLR)."""

    def __init__(
        self, optimizer: Optimizer, lr0: float, step_size: int, gamma: float = 0.1
    ) -> None:
        if step_size < 1 or not 0 < gamma <= 1:
            raise ConfigError(
                "StepDecay needs step_size >= 1 and gamma in (0, 1], "
                f"got step_size={step_size}, gamma={gamma}"
            )
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, lr0)

    def rate(self, t: int) -> float:
        return self.lr0 * self.gamma ** (t // self.step_size)
