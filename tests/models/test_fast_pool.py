"""MaxPool2x2: the numbers of F.max_pool2d(x, 2), through the Triton kernels on a GPU."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scratchlab.models import build_model
from scratchlab.models.fast_pool import GlobalMaxPool, MaxPool2x2, kernel_applies, max_pool_2x2

needs_kernels = pytest.mark.skipif(
    not torch.cuda.is_available() or importlib.util.find_spec("triton") is None,
    reason="the Triton pool kernels need a CUDA GPU and Triton",
)


def _pool_both(x: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(torch's output, ours, torch's input gradient, ours) for output gradient `grad`."""
    ref, ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref, out = F.max_pool2d(ref, 2), max_pool_2x2(ours)
    out_ref.backward(grad)
    out.backward(grad)
    return out_ref, out, ref.grad, ours.grad


def _inputs(shape: tuple[int, ...], dtype: torch.dtype, device: str, ties: bool) -> tuple:
    gen = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(shape, generator=gen)
    if ties:  # half-integers: most windows hold equal values
        x = (x * 2).round() / 2
    n, c, h, w = shape
    grad = torch.randn((n, c, h // 2, w // 2), generator=gen)
    layout = {"memory_format": torch.channels_last}
    return (x.to(device, dtype).contiguous(**layout), grad.to(device, dtype).contiguous(**layout))


def test_the_layer_is_a_2x2_max_pool_for_summaries_and_isinstance_checks() -> None:
    pool = MaxPool2x2()
    assert isinstance(pool, nn.MaxPool2d)
    assert (pool.kernel_size, pool.stride, pool.padding) == (2, 2, 0)


@pytest.mark.parametrize("ties", [False, True])
def test_on_a_cpu_it_gives_torchs_numbers(ties: bool) -> None:
    x, grad = _inputs((2, 3, 7, 4), torch.float32, "cpu", ties)
    assert not kernel_applies(x)
    out_ref, out, grad_ref, grad_ours = _pool_both(x, grad)
    assert torch.equal(out, out_ref) and torch.equal(grad_ours, grad_ref)


ON_GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=ON_GPU)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_the_global_max_pool_is_torchs_adaptive_one_flattened(device, channels_last) -> None:
    x = torch.randn(3, 5, 3, 4, dtype=torch.float64, device=device)
    x[1, 2] = 7.0  # a map of ties: the first maximum takes the gradient
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    grad = torch.randn(3, 5, dtype=torch.float64, device=device)
    ref, ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten())(ref)
    out = GlobalMaxPool()(ours)
    out_ref.backward(grad)
    out.backward(grad)
    assert torch.equal(out, out_ref) and torch.equal(ours.grad, ref.grad)


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs Triton")
@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
def test_the_kernels_compile_for_an_h100_without_a_gpu(dtype: str) -> None:
    triton = pytest.importorskip("triton")
    compiler = pytest.importorskip("triton.compiler")
    backends = pytest.importorskip("triton.backends.compiler")
    from scratchlab.kernels import fast_pool as kernels

    sizes = dict.fromkeys(("total", "C", "H", "W", "Ho", "Wo"), "i32")
    signatures = {
        kernels._forward: {"x_ptr": f"*{dtype}", "out_ptr": f"*{dtype}", "arg_ptr": "*i8", **sizes},
        kernels._backward: {"grad_ptr": f"*{dtype}", "arg_ptr": "*i8",
                            "grad_in_ptr": f"*{dtype}", **sizes},
    }
    for kernel, signature in signatures.items():
        try:
            source = compiler.ASTSource(fn=kernel, signature={**signature, "BLOCK": "constexpr"},
                                        constexprs={"BLOCK": kernels.BLOCK})
        except TypeError as exc:  # an older Triton: kernels are described another way
            pytest.skip(f"this Triton's ASTSource differs: {exc}")
        compiled = triton.compile(source, target=backends.GPUTarget("cuda", 90, 32))
        assert "cubin" in compiled.asm


INTERPRETED = textwrap.dedent("""
    import torch, torch.nn.functional as F
    from scratchlab.kernels import fast_pool as kernels
    layout = torch.channels_last
    for shape in ((2, 16, 7, 6), (1, 32, 31, 31), (3, 8, 4, 5)):
        x = ((torch.randn(shape) * 2).round() / 2).contiguous(memory_format=layout)
        x[0, 1, 0, 0] = float("nan")
        out, arg = kernels.pool_forward(x)
        grad = torch.randn(out.shape).contiguous(memory_format=layout)
        ref = x.clone().requires_grad_()
        expected = F.max_pool2d(ref, 2)
        expected.backward(grad)
        same = torch.equal(out.nan_to_num(), expected.nan_to_num())
        assert same and torch.equal(out.isnan(), expected.isnan()), shape
        assert torch.equal(kernels.pool_backward(grad, arg, x.shape), ref.grad), shape
    print("equal")
""")


