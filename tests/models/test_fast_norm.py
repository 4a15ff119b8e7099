"""batch_norm_gelu: F.gelu(BatchNorm(x)) with fused Triton kernels on a GPU."""

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
from scratchlab.models.fast_norm import batch_norm_gelu, kernel_applies

has_triton = importlib.util.find_spec("triton") is not None
needs_kernels = pytest.mark.skipif(not torch.cuda.is_available() or not has_triton,
                                   reason="the Triton norm kernels need a CUDA GPU and Triton")


def _pair(channels: int, device: str = "cpu", **kw) -> tuple[nn.BatchNorm2d, nn.BatchNorm2d]:
    """Two equal BatchNorm layers with a scale and shift other than (1, 0)."""
    torch.manual_seed(channels)
    first = nn.BatchNorm2d(channels, momentum=0.4, **kw)
    if first.affine:
        with torch.no_grad():
            first.weight.uniform_(0.5, 1.5)
            first.bias.uniform_(-1, 1)
    second = nn.BatchNorm2d(channels, momentum=0.4, **kw)
    second.load_state_dict(first.state_dict())
    return first.to(device), second.to(device)


def _both(x: torch.Tensor, fused: nn.BatchNorm2d, ref: nn.BatchNorm2d, dz: torch.Tensor):
    """(ours, torch's) outputs and input gradients."""
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = batch_norm_gelu(fused, a), F.gelu(ref(b))
    ya.float().backward(dz)
    yb.float().backward(dz)
    return ya, yb, a.grad, b.grad


@pytest.mark.parametrize("training", [True, False])
def test_on_a_cpu_it_is_torchs_layers(training: bool) -> None:
    fused, ref = _pair(6)
    fused.train(training)
    ref.train(training)
    x = torch.randn(3, 6, 5, 5).contiguous(memory_format=torch.channels_last)
    assert not kernel_applies(x)
    ya, yb, ga, gb = _both(x, fused, ref, torch.randn(3, 6, 5, 5))
    assert torch.equal(ya, yb) and torch.equal(ga, gb)
    assert torch.equal(fused.running_var, ref.running_var)


INTERPRETED = textwrap.dedent("""
    import torch, torch.nn.functional as F
    from torch import nn
    from scratchlab.models import fast_norm
    fast_norm.kernel_applies = lambda x: True  # the kernels on CPU tensors, interpreted
    torch.manual_seed(0)
    def close(a, b, tol, what):
        err = (a.double() - b.double()).abs().max().item()
        scale = b.double().abs().max().item() + 1e-12
        assert err <= tol * scale, (what, err, scale)
    for shape, affine, track in (((2, 70, 5, 3), True, True), ((3, 8, 31, 31), True, True),
                                 ((4, 130, 6, 6), False, True), ((2, 16, 4, 4), True, False)):
        x = (torch.randn(shape) * 3 + 1.5).contiguous(memory_format=torch.channels_last)
        fused, ref = (nn.BatchNorm2d(shape[1], momentum=0.4, affine=affine,
                                     track_running_stats=track) for _ in range(2))
        if affine:
            with torch.no_grad():
                fused.weight.uniform_(0.5, 1.5); fused.bias.uniform_(-1, 1)
            ref.load_state_dict(fused.state_dict())
        for training in (True, False):
            fused.train(training); ref.train(training)
            a = x.clone().requires_grad_(); b = x.clone().requires_grad_()
            ya = fast_norm.batch_norm_gelu(fused, a); yb = F.gelu(ref(b))
            close(ya, yb, 1e-5, (shape, training, "values"))
            dz = torch.randn(shape).contiguous(memory_format=torch.channels_last)
            ya.backward(dz); yb.backward(dz)
            close(a.grad, b.grad, 1e-4, (shape, training, "dx"))
            if affine:
                close(fused.weight.grad, ref.weight.grad, 1e-4, (shape, training, "dw"))
                close(fused.bias.grad, ref.bias.grad, 1e-4, (shape, training, "db"))
                fused.weight.grad = fused.bias.grad = ref.weight.grad = ref.bias.grad = None
            if track:
                close(fused.running_mean, ref.running_mean, 1e-5, (shape, "running mean"))
                close(fused.running_var, ref.running_var, 1e-5, (shape, "running var"))
                assert fused.num_batches_tracked == ref.num_batches_tracked
    half = (torch.randn(4, 70, 6, 5) * 2 + 1).to(torch.bfloat16)  # bfloat16 in and out
    half = half.contiguous(memory_format=torch.channels_last).requires_grad_()
    full = half.detach().float().requires_grad_()
    fused, ref = nn.BatchNorm2d(70, momentum=0.4), nn.BatchNorm2d(70, momentum=0.4)
    ya, yb = fast_norm.batch_norm_gelu(fused, half), F.gelu(ref(full))
    assert ya.dtype == torch.bfloat16
    close(ya, yb, 1e-2, "bfloat16 values")
    dz = torch.randn(4, 70, 6, 5)
    ya.float().backward(dz); yb.backward(dz)
    close(half.grad, full.grad, 2e-2, "bfloat16 dx")
    one = nn.BatchNorm2d(3)  # one value per channel: torch refuses to train on it
    try:
        fast_norm.batch_norm_gelu(one, torch.randn(1, 3, 1, 1))
    except ValueError as exc:
        assert "more than 1 value per channel" in str(exc)
    else:
        raise AssertionError("no error for one value per channel")
    print("close")
""")

