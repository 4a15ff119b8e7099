"""Gradient checks of a layer's hand-written backward: against autograd and finite differences,
and its speed against autograd."""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor

from scratchlab.scratch.layer import Layer


def _forward(layer: Layer, x: Tensor, y: Tensor | None) -> Tensor:
    return layer(x) if y is None else layer(x, y=y)


def _random_like(out: Tensor, seed: int) -> Tensor:
    """A standard normal tensor shaped like `out`, drawn from its own generator."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(out.shape, generator=generator, dtype=out.dtype).to(out.device)


def _rng_devices(x: Tensor) -> list[int]:
    return [x.device.index or 0] if x.is_cuda else []


def _seed(seed: int, x: Tensor) -> None:
    """Seed torch's global RNG (CUDA too only where `x` lives there: seeding it is slow)."""
    if x.is_cuda:
        torch.manual_seed(seed)
    else:
        torch.random.default_generator.manual_seed(seed)


def compare_to_autograd(
    layer: Layer, x: Tensor, y: Tensor | None = None, seed: int = 42
) -> list[float]:
    """Norms of (backward - autograd) for the input gradient, then for each parameter.

    Zeroes the layer's gradients, runs forward on `x` with the input and parameters requiring
    grad, draws a random output gradient, takes reference gradients with `torch.autograd` on that
    graph, then re-seeds torch, runs forward again and the layer's own `backward`. The global RNG
    is restored afterwards. `y` is passed to the forward of a loss.
    """
    layer.zero_grad()
    params = [param for param, _ in layer.params()]
    flags = [param.requires_grad for param in params]
    with torch.random.fork_rng(devices=_rng_devices(x)):
        _seed(seed, x)
        x_ref = x.detach().clone().requires_grad_(True)
        try:
            for param in params:
                param.requires_grad_(True)
            out = _forward(layer, x_ref, y)
            dout = _random_like(out, seed)
            refs = torch.autograd.grad(out, [x_ref, *params], dout, allow_unused=True)
        finally:
            for param, flag in zip(params, flags, strict=True):
                param.requires_grad_(flag)
        _seed(seed, x)
        with torch.no_grad():
            _forward(layer, x.detach(), y)
            dx = layer.backward(dout)
    ours = [dx, *(grad for _, grad in layer.params())]
    return [
        float(torch.linalg.vector_norm(mine - (ref if ref is not None else torch.zeros_like(mine))))
        for mine, ref in zip(ours, refs, strict=True)
    ]


compare_layer_to_torch = compare_to_autograd  # the course's name (hw2.grad_compare)


def relative_error(a: float, b: float, tiny: float = 1e-8) -> float:
    """|a - b| / max(|a| + |b|, tiny): relative, yet finite where both are (near) zero."""
    return abs(a - b) / max(abs(a) + abs(b), tiny)


# A rounding-noise-sized difference reads as 1e-6 relative error at most (see below).
_NOISE_FLOOR = 1e6


def _central_difference(
    output: Callable[[], Tensor], flat: Tensor, i: int, dout: Tensor, eps: float
) -> tuple[float, float]:
    """d sum(output * dout) / d flat[i], and the float64 rounding noise of that estimate."""
    old = float(flat[i])
    flat[i] = old + eps
    plus = output().clone()  # the output may be a view of the perturbed tensor
    flat[i] = old - eps
    minus = output().clone()
    flat[i] = old
    numeric = float(((plus - minus) * dout).sum()) / (2 * eps)
    # Rounding noise of each output: eps_float64 * max(|out|, 1), as a small output may still
    # be computed from O(1) intermediates (e.g. a loss near 0 from log(1 + tiny)).
    terms = plus.abs().clamp(min=1) * dout.abs()
    scale = max(float(terms[plus != minus].sum()), float(terms.max()))
    return numeric, torch.finfo(torch.float64).eps * scale / eps


def finite_difference_check(
    layer: Layer,
    x: Tensor,
    y: Tensor | None = None,
    eps: float = 1e-6,
    *,
    samples: int = 40,
    seed: int = 0,
) -> float:
    """Max relative error between the layer's backward and central differences, in float64.

    Works on a deep copy of the layer (the caller's layer is untouched) and checks the input and
    every parameter, at most `samples` random coordinates of each. The objective is
    sum(out * dout) for a fixed random `dout`, differenced output by output (so outputs that a
    coordinate does not move cancel exactly); stochastic layers see the same seed on every pass.
    The error is `relative_error(backward, numeric, tiny)` where `tiny` is 1e6 times the rounding
    noise of the numeric estimate, eps_float64 * S / eps with S the sum of max(|out|, 1) * |dout|
    over the outputs that moved (at least its largest term): gradients too small for float64
    differences to resolve are compared on that scale instead of their own.
    """
    layer = copy.deepcopy(layer).to(dtype=torch.float64)
    x = x.detach().to(torch.float64).clone(memory_format=torch.contiguous_format)
    if y is not None and y.is_floating_point():
        y = y.detach().to(torch.float64)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=_rng_devices(x)), torch.no_grad():

        def output() -> Tensor:
            _seed(seed, x)
            return _forward(layer, x, y)

        layer.zero_grad()
        dout = _random_like(output(), seed)
        worst = 0.0
        for value, grad in [(x, layer.backward(dout)), *layer.params()]:
            flat, flat_grad = value.view(-1), grad.reshape(-1)
            count = flat.numel()
            picks = (
                torch.randperm(count, generator=generator)[:samples]
                if count > samples
                else range(count)
            )
            for i in picks:
                numeric, noise = _central_difference(output, flat, int(i), dout, eps)
                tiny = max(_NOISE_FLOOR * noise, 1e-300)
                worst = max(worst, relative_error(float(flat_grad[i]), numeric, tiny))
    return worst


def _float64(layer: Layer, x: Tensor, y: Tensor | None):
    y64 = y.double() if y is not None and y.is_floating_point() else y
    return copy.deepcopy(layer).to(dtype=torch.float64), x.double(), y64


def check_layer(layer: Layer, x: Tensor, y: Tensor | None, fd_samples: int) -> dict[str, float]:
    """Largest autograd difference (float32, float64) and finite-difference relative error."""
    return {
        "autograd_diff_f32": max(compare_to_autograd(copy.deepcopy(layer), x, y)),
        "autograd_diff_f64": max(compare_to_autograd(*_float64(layer, x, y))),
        "fd_rel_error": finite_difference_check(layer, x, y, samples=fd_samples),
    }


def _median_ms(step: Callable[[], object], repeats: int, device: torch.device) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(2):
        step()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def time_backward(layer: Layer, x: Tensor, y: Tensor | None, repeats: int,
            device: torch.device) -> dict[str, float]:
    """Median ms of the layer's forward + backward, and of the same forward under autograd."""
    layer = copy.deepcopy(layer).to(device=device)
    x, y = x.to(device), (y.to(device) if y is not None else None)
    params = [p for p, _ in layer.params()]
    with torch.no_grad():
        dout = torch.randn_like(_forward(layer, x, y))

    def by_hand() -> None:
        with torch.no_grad():
            _forward(layer, x, y)
            layer.backward(dout)

    def by_autograd() -> None:
        xg = x.detach().requires_grad_(True)
        torch.autograd.grad(_forward(layer, xg, y), [xg, *params], dout)

    scratch_ms = _median_ms(by_hand, repeats, device)
    for p in params:
        p.requires_grad_(True)
    autograd_ms = _median_ms(by_autograd, repeats, device)
    return {"scratch_ms": scratch_ms, "autograd_ms": autograd_ms,
            "speed_ratio": autograd_ms / scratch_ms}