SECOND_ORDER = textwrap.dedent("""
    import torch, torch.nn.functional as F
    from scratchlab.models import fast_pool
    fast_pool.kernel_applies = lambda x: True  # the kernels on CPU tensors, interpreted
    for shape in ((2, 8, 7, 6), (1, 4, 4, 4)):
        x = torch.randn(shape, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
        weights = torch.randn(shape, dtype=torch.float64)
        found = []
        for pool in (fast_pool.max_pool_2x2, lambda t: F.max_pool2d(t, 2)):
            t = x.clone().requires_grad_()
            (grad,) = torch.autograd.grad((pool(t) ** 3).sum(), t, create_graph=True)
            (second,) = torch.autograd.grad((grad * weights).sum(), t)
            found.append((grad.detach(), second))
        assert all(torch.allclose(a, b) for a, b in zip(*found)), shape
    print("equal")
""")


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs Triton")
@pytest.mark.parametrize("script", [INTERPRETED, SECOND_ORDER], ids=["first", "second_order"])
def test_the_kernels_give_torchs_numbers_in_tritons_interpreter_on_a_cpu(script: str) -> None:
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "equal"


def test_the_fast_cnn_pools_with_it() -> None:
    model = build_model({"model_type": "yourcnn_fast", "in_size": [3, 32, 32],
                         "out_classes": 10, "channels": [8, 8, 16, 16]})
    assert sum(isinstance(m, MaxPool2x2) for m in model.modules()) == 2


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize(
    "shape", [(3, 64, 32, 32), (2, 256, 8, 8), (4, 24, 6, 10), (2, 64, 31, 31), (3, 16, 7, 4)]
)
@pytest.mark.parametrize("ties", [False, True])
def test_the_kernels_give_torchs_values_and_gradients_exactly(dtype, shape, ties) -> None:
    x, grad = _inputs(shape, dtype, "cuda", ties)
    assert kernel_applies(x)
    out_ref, out, grad_ref, grad_ours = _pool_both(x, grad)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out, out_ref)
    assert torch.equal(grad_ours, grad_ref)


@needs_kernels
def test_a_nan_takes_the_window_as_in_torch() -> None:
    x, grad = _inputs((1, 16, 4, 4), torch.float32, "cuda", ties=False)
    x[0, 3, 1, 0] = float("nan")
    x[0, 5, 2, 3] = float("nan")
    x[0, 5, 3, 3] = float("nan")
    out_ref, out, grad_ref, grad_ours = _pool_both(x, grad)
    assert torch.equal(out.isnan(), out_ref.isnan()) and out.isnan().sum() == 2
    assert torch.equal(out.nan_to_num(), out_ref.nan_to_num())
    assert torch.equal(grad_ours, grad_ref)


@needs_kernels
def test_a_channels_first_tensor_falls_back_to_torch() -> None:
    x, grad = _inputs((2, 8, 6, 6), torch.float32, "cuda", ties=True)
    x = x.contiguous()
    assert not kernel_applies(x)
    out_ref, out, grad_ref, grad_ours = _pool_both(x, grad)
    assert torch.equal(out, out_ref) and torch.equal(grad_ours, grad_ref)


@needs_kernels
def test_the_fast_cnn_on_a_gpu_pools_every_layer_with_the_kernels() -> None:
    model = build_model({"model_type": "yourcnn_fast", "in_size": [3, 32, 32],
                         "out_classes": 10, "channels": [16, 16, 32, 32, 32, 32]})
    model = model.cuda().to(memory_format=torch.channels_last)
    seen = []
    for module in model.modules():
        if isinstance(module, MaxPool2x2):
            module.register_forward_pre_hook(lambda _, args: seen.append(kernel_applies(args[0])))
    x = torch.randn(4, 3, 32, 32, device="cuda").contiguous(memory_format=torch.channels_last)
    with torch.autocast("cuda", torch.bfloat16):
        model(x).float().sum().backward()
    assert seen == [True, True, True]  # 31x31, 15x15 and 7x7 inputs (odd: floor mode)
