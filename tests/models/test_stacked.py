"""N EdgeCNNs side by side in the channels (and N MLPs through batched matrix products) give
each model's own forward, values and gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scratchlab.models.inductive import (
    DeeperCNN,
    SimpleCNN,
    SimpleCNN_avgpool,
    ThreeLayerMLP,
    WiderCNN,
)
from scratchlab.models.stacked import stacked_forward

COUNT, BATCH = 3, 4

NETS = {
    "simple k7": lambda: SimpleCNN(num_filters=3, kernel_size=7),
    "simple even kernel": lambda: SimpleCNN(num_filters=2, kernel_size=2),
    "simple same padding": lambda: SimpleCNN(num_filters=2, kernel_size=4, padding="same"),
    "simple zero padding": lambda: SimpleCNN(num_filters=2, kernel_size=3, padding=0),
    "simple avg pool": lambda: SimpleCNN_avgpool(num_filters=2, kernel_size=3),
    "simple 3 input channels": lambda: SimpleCNN(num_filters=2, kernel_size=3, in_channels=3),
    "wider": lambda: WiderCNN(kernel_size=3),
    "deeper": lambda: DeeperCNN(kernel_size=3),
    "mlp": lambda: ThreeLayerMLP((1, 12, 12), (6, 5), 3),
}


def stacked_params(models: list[nn.Module]) -> dict[str, torch.Tensor]:
    """Each parameter stacked `(N, ...)` as a non-contiguous view of one row per model, as the
    batched trainer holds them."""
    names = [n for n, _ in models[0].named_parameters()]
    rows = torch.stack([torch.cat([p.detach().reshape(-1) for p in m.parameters()])
                        for m in models]).requires_grad_(True)
    params, start = {}, 0
    for name, p in models[0].named_parameters():
        params[name] = rows[:, start:start + p.numel()].view(len(models), *p.shape)
        start += p.numel()
    assert list(params) == names
    return params


@pytest.mark.parametrize("name", list(NETS))
def test_stacked_forward_and_gradients_equal_each_models_own(name):
    torch.manual_seed(0)
    models = [NETS[name]().double() for _ in range(COUNT)]
    channels = models[0].conv1.in_channels if hasattr(models[0], "conv1") else 1
    x = torch.randn(COUNT, BATCH, channels, 12, 12, dtype=torch.float64, requires_grad=True)
    params = stacked_params(models)
    forward = stacked_forward(models[0])
    assert forward is not None
    scores = forward(params, x)
    expected = torch.stack([m(x[i]) for i, m in enumerate(models)])
    assert scores.shape == expected.shape == (COUNT, BATCH, expected.shape[-1])
    torch.testing.assert_close(scores, expected, rtol=1e-12, atol=1e-12)

    weights = torch.randn_like(expected)  # a loss that weighs every score differently
    names = list(params)
    ours = torch.autograd.grad((scores * weights).sum(), [params[n] for n in names])
    (expected * weights).sum().backward()
    for i, model in enumerate(models):
        theirs = dict(model.named_parameters())
        for pname, grad in zip(names, ours, strict=True):
            torch.testing.assert_close(grad[i], theirs[pname].grad, rtol=1e-10, atol=1e-12,
                                       msg=f"{pname} of model {i}")


def test_input_gradients_match_too():
    torch.manual_seed(1)
    models = [SimpleCNN(num_filters=2, kernel_size=3).double() for _ in range(COUNT)]
    x = torch.randn(COUNT, BATCH, 1, 9, 9, dtype=torch.float64, requires_grad=True)
    stacked_forward(models[0])(stacked_params(models), x).square().sum().backward()
    ours, x.grad = x.grad, None
    torch.stack([m(x[i]) for i, m in enumerate(models)]).square().sum().backward()
    torch.testing.assert_close(ours, x.grad, rtol=1e-10, atol=1e-12)


def test_models_it_cannot_stack_fall_back_to_none():
    class OwnForward(SimpleCNN):
        def forward(self, x):
            return super().forward(x) * 2

    gelu = SimpleCNN(num_filters=2, kernel_size=3)
    gelu.relu1 = nn.GELU()  # per channel, but not one it knows
    assert stacked_forward(OwnForward(num_filters=2, kernel_size=3)) is None
    assert stacked_forward(gelu) is None
    class OwnMLP(ThreeLayerMLP):
        def forward(self, x):
            return super().forward(x).tanh()

    assert stacked_forward(OwnMLP(16, (4, 4), 3)) is None
    assert stacked_forward(ThreeLayerMLP(16, (4, 4), 3)) is not None
    assert stacked_forward(SimpleCNN(num_filters=2, kernel_size=3)) is not None
