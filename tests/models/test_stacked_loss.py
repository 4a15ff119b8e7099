"""stacked_cross_entropy: torch's cross-entropy, mean and correct count of N models at once."""

from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.nn.functional as F

from scratchlab.kernels.support import relative_difference
from scratchlab.models.stacked_loss import kernel_applies, stacked_cross_entropy

# (models, samples, classes, label smoothing)
SHAPES = [(3, 10, 3, 0.0), (2, 130, 5, 0.1), (4, 7, 16, 0.2), (1, 64, 2, 0.0)]


def worst_difference(shape, device, loss) -> float:
    """Largest relative difference to torch's float64 numbers (losses, means, the scores'
    gradient for weighted losses and means); the correct counts must be equal."""
    n, b, c, smoothing = shape
    gen = torch.Generator().manual_seed(b)
    scores = torch.randn(n, b, c, generator=gen, dtype=torch.float64) * 3
    scores[0, 0, 1] = scores[0, 0, 0]  # a tie: the first maximum counts
    labels = torch.randint(0, c, (b, n), generator=gen).T  # sample-major, as the trainer's
    weights = torch.randn(n, b, generator=gen, dtype=torch.float64)
    mean_weights = torch.randn(n, generator=gen, dtype=torch.float64)
    found = []
    for dtype, fn in ((torch.float64, None), (torch.float32, loss)):
        s = scores.detach().to(device, dtype).requires_grad_()
        y = labels.to(device)
        if fn is None:
            losses = F.cross_entropy(s.reshape(n * b, c), y.reshape(-1), reduction="none",
                                     label_smoothing=smoothing).view(n, b)
            means, correct = losses.mean(dim=1), (s.argmax(dim=-1) == y).sum(dim=1)
        else:
            losses, means, correct = fn(s, y, smoothing)
        total = (losses * weights.to(device, dtype)).sum() + (means * mean_weights.to(device,
                                                                                     dtype)).sum()
        total.backward()
        found.append((losses.double(), means.double(), s.grad.double(), correct.cpu()))
    (*ref, ref_correct), (*ours, our_correct) = found
    assert torch.equal(ref_correct, our_correct)
    return relative_difference(ours, ref)


@pytest.mark.parametrize("shape", SHAPES)
def test_elsewhere_it_is_torchs_loss(shape) -> None:
    assert worst_difference(shape, "cpu", stacked_cross_entropy) < 1e-6


INTERPRETED = """
    from test_stacked_loss import SHAPES, worst_difference
    from scratchlab.models.stacked_loss import _CrossEntropy
    print(max(worst_difference(shape, "cpu", _CrossEntropy.apply) for shape in SHAPES))
"""


def test_the_kernels_match_torch_in_tritons_interpreter(triton_interpreter) -> None:
    assert float(triton_interpreter(INTERPRETED)) < 1e-5


EDGES = """
    import torch
    from scratchlab.models.stacked_loss import _CrossEntropy
    scores = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(0))
    scores[1, 2, 0] = float("nan")  # argmax takes a NaN for the largest score
    labels = torch.tensor([[0, 1, 5, 2], [0, 1, 0, 2]])  # label 5 of 3 classes: out of range
    leaf = scores.clone().requires_grad_()
    losses, means, correct = _CrossEntropy.apply(leaf, labels, 0.0)
    means[0].backward()
    print(losses[0].isnan().tolist(), bool(means[0].isnan()), leaf.grad[0].isnan().any(1).tolist())
    print(correct.tolist(), (scores.argmax(-1) == labels).sum(1).tolist())
"""


def test_a_label_out_of_range_gives_nan_and_nan_scores_count_as_argmax(triton_interpreter):
    flags, counts = triton_interpreter(EDGES).splitlines()
    assert flags == "[False, False, True, False] True [False, False, True, False]"
    ours, torchs = counts.split("] [")
    assert ours + "]" == "[" + torchs


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or importlib.util.find_spec("triton") is None,
                    reason="the Triton loss kernels need a CUDA GPU and Triton")
@pytest.mark.parametrize("shape", SHAPES)
def test_on_a_gpu_the_kernels_give_torchs_numbers(shape) -> None:
    assert kernel_applies(torch.zeros(2, 3, 4, device="cuda"), torch.zeros(2, 3, device="cuda",
                                                                           dtype=torch.long))
    assert worst_difference(shape, "cuda", stacked_cross_entropy) < 1e-5


def test_it_leaves_to_torch_what_the_kernels_do_not_cover() -> None:
    labels = torch.zeros(2, 3, dtype=torch.long)
    assert not kernel_applies(torch.zeros(2, 3, 4), labels)  # a CPU tensor