SECOND_ORDER = textwrap.dedent("""
    import torch, torch.nn.functional as F
    from torch import nn
    from scratchlab.models import fast_norm
    fast_norm.kernel_applies = lambda x: True
    torch.manual_seed(0)
    for training in (True, False):
        shape = (3, 6, 5, 4)
        x = torch.randn(shape, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
        weights = torch.randn(shape, dtype=torch.float64)
        found = []
        for layer in (fast_norm.batch_norm_gelu, lambda n, t: F.gelu(n(t))):
            norm = nn.BatchNorm2d(6, momentum=0.4).double().train(training)
            with torch.no_grad():
                norm.weight.fill_(1.3); norm.bias.fill_(0.2)
                norm.running_mean.fill_(0.1); norm.running_var.fill_(2.0)
            t = x.clone().requires_grad_()
            (grad,) = torch.autograd.grad((layer(norm, t) ** 3).sum(), t, create_graph=True)
            (second,) = torch.autograd.grad((grad * weights).sum(), t)
            found.append((grad.detach(), second))
        (g1, s1), (g2, s2) = found
        assert torch.allclose(g1, g2, rtol=1e-4, atol=1e-5), (training, (g1 - g2).abs().max())
        assert torch.allclose(s1, s2, rtol=1e-4, atol=1e-5), (training, (s1 - s2).abs().max())
    print("close")
""")


# Triton 3.6's interpreter (not 3.8's) turns a size-1 array into an int, which numpy 2.5 refuses
NUMPY_INTERPRETER_FAULT = "only 0-dimensional arrays can be converted to Python scalars"


@pytest.mark.skipif(not has_triton, reason="needs Triton")
@pytest.mark.parametrize("script", [INTERPRETED, SECOND_ORDER], ids=["first", "second_order"])
def test_the_kernels_give_torchs_numbers_in_tritons_interpreter_on_a_cpu(script: str) -> None:
    """Values, gradients, running statistics (train and eval, with and without affine or running
    statistics, channel counts off the tile size); second-order gradients."""
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    if NUMPY_INTERPRETER_FAULT in done.stderr:  # e.g. Triton 3.6's interpreter with numpy 2.5
        pytest.skip("this Triton's interpreter cannot bound a loop by a program id with this "
                    f"numpy ({NUMPY_INTERPRETER_FAULT})")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "close"


@pytest.mark.skipif(not has_triton, reason="needs Triton")
@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
def test_the_kernels_compile_for_an_h100_without_a_gpu(dtype: str) -> None:
    triton = pytest.importorskip("triton")
    compiler = pytest.importorskip("triton.compiler")
    backends = pytest.importorskip("triton.backends.compiler")
    from scratchlab.kernels import fast_norm as k

    f32, data, i32 = "*fp32", f"*{dtype}", "i32"
    tiles = {"BLOCK_R": k.BLOCK_R, "BLOCK_C": k.BLOCK_C}
    kernels = [
        (k._partial_stats, {"x_ptr": data, "pmean_ptr": f32, "pm2_ptr": f32, "R": i32, "C": i32,
                            "per_program": i32}, tiles),
        (k._finish_stats, {**dict.fromkeys(("pmean_ptr", "pm2_ptr", "mean_ptr", "rstd_ptr",
                                            "rmean_ptr", "rvar_ptr"), f32),
                           **dict.fromkeys(("R", "C", "P", "per_program"), i32),
                           "eps": "fp32", "momentum": "fp32"},
         {"UPDATE": True, "BLOCK_P": 32, "BLOCK_C": k.BLOCK_C}),
        (k._apply, {"x_ptr": data, "y_ptr": data, "mean_ptr": f32, "rstd_ptr": f32,
                    "w_ptr": f32, "b_ptr": f32, "R": i32, "C": i32}, tiles),
        (k._partial_grads, {"dz_ptr": data, "x_ptr": data, "mean_ptr": f32, "rstd_ptr": f32,
                            "w_ptr": f32, "b_ptr": f32, "psum_ptr": f32, "R": i32, "C": i32,
                            "per_program": i32}, tiles),
        (k._input_grad, {"dz_ptr": data, "x_ptr": data, "dx_ptr": data, "mean_ptr": f32,
                         "rstd_ptr": f32, "w_ptr": f32, "b_ptr": f32, "sums_ptr": f32,
                         "R": i32, "C": i32}, {"BATCH_STATS": True, **tiles}),
    ]
    for kernel, signature, constants in kernels:
        try:
            source = compiler.ASTSource(
                fn=kernel, signature={**signature, **dict.fromkeys(constants, "constexpr")},
                constexprs=constants)
        except TypeError as exc:  # an older Triton: kernels are described another way
            pytest.skip(f"this Triton's ASTSource differs: {exc}")
        compiled = triton.compile(source, target=backends.GPUTarget("cuda", 90, 32))
        assert "cubin" in compiled.asm


