"""The kernel warm-up a fast run starts on a GPU while its data is read."""

from __future__ import annotations

import pytest
import torch

from scratchlab.experiments.build import start_kernel_warmup, warmup_work
from scratchlab.experiments.recipes import recipe_config
from scratchlab.models.kernel_support import warm_kernels


def test_the_warmup_model_and_batches_have_the_runs_shapes_and_leave_the_random_state(tmp_path):
    config = recipe_config("cifar10-muon", quick=True, device="cpu", out_dir=tmp_path,
                           channels_last=True)
    torch.manual_seed(7)
    state = torch.get_rng_state()
    model, inputs = warmup_work(config, torch.device("cpu"))
    assert [tuple(x.shape) for x in inputs] == [(n, 3, 32, 32) for n in sorted(
        {config.budget.bs_train, config.budget.test_batch_size})]
    assert all(x.is_contiguous(memory_format=torch.channels_last) for x in inputs)
    warm_kernels(model, inputs, None)
    assert torch.equal(torch.get_rng_state(), state)  # the run's weights are drawn as seeded
    assert all(p.grad is None for p in model.parameters())


def test_no_warmup_off_a_gpu_or_off_the_fast_trainer(tmp_path):
    fast = recipe_config("cifar10-muon", quick=True, device="cpu", out_dir=tmp_path)
    assert start_kernel_warmup(fast, torch.device("cpu")) is None
    classic = recipe_config("cifar10-muon", quick=True, device="cpu", out_dir=tmp_path,
                            trainer="classic", cuda_graph=False)
    assert start_kernel_warmup(classic, torch.device("cuda")) is None
    compiled = recipe_config("cifar10-muon", quick=True, out_dir=tmp_path, compile=True)
    assert start_kernel_warmup(compiled, torch.device("cuda")) is None
    assert warmup_work(recipe_config("cifar10-muon", quick=True, dataset="edges",
                                     device="cpu", out_dir=tmp_path), torch.device("cpu")) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the warm-up runs on a GPU")
def test_the_warmup_runs_the_recipes_model_on_a_gpu(tmp_path):
    config = recipe_config("cifar10-muon", device="cuda", out_dir=tmp_path)
    model, inputs = warmup_work(config, torch.device("cuda"))
    warm_kernels(model, inputs, torch.bfloat16)  # raises here, where the run's thread would not
    thread = start_kernel_warmup(config, torch.device("cuda"))
    assert thread is not None
    thread.join()
