"""max_pool_2x2: the outputs and input gradients of F.max_pool2d(x, 2), ties included."""

import pytest
import torch
import torch.nn.functional as F

from scratchlab.models.fastcnn import FastCNN
from scratchlab.models.maxpool import MaxPool2x2, max_pool_2x2

SHAPES = [(3, 4, 8, 8), (2, 5, 7, 9), (4, 3, 31, 31), (1, 2, 2, 3)]


def torch_and_ours(x: torch.Tensor, grad: torch.Tensor):
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ya, yb = F.max_pool2d(a, 2), max_pool_2x2(b, read_input=True)
    ya.backward(grad)
    yb.backward(grad)
    return (ya, a.grad), (yb, b.grad)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("channels_last", [False, True])
def test_same_output_and_gradient_as_torch_with_many_ties(shape, dtype, channels_last):
    gen = torch.Generator().manual_seed(sum(shape))
    x = torch.randint(0, 3, shape, generator=gen).to(dtype)  # most windows hold ties
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    grad = torch.randn(*shape[:2], shape[2] // 2, shape[3] // 2, generator=gen).to(dtype)
    (ya, ga), (yb, gb) = torch_and_ours(x, grad)
    assert torch.equal(ya, yb)
    assert torch.equal(ga, gb)
    assert gb.is_contiguous(memory_format=torch.channels_last) == channels_last or shape[1] == 1


def test_gradient_matches_finite_differences():
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: max_pool_2x2(t, read_input=True), (x,))


def test_odd_edges_get_no_gradient():
    x = torch.randn(1, 1, 5, 5, requires_grad=True)
    max_pool_2x2(x, read_input=True).sum().backward()
    assert x.grad[..., 4, :].abs().sum() == 0 and x.grad[..., :, 4].abs().sum() == 0
    assert x.grad.sum() == 4  # one input per window of the 2x2 output


def test_without_grad_it_is_plain_max_pool():
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(max_pool_2x2(x, read_input=True), F.max_pool2d(x, 2))


def fastcnn_grads(pool_factory, device):
    torch.manual_seed(0)
    model = FastCNN((3, 16, 16), 10, channels=(8, 8, 16, 16))
    for group in (m for m in model.modules() if hasattr(m, "pool")):
        group.pool = pool_factory()
    model.to(device)
    x, y = torch.randn(6, 3, 16, 16, device=device), torch.arange(6, device=device)
    F.cross_entropy(model(x), y).backward()
    return [p.grad for p in model.parameters() if p.grad is not None]


def test_fastcnn_pools_with_it():
    pools = [m for m in FastCNN((3, 16, 16), 10).modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert pools and all(isinstance(m, MaxPool2x2) for m in pools)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="its backward is used on a GPU only")
def test_fastcnn_gradients_on_a_gpu_equal_those_with_torch_pooling():
    ours = fastcnn_grads(MaxPool2x2, "cuda")
    theirs = fastcnn_grads(lambda: torch.nn.MaxPool2d(2), "cuda")
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b)
