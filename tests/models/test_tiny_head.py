"""pooled_linear: global average pooling and a linear layer of N models side by side."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from scratchlab.kernels.support import relative_difference
from scratchlab.models.tiny_head import kernel_applies, pooled_linear

# (samples, models, channels and outputs per model, height, width, with a bias)
SHAPES = [(10, 3, 3, 3, 14, 14, True), (37, 2, 6, 5, 7, 9, False), (5, 4, 16, 16, 17, 17, True)]


def worst_difference(shape, device, head) -> float:
    """Largest relative difference of scores and gradients to each model's own average pool and
    linear layer in float64."""
    b, n, f, o, h, w, with_bias = shape
    gen = torch.Generator().manual_seed(b)
    maps = torch.randn(b, n * f, h, w, generator=gen, dtype=torch.float64)
    weight = torch.randn(n, o, f, generator=gen, dtype=torch.float64)
    bias = torch.randn(n, o, generator=gen, dtype=torch.float64)
    grad = torch.randn(n, b, o, generator=gen, dtype=torch.float64)
    found = []
    for dtype, fn in ((torch.float64, None), (torch.float32, head)):
        leaves = [t.detach().to(device, dtype).requires_grad_() for t in (maps, weight, bias)]
        used_bias = leaves[2] if with_bias else None
        if fn is None:  # model by model, as nn.AdaptiveAvgPool2d(1) and nn.Linear
            pool = torch.nn.AdaptiveAvgPool2d(1)
            out = torch.stack([
                torch.nn.functional.linear(
                    pool(leaves[0][:, i * f:(i + 1) * f]).flatten(1), leaves[1][i],
                    None if used_bias is None else used_bias[i]) for i in range(n)])
        else:
            out = fn(leaves[0], leaves[1], used_bias)
        out.backward(grad.to(device, dtype))
        found.append([out, *(t.grad for t in leaves[: 3 if with_bias else 2])])
    return relative_difference(found[1], found[0])


@pytest.mark.parametrize("shape", SHAPES)
def test_elsewhere_it_is_torchs_pool_and_linear_layer(shape) -> None:
    assert worst_difference(shape, "cpu", pooled_linear) < 1e-6


def from_rows(head):
    """`head` given each model's weight and bias as views of one row per model with room to spare
    (as the batched trainer holds them), so that the kernels read them in place."""
    def call(maps, weight, bias):
        n = weight.shape[0]
        parts = [weight.reshape(n, -1), *([] if bias is None else [bias]), weight.new_zeros(n, 3)]
        rows = torch.cat(parts, dim=1)
        size = weight[0].numel()
        views = rows[:, :size].view(weight.shape), rows[:, size:size + weight.shape[1]]
        return head(maps, views[0], None if bias is None else views[1])
    return call


INTERPRETED = """
    from test_tiny_head import SHAPES, from_rows, worst_difference
    from scratchlab.models.tiny_head import _PooledLinear
    heads = (_PooledLinear.apply, from_rows(_PooledLinear.apply))
    print(max(worst_difference(shape, "cpu", head) for shape in SHAPES for head in heads))
"""


def test_the_kernels_match_torch_in_tritons_interpreter(triton_interpreter) -> None:
    assert float(triton_interpreter(INTERPRETED)) < 1e-5


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or importlib.util.find_spec("triton") is None,
                    reason="the Triton head kernels need a CUDA GPU and Triton")
@pytest.mark.parametrize("shape", SHAPES)
def test_on_a_gpu_the_kernels_give_torchs_numbers(shape) -> None:
    maps = torch.zeros(2, 6, 4, 4, device="cuda")
    assert kernel_applies(maps, torch.zeros(2, 3, 3, device="cuda"))
    assert not kernel_applies(maps, torch.zeros(3, 3, 3, device="cuda"))  # 9 channels, not 6
    assert worst_difference(shape, "cuda", pooled_linear) < 1e-5
