"""The `Optimizer` base: parameter handling, L2 regularisation, zero_grad and state_dict."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from scratchlab.errors import CheckpointError, ConfigError

ParamsLike = Iterable[tuple[Tensor, Tensor]] | Iterable[Tensor]


def _as_pairs(params: ParamsLike) -> list[tuple[Tensor, Tensor | None]]:
    """(param, grad) pairs; grad is None for torch parameters (read from `.grad` at each step)."""
    pairs: list[tuple[Tensor, Tensor | None]] = []
    for item in params:
        if isinstance(item, Tensor):
            pairs.append((item, None))
        elif (
            isinstance(item, tuple | list)
            and len(item) == 2
            and all(isinstance(t, Tensor) for t in item)
        ):
            if item[0].shape != item[1].shape:
                raise ConfigError(
                    f"a parameter of shape {tuple(item[0].shape)} has a gradient of shape "
                    f"{tuple(item[1].shape)}; pass layer.params() pairs"
                )
            pairs.append((item[0], item[1]))
        else:
            raise ConfigError(
                "optimizer params must be (param, grad) pairs or torch parameters, "
                f"got {type(item).__name__}"
            )
    if not pairs:
        raise ConfigError("optimizer got no parameters; pass layer.params() or model.parameters()")
    return pairs


def _check_range(name: str, value: float, low: float, high: float, high_open: bool = True) -> None:
    ok = low <= value < high if high_open else low <= value <= high
    if not ok:
        bracket = ")" if high_open else "]"
        raise ConfigError(f"{name} must be in [{low}, {high}{bracket}, got {name}={value}")


class Optimizer:
    """Updates parameters in place from their gradients.

    Args:
        params: (param, grad) pairs from `layer.params()`, or torch parameters (their `.grad` is
            used; a parameter whose `.grad` is None is skipped).
        learn_rate: step size; a schedule may change the attribute between steps.
        reg: L2 regularisation strength, added to the gradient as `reg * param`.
    """

    state_names: tuple[str, ...] = ()  # per-parameter state tensors, e.g. ("velocity",)

    def __init__(self, params: ParamsLike, learn_rate: float = 1e-3, reg: float = 0.0) -> None:
        _check_range("learn_rate", learn_rate, 0.0, float("inf"))
        _check_range("reg", reg, 0.0, float("inf"))
        self.pairs = _as_pairs(params)
        self.learn_rate, self.reg = learn_rate, reg
        self.steps = 0
        self.state: dict[str, list[Tensor]] = {
            name: [torch.zeros_like(p) for p, _ in self.pairs] for name in self.state_names
        }

    @torch.no_grad()
    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        self.steps += 1
        for i, (param, grad) in enumerate(self.pairs):
            grad = param.grad if grad is None else grad
            if grad is None:
                continue
            if self.reg:
                grad = grad + self.reg * param
            self.update(i, param, grad)

    def update(self, i: int, param: Tensor, grad: Tensor) -> None:
        """Update parameter number `i` in place given its (regularised) gradient."""
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Set the gradient of every parameter to zero, in place (as the course specifies).

        A torch parameter whose `.grad` is None (no backward yet, or frozen) keeps None.
        """
        for param, grad in self.pairs:
            grad = param.grad if grad is None else grad
            if grad is None:
                continue
            if grad.grad_fn is not None:
                grad.detach_()
            grad.zero_()

    def hyperparams(self) -> dict[str, Any]:
        """The settings saved with the state (besides learn_rate and reg)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Settings, step count and per-parameter state (tensor copies, fit for `torch.save`)."""
        return {
            "learn_rate": self.learn_rate,
            "reg": self.reg,
            "steps": self.steps,
            **self.hyperparams(),
            "state": {name: [t.clone() for t in tensors] for name, tensors in self.state.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned, so that training continues exactly."""
        saved = state.get("state", {})
        shapes = {name: [tuple(t.shape) for t in tensors] for name, tensors in self.state.items()}
        if {name: [tuple(t.shape) for t in tensors] for name, tensors in saved.items()} != shapes:
            raise CheckpointError(
                f"optimizer state does not match this {type(self).__name__} over {len(self.pairs)} "
                "parameters; load a state saved from the same optimizer and model"
            )
        for name, tensors in self.state.items():
            for target, value in zip(tensors, saved[name], strict=True):
                target.copy_(value)
        for key in ["learn_rate", "reg", "steps"]:
            setattr(self, key, state[key])
        for key, value in self.hyperparams().items():  # a setting added later keeps its default
            setattr(self, key, state.get(key, value))

    def __repr__(self) -> str:
        settings = {"learn_rate": self.learn_rate, "reg": self.reg, **self.hyperparams()}
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in settings.items())})"
