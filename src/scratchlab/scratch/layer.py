"""The `Layer` base class (explicit forward and backward, no autograd) and `Sequential`."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

from scratchlab.errors import CheckpointError, ScratchlabError


@functools.cache
def _keywords(forward: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword names `forward` takes; None when it takes any (`**kw`)."""
    params = inspect.signature(forward).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params if p.kind is not p.VAR_POSITIONAL)


class Layer:
    """A layer with an explicit forward pass and a hand-written backward pass (a VJP).

    `layer(x)` runs `forward`, which keeps what `backward` needs; keyword arguments that `forward`
    does not take are ignored, so `layer(x, y=None)` works on every layer (the course's
    `Layer.forward(*args, **kw)`). `backward(dout)` returns the gradient with respect to the input
    and adds the parameter gradients into the tensors that `params()` returns (they accumulate,
    like torch, until `zero_grad()`).
    """

    def __init__(self) -> None:
        self.training = True
        self.grads: dict[str, Tensor] = {}
        self._buffer_names: list[str] = []
        self._cache: dict[str, Any] = {}

    # --- to implement in subclasses -------------------------------------------------------------
    def forward(self, x: Tensor, **kw: Any) -> Tensor:
        """Compute the output and keep what `backward` needs."""
        raise NotImplementedError

    def backward(self, dout: Tensor) -> Tensor:
        """Return dL/dx given dL/dout, adding dL/dparam into the parameter gradients."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        """The arguments shown in `repr` (empty for none)."""
        return ""

    def children(self) -> list[tuple[str, Layer]]:
        """Named sub-layers (empty for a leaf layer)."""
        return []

    # --- shared machinery -----------------------------------------------------------------------
    def __call__(self, *args: Any, **kw: Any) -> Tensor:
        names = _keywords(type(self).forward)
        if names is not None:
            kw = {k: v for k, v in kw.items() if k in names}
        return self.forward(*args, **kw)

    def add_param(self, name: str, value: Tensor) -> None:
        """Register a parameter (an attribute) and its zero gradient."""
        setattr(self, name, value)
        self.grads[name] = torch.zeros_like(value)

    def add_buffer(self, name: str, value: Tensor) -> None:
        """Register a tensor that is state but not a parameter (e.g. running statistics)."""
        setattr(self, name, value)
        self._buffer_names.append(name)

    def saved(self, *names: str) -> Any:
        """What `forward` kept for `backward`; raises if `forward` has not run."""
        missing = [n for n in names if n not in self._cache]
        if missing:
            raise ScratchlabError(f"{self!r}: backward called before forward; call the layer first")
        values = tuple(self._cache[n] for n in names)
        return values[0] if len(values) == 1 else values

    def params(self) -> list[tuple[Tensor, Tensor]]:
        """(parameter, gradient) pairs of this layer and its sub-layers, in a fixed order."""
        own = [(getattr(self, name), grad) for name, grad in self.grads.items()]
        return own + [pair for _, child in self.children() for pair in child.params()]

    def zero_grad(self) -> None:
        """Set every parameter gradient to zero (in place)."""
        for _, grad in self.params():
            grad.zero_()

    def train(self, mode: bool = True) -> Layer:
        """Set training mode (affects Dropout and BatchNorm); returns self."""
        self.training = mode
        for _, child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Layer:
        """Set evaluation mode; returns self."""
        return self.train(False)

    def to(
        self, dtype: torch.dtype | None = None, device: torch.device | str | None = None
    ) -> Layer:
        """Convert parameters, gradients and buffers (the tensors are replaced); returns self.

        Build optimizers after calling `to`: they hold the tensors that were replaced.
        """
        for name in [*self.grads, *self._buffer_names]:
            setattr(self, name, getattr(self, name).to(dtype=dtype, device=device))
        self.grads = {n: g.to(dtype=dtype, device=device) for n, g in self.grads.items()}
        self._cache = {}
        for _, child in self.children():
            child.to(dtype=dtype, device=device)
        return self

    def _named_state(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        for name in [*self.grads, *self._buffer_names]:
            yield prefix + name, getattr(self, name)
        for child_name, child in self.children():
            yield from child._named_state(f"{prefix}{child_name}.")

    def state_dict(self) -> dict[str, Tensor]:
        """Copies of the parameters and buffers, keyed by dotted names (e.g. `sequence.0.w`)."""
        return {name: value.detach().clone() for name, value in self._named_state()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Copy values into the parameters and buffers in place (optimizers stay attached)."""
        own = dict(self._named_state())
        if set(own) != set(state):
            raise CheckpointError(
                f"state of {type(self).__name__} does not match: missing "
                f"{sorted(set(own) - set(state))}, unexpected {sorted(set(state) - set(own))}; "
                "load a state saved from the same architecture"
            )
        for name, target in own.items():
            if tuple(state[name].shape) != tuple(target.shape):
                raise CheckpointError(
                    f"{name} has shape {tuple(state[name].shape)} in the state but "
                    f"{tuple(target.shape)} in the layer; load a state from the same architecture"
                )
            target.copy_(state[name])

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = {}  # forward results may hold autograd history; never copy them
        return state

    def __repr__(self) -> str:
        extra = self.extra_repr()
        return f"{type(self).__name__}({extra})" if extra else type(self).__name__


class Loss(Layer):
    """A layer whose forward takes (scores, targets) and returns a scalar."""

    def forward(self, x: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        """Return the scalar loss of inputs `x` against targets `y`."""
        raise NotImplementedError

    def backward(self, dout: Tensor | float = 1.0) -> Tensor:
        """Return dL/dx; `dout` is the gradient of the final objective w.r.t. the loss."""
        raise NotImplementedError


class Sequential(Layer):
    """Layers applied in order; `seq(x, y=labels)` passes `y` to the last layer (a loss)."""

    def __init__(self, *layers: Layer) -> None:
        super().__init__()
        self.layers = list(layers)

    def children(self) -> list[tuple[str, Layer]]:
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def forward(self, x: Tensor, **kw: Any) -> Tensor:
        """Run every layer; keyword arguments (such as `y=`) go to the last one."""
        for layer in self.layers[:-1]:
            x = layer(x)
        return self.layers[-1](x, **kw) if self.layers else x

    def backward(self, dout: Tensor | float = 1.0) -> Tensor:
        """Backward through the layers in reverse; the default `dout=1.0` suits a final loss."""
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout  # type: ignore[return-value]

    def __getitem__(self, index: int | slice) -> Layer:
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __repr__(self) -> str:
        lines = [f"  ({i}): {layer!r}".replace("\n", "\n  ") for i, layer in enumerate(self.layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)" if lines else "Sequential()"
