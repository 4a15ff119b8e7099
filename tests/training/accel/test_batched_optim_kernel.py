"""The batched SGD step as one Triton kernel: torch.optim's numbers, inactive models untouched."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from scratchlab.training.accel.batched_optim import ENV_OFF, BatchedOptimizer


def run_steps(device: str, nesterov: bool, weight_decay: float, steps: int = 4) -> torch.Tensor:
    """Three models' parameters after `steps` SGD steps of torch.optim (one optimizer each)
    and of the batched optimizer, the middle model inactive at every other step."""
    gen = torch.Generator().manual_seed(int(nesterov) + int(weight_decay > 0))
    start = torch.randn(3, 1100, generator=gen)
    grads = torch.randn(steps, 3, 1100, generator=gen)
    params = [torch.nn.Parameter(start[i].clone()) for i in range(3)]
    optimizers = [torch.optim.SGD([p], lr=lr, momentum=0.9, nesterov=nesterov,
                                  weight_decay=weight_decay) for p, lr in
                  zip(params, (0.1, 0.05, 0.01), strict=True)]
    flat = start.clone().to(device)
    batched = BatchedOptimizer(optimizers, flat, [(1100,)])
    for k in range(steps):
        active = torch.tensor([True, k % 2 == 0, True], device=device)
        batched.step(flat, grads[k].to(device), active)
        for i, (p, opt) in enumerate(zip(params, optimizers, strict=True)):
            if bool(active[i]):
                p.grad = grads[k, i].clone()
                opt.step()
    return (flat.cpu() - torch.stack([p.detach() for p in params])).abs().max()


INTERPRETED = """
    from scratchlab.training.accel import batched_optim
    batched_optim.BatchedOptimizer._fused_sgd = lambda self, flat, grad: True  # on a CPU
    from test_batched_optim_kernel import run_steps
    print(max(float(run_steps("cpu", n, wd)) for n in (False, True) for wd in (0.0, 1e-2)))
"""


def test_the_kernel_matches_torch_in_tritons_interpreter(triton_interpreter) -> None:
    assert float(triton_interpreter(INTERPRETED)) < 1e-6


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or importlib.util.find_spec("triton") is None,
                    reason="the Triton SGD kernel needs a CUDA GPU and Triton")
@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_on_a_gpu_the_kernel_gives_torchs_numbers(nesterov, weight_decay, monkeypatch) -> None:
    assert float(run_steps("cuda", nesterov, weight_decay)) < 1e-6
    monkeypatch.setenv(ENV_OFF, "0")
    assert float(run_steps("cuda", nesterov, weight_decay)) < 1e-6


STEP_COUNTS = """
    import torch
    from scratchlab.training.accel import batched_optim
    batched_optim.BatchedOptimizer._fused_sgd = lambda self, flat, grad: True  # on a CPU
    params = [torch.nn.Parameter(torch.zeros(5)) for _ in range(2)]
    optimizers = [torch.optim.SGD([p], lr=0.1, momentum=0.9) for p in params]
    flat = torch.zeros(2, 5)
    batched = batched_optim.BatchedOptimizer(optimizers, flat, [(5,)])
    for k in range(3):
        batched.step(flat, torch.ones(2, 5), torch.tensor([True, k == 0]))
    print(batched.steps.flatten().tolist())
"""


def test_the_kernel_counts_each_models_steps(triton_interpreter) -> None:
    assert triton_interpreter(STEP_COUNTS) == "[3.0, 1.0]"