def _relative_error(found: torch.Tensor, truth: torch.Tensor) -> float:
    return ((found.double() - truth).abs().max() / truth.abs().max()).item()


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("shape", [(2000, 64, 15, 15), (200, 256, 7, 7), (3, 70, 5, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_the_kernels_give_torchs_numbers_on_a_gpu(dtype, shape, training) -> None:
    """Each result is measured against the same layers in float64: in float32 ours and torch's
    agree closely; in bfloat16 ours is no further from float64 than torch's own bfloat16 layers
    are (twice their error, or one bfloat16 step, at most): torch rounds GELU's gradient to
    bfloat16 before BatchNorm sums it, so its own weight gradients carry that rounding."""
    fused, ref = _pair(shape[1], "cuda")
    truth = nn.BatchNorm2d(shape[1], momentum=0.4).cuda().double()
    truth.load_state_dict(ref.state_dict())
    for layer in (fused, ref, truth):
        layer.train(training)
    x = (torch.randn(shape, device="cuda") * 2 + 1).to(dtype)
    x = x.contiguous(memory_format=torch.channels_last)
    assert kernel_applies(x)
    dz = torch.randn(shape, device="cuda").to(dtype)
    ya, yb, ga, gb = _both(x, fused, ref, dz.float())
    exact = x.double().requires_grad_()
    y_exact = F.gelu(truth(exact))
    y_exact.backward(dz.double())
    assert ya.dtype == dtype and ya.is_contiguous(memory_format=torch.channels_last)
    pairs = {"y": (ya, yb, y_exact), "dx": (ga, gb, exact.grad),
             "dw": (fused.weight.grad, ref.weight.grad, truth.weight.grad),
             "db": (fused.bias.grad, ref.bias.grad, truth.bias.grad),
             "running var": (fused.running_var, ref.running_var, truth.running_var)}
    for what, (ours, torchs, exact_value) in pairs.items():
        ours_error = _relative_error(ours, exact_value)
        torch_error = _relative_error(torchs, exact_value)
        bound = 1e-5 if dtype == torch.float32 else 2**-8
        assert ours_error <= max(2 * torch_error, bound), (what, ours_error, torch_error)
    assert fused.num_batches_tracked == ref.num_batches_tracked


@needs_kernels
def test_the_fast_cnn_on_a_gpu_fuses_every_norm_before_a_gelu(monkeypatch) -> None:
    model = build_model({"model_type": "yourcnn_fast", "in_size": [3, 32, 32],
                         "out_classes": 10, "channels": [16, 16, 32, 32, 32, 32],
                         "activation_type": "gelu", "fused_norm_gelu": True})
    model = model.cuda().to(memory_format=torch.channels_last)
    x = torch.randn(8, 3, 32, 32, device="cuda").contiguous(memory_format=torch.channels_last)
    unfused = []
    original = F.gelu
    monkeypatch.setattr(F, "gelu", lambda *a, **kw: unfused.append(1) or original(*a, **kw))
    with torch.autocast("cuda", torch.bfloat16):
        model(x).float().sum().backward()
    assert unfused == [1]  # the whitening conv's GELU (no BatchNorm); every other one fused


@needs_kernels
def test_a_synced_or_cumulative_norm_stays_torchs() -> None:
    x = torch.randn(4, 8, 5, 5, device="cuda").contiguous(memory_format=torch.channels_last)
    cumulative, ref = _pair(8, "cuda")
    cumulative.momentum = ref.momentum = None
    ya, yb, ga, gb = _both(x, cumulative, ref, torch.randn(4, 8, 5, 5, device="cuda"))
    assert torch.equal(ya, yb) and torch.equal(ga, gb)
    synced = nn.SyncBatchNorm(8).cuda().eval()  # eval: no process group needed
    torch.testing.assert_close(batch_norm_gelu(synced, x), F.gelu(synced(x)), rtol=0, atol=0)


def test_the_fast_cnn_fuses_only_when_asked() -> None:
    spec = {"model_type": "yourcnn_fast", "in_size": [3, 32, 32], "out_classes": 10,
            "channels": [8, 8, 16, 16]}
    plain, fused = build_model(spec), build_model({**spec, "fused_norm_gelu": True})
    groups = [m for m in plain.modules() if hasattr(m, "fused_norm_gelu")]
    assert groups and not any(g.fused_norm_gelu for g in groups)
    assert all(g.fused_norm_gelu for g in fused.modules() if hasattr(g, "fused_norm_gelu"))
    fused.load_state_dict(plain.state_dict())  # the same parameters and buffers
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(fused(x), plain(x))  # on a CPU: torch's layers either way
