"""The gradient checkers can fail: deliberately wrong backward passes are caught by both."""

from __future__ import annotations

import pytest
import torch

from scratchlab import scratch


class LinearWrongInput(scratch.Linear):
    def backward(self, dout):
        super().backward(dout)
        return dout @ self.w * 1.001


class LinearNoBiasGrad(scratch.Linear):
    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["b"].zero_()
        return dx


class LinearOverwrites(scratch.Linear):
    """Sets the weight gradient instead of accumulating it: wrong only after a second backward."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["w"].copy_(dout.T @ self.saved("x"))
        return dx


class SigmoidWrong(scratch.Sigmoid):
    def backward(self, dout):
        return dout * self.saved("out")


class DropoutIgnoresMask(scratch.Dropout):
    def backward(self, dout):
        return dout


class BatchNormEvalBackward(scratch.BatchNorm):
    """Forgets that the batch statistics depend on the input."""

    def backward(self, dout):
        super().backward(dout)
        return dout * self.gamma * self.saved("inv_std")


class CrossEntropyNoMean(scratch.CrossEntropyLoss):
    def backward(self, dout=1.0):
        return super().backward(dout) * len(self.saved("y"))


class MaxPoolToAll(scratch.MaxPool2d):
    def backward(self, dout):
        return torch.nn.functional.interpolate(dout, scale_factor=2) / 4  # spread like a mean


WRONG = {
    "linear_input": (lambda: LinearWrongInput(6, 4), (5, 6), None),
    "linear_bias": (lambda: LinearNoBiasGrad(6, 4), (5, 6), None),
    "sigmoid": (SigmoidWrong, (3, 4, 5), None),
    "dropout": (lambda: DropoutIgnoresMask(0.5), (5, 6), None),
    "batchnorm": (lambda: BatchNormEvalBackward(6), (5, 6), None),
    "cross_entropy": (CrossEntropyNoMean, (5, 6), lambda: torch.randint(0, 6, (5,))),
    "maxpool": (lambda: MaxPoolToAll(2), (2, 3, 4, 4), None),
}


@pytest.mark.parametrize("name", WRONG)
def test_both_checkers_catch_a_wrong_backward(name):
    make, shape, target = WRONG[name]
    torch.manual_seed(0)
    layer, x = make().to(dtype=torch.float64), torch.randn(shape, dtype=torch.float64)
    y = target() if target else None
    assert max(scratch.compare_to_autograd(layer, x, y)) > 1e-4
    assert scratch.finite_difference_check(layer, x, y) > 1e-4  # the passing bar is 1e-5


def test_accumulation_bug_shows_after_two_backward_passes():
    torch.manual_seed(0)
    good, bad = scratch.Linear(4, 3), LinearOverwrites(4, 3)
    bad.load_state_dict(good.state_dict())
    x, dout = torch.randn(5, 4), torch.randn(5, 3)
    for layer in (good, bad):
        for _ in range(2):
            layer(x)
            layer.backward(dout)
    assert torch.allclose(good.grads["w"], 2 * (dout.T @ x))
    assert not torch.allclose(bad.grads["w"], good.grads["w"])


def test_compare_to_autograd_restores_rng_and_flags():
    layer = scratch.Sequential(scratch.Linear(4, 3), scratch.Dropout(0.5))
    state = torch.get_rng_state()
    diffs = scratch.compare_to_autograd(layer, torch.ones(2, 4), seed=3)
    assert len(diffs) == 3
    assert torch.equal(torch.get_rng_state(), state)
    assert not any(p.requires_grad for p, _ in layer.params())


def test_compare_to_autograd_leaves_backward_grads_in_layer():
    torch.manual_seed(0)
    layer, x = scratch.Linear(4, 3), torch.randn(5, 4)
    layer.grads["w"].fill_(7.0)  # zeroed first, not accumulated onto
    scratch.compare_to_autograd(layer, x)
    x_ref = x.clone().requires_grad_(True)
    w = layer.w.clone().requires_grad_(True)
    dout = torch.randn(5, 3, generator=torch.Generator().manual_seed(42))
    (x_ref @ w.T).backward(dout)
    assert torch.allclose(layer.grads["w"], w.grad)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(1.0, 1.0, 0.0), (1.0, -1.0, 1.0), (0.0, 0.0, 0.0), (2.0, 1.0, 1 / 3), (1e-12, 0.0, 1e-4)],
)
def test_relative_error(a, b, expected):
    assert scratch.relative_error(a, b) == pytest.approx(expected)
