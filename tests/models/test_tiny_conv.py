"""tiny_conv2d: F.conv2d (then F.relu) of many tiny groups, through Triton kernels on a GPU."""

from __future__ import annotations

import importlib.util
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scratchlab.kernels.support import relative_difference
from scratchlab.models.tiny_conv import (
    ENV_OFF,
    FORWARD_GROUP,
    TRAIN_GROUP,
    TRAIN_MAP,
    _torch_conv,
    geometry_fits,
    kernel_applies,
    padding_of,
    pays_off,
    pool_kind,
    tiny_conv2d,
    wants_gradients,
)

# (batch, groups, in and out channels per group, kernel, height, width, padding mode, padding)
GEOMETRIES = [
    (2, 3, 1, 3, 7, 12, 10, "reflect", 3),
    (3, 2, 3, 3, 3, 7, 9, "reflect", 1),
    (2, 2, 2, 1, 2, 6, 6, "reflect", 0),
    (2, 2, 2, 2, 4, 7, 8, "reflect", "same"),
    (2, 1, 2, 3, 3, 5, 6, "zeros", 1),
    (2, 2, 1, 2, 5, 9, 9, "zeros", "same"),
    (1, 2, 1, 2, 7, 8, 8, "reflect", 5),
    (2, 2, 6, 6, 3, 7, 6, "reflect", 1),  # 6 channels a group, in and out
    (1, 1, 11, 11, 3, 6, 5, "zeros", 1),  # 11 channels a group, in and out
    (3, 2, 2, 3, 9, 11, 10, "reflect", 4),  # 81 taps: several passes of the weight gradient
]


def reference_and_ours(geometry, relu, device, conv, pool=None):
    """The largest relative difference of output and input, weight and bias gradients between
    torch's layer (float64; then ReLU and a 2x2 `pool`, "max" or "avg") and `conv` (float32) on
    the same numbers."""
    b, groups, cin, cout, k, h, w, mode, padding = geometry
    gen = torch.Generator().manual_seed(k * h + w)
    layer = nn.Conv2d(groups * cin, groups * cout, k, padding=padding, padding_mode=mode,
                      groups=groups).double()
    x = torch.randn(b, groups * cin, h, w, generator=gen, dtype=torch.float64)
    grad = None
    found = []
    for dtype, run in ((torch.float64, None), (torch.float32, conv)):
        leaves = [t.detach().to(device, dtype).requires_grad_()
                  for t in (x, layer.weight, layer.bias)]
        if run is None:
            out = layer.to(device)._conv_forward(*leaves)
            out = F.relu(out) if relu else out
            if pool is not None:
                out = F.max_pool2d(out, 2) if pool == "max" else F.avg_pool2d(out, 2)
        else:
            out = run(layer, leaves[1], leaves[2], leaves[0], groups, relu, pool)
        if grad is None:
            grad = torch.randn(out.shape, generator=gen, dtype=torch.float64)
        out.backward(grad.to(device, dtype))
        found.append([out, *(t.grad for t in leaves)])
    return relative_difference(found[1], found[0])


# layers and inputs torch refuses: (layer, input shape, weight shape, groups)
REFUSED = [
    (nn.Conv2d(2, 2, 5, padding=2, padding_mode="reflect", groups=2), (1, 2, 2, 2),
     (2, 1, 5, 5), 2),  # reflect padding as large as the map
    (nn.Conv2d(4, 4, 3, padding=1, groups=2), (1, 2, 5, 5), (4, 2, 3, 3), 2),  # channels
    (nn.Conv2d(1, 1, 5), (1, 1, 3, 3), (1, 1, 5, 5), 1),  # a filter larger than the map
]


@pytest.mark.parametrize("refused", REFUSED, ids=["reflect", "channels", "filter"])
def test_the_kernels_take_no_geometry_torch_refuses(refused) -> None:
    layer, x_shape, weight_shape, groups = refused
    with pytest.raises(RuntimeError):
        _torch_conv(layer, torch.zeros(weight_shape), None, torch.zeros(x_shape), groups, True,
                    None)
    assert not geometry_fits(layer, torch.Size(x_shape), torch.Size(weight_shape), groups)


def test_the_kernels_take_the_tested_geometries_and_no_index_beyond_32_bits() -> None:
    for b, groups, cin, cout, k, h, w, mode, padding in GEOMETRIES:
        layer = nn.Conv2d(groups * cin, groups * cout, k, padding=padding, padding_mode=mode,
                          groups=groups)
        assert geometry_fits(layer, torch.Size((b, groups * cin, h, w)), layer.weight.shape,
                             groups)
    valid = nn.Conv2d(1, 1, 3)  # a 1x1 output: a convolution, but no 2x2 pool after it
    with pytest.raises(RuntimeError):
        _torch_conv(valid, valid.weight, None, torch.zeros(1, 1, 3, 3), 1, True, "max")
    assert geometry_fits(valid, torch.Size((1, 1, 3, 3)), valid.weight.shape, 1)
    assert not geometry_fits(valid, torch.Size((1, 1, 3, 3)), valid.weight.shape, 1, "max")
    layer = nn.Conv2d(200, 1200, 7, padding=3, groups=200)  # 6 outputs per input channel
    x_shape = torch.Size((4096, 200, 28, 28))  # 642 million inputs: 3.85 billion outputs
    assert x_shape.numel() < 2**31
    assert not geometry_fits(layer, x_shape, layer.weight.shape, 200)
    assert geometry_fits(layer, torch.Size((256, 200, 28, 28)), layer.weight.shape, 200)


INTERPRETED = """
    from test_tiny_conv import GEOMETRIES, reference_and_ours
    from scratchlab.models.tiny_conv import POOLS, _TinyConv, padding_of
    def conv(layer, weight, bias, x, groups, relu, pool):
        return _TinyConv.apply(x, weight, bias, groups, padding_of(layer),
                               layer.padding_mode == "reflect", relu, POOLS.get(pool, 0))
    # the geometries of one part (PART), with and without ReLU, each pool on some of them
    import scratchlab.models.tiny_conv as tiny
    # few weight-gradient programs (the interpreter runs one at a time): the batch in shares of
    # one image for the small geometries, in one share of three for the last
    tiny.MIN_PROGRAMS = 64
    print(max(reference_and_ours(g, i % 2 == 0, "cpu", conv, (None, "max", "avg")[i % 3])
              for i, g in enumerate(GEOMETRIES) if i in PART))
"""


# the geometries in two parts of about equal time in the interpreter (100 s each on a 2-core
# machine), so that two test workers share them
INTERPRETER_PARTS = [(0, 1, 9), (2, 3, 4, 5, 6, 7, 8)]


def test_the_interpreter_parts_hold_every_geometry_once() -> None:
    assert sorted(sum(INTERPRETER_PARTS, ())) == list(range(len(GEOMETRIES)))


@pytest.mark.parametrize("part", INTERPRETER_PARTS, ids=["part1", "part2"])
def test_the_kernels_match_torch_in_tritons_interpreter(triton_interpreter, part) -> None:
    script = f"PART = {part}\n" + textwrap.dedent(INTERPRETED)
    assert float(triton_interpreter(script)) < 1e-5  # float32 round-off against float64


NAN_INPUT = """
    import torch
    import torch.nn.functional as F
    from scratchlab.models.tiny_conv import _TinyConv
    x = torch.tensor([[[[float("nan"), 1.0], [2.0, -1.0]]]])
    weight = torch.ones(1, 1, 1, 1)
    for pool in (0, 1, 2):
        grads = []
        for ours in (True, False):
            leaf = x.clone().requires_grad_()
            if ours:
                out = _TinyConv.apply(leaf, weight, None, 1, (0, 0, 0, 0), False, True, pool)
            else:
                out = F.relu(F.conv2d(leaf, weight))
                out = [out, F.max_pool2d(out, 2), F.avg_pool2d(out, 2)][pool]
            out.sum().backward()
            grads.append(leaf.grad)
        print(pool, torch.allclose(*grads, equal_nan=True), grads[0].flatten().tolist())
"""


def test_a_nan_passes_the_relus_gradient_as_in_torch(triton_interpreter) -> None:
    lines = triton_interpreter(NAN_INPUT).splitlines()
    assert [line.split()[1] for line in lines] == ["True"] * 3, lines


@pytest.mark.parametrize("pool", [None, "max", "avg"])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_elsewhere_it_is_torchs_convolution(geometry, pool) -> None:
    error = reference_and_ours(geometry, True, "cpu", tiny_conv2d, pool)
    assert error < 1e-5


def test_it_fuses_only_plain_two_by_two_pools() -> None:
    assert pool_kind(nn.MaxPool2d(2)) == "max" and pool_kind(nn.AvgPool2d(2)) == "avg"
    for other in (nn.MaxPool2d(2, 1), nn.MaxPool2d(3), nn.MaxPool2d(2, padding=1),
                  nn.MaxPool2d(2, ceil_mode=True), nn.MaxPool2d(2, return_indices=True),
                  nn.AvgPool2d(2, divisor_override=3), nn.ReLU()):
        assert pool_kind(other) is None


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_the_padding_it_reads_is_the_one_torch_applies(geometry) -> None:
    _, groups, cin, cout, k, h, w, mode, padding = geometry
    layer = nn.Conv2d(groups * cin, groups * cout, k, padding=padding, padding_mode=mode,
                      groups=groups)
    top, bottom, left, right = padding_of(layer)
    out = layer(torch.zeros(1, groups * cin, h, w))
    assert out.shape[2:] == (h + top + bottom - k + 1, w + left + right - k + 1)


def test_it_leaves_to_torch_what_the_kernels_do_not_cover() -> None:
    x = torch.zeros(2, 4, 8, 8)
    plain = nn.Conv2d(4, 4, 3, groups=2)
    assert not kernel_applies(plain, x, plain.weight, 2)  # a CPU tensor
    assert padding_of(nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular")) is None


def test_in_training_they_pay_off_for_few_channels_on_small_maps_or_a_pooled_first_layer() -> None:
    side, few = int(TRAIN_MAP**0.5), TRAIN_GROUP
    small, large = torch.Size((10, 2 * few, side, side)), torch.Size((10, 2 * few, 28, 28))
    weight = torch.Size((2 * few, few, 7, 7))
    assert pays_off(small, weight, 2) and pays_off(small, weight, 2, pool="max")
    assert not pays_off(large, weight, 2) and not pays_off(large, weight, 2, pool="max")
    first = torch.Size((2 * few, 1, 7, 7))  # one input channel a group: a first layer
    images = torch.Size((10, 2, 28, 28))
    assert pays_off(images, first, 2, pool="max") and not pays_off(images, first, 2)
    assert not pays_off(small, torch.Size((2 * few + 2, few, 7, 7)), 2)  # more filters a group
    wide = torch.Size((10, 2 * few + 2, side, side))
    assert not pays_off(wide, torch.Size((2 * few, few + 1, 7, 7)), 2)  # more inputs a group


def test_a_training_step_is_one_whose_tensors_ask_for_gradients() -> None:
    x, weight = torch.zeros(2, 3), torch.zeros(3, 3, requires_grad=True)
    assert wants_gradients(x, weight, None)
    assert not wants_gradients(x, weight.detach(), None)
    with torch.no_grad():
        assert not wants_gradients(x, weight, None)


def test_in_a_forward_pass_alone_they_pay_off_with_a_pool_fused() -> None:
    x, most = torch.Size((300, 2, 28, 28)), FORWARD_GROUP
    assert pays_off(x, torch.Size((2 * most, 1, 7, 7)), 2, pool="avg", training=False)
    assert not pays_off(x, torch.Size((2 * most, 1, 7, 7)), 2, training=False)
    assert not pays_off(x, torch.Size((2 * most + 2, 1, 7, 7)), 2, pool="max", training=False)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_a_gpu_it_leaves_to_torch_what_the_kernels_do_not_cover() -> None:
    x = torch.zeros(2, 4, 8, 8, device="cuda")
    for layer in (nn.Conv2d(4, 4, 3, stride=2, groups=2), nn.Conv2d(4, 4, 3, dilation=2, groups=2),
                  nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular", groups=2),
                  nn.Conv2d(4, 4, (3, 5), groups=2)):
        assert not kernel_applies(layer.cuda(), x, layer.weight, 2)
    layer = nn.Conv2d(4, 4, 3, groups=2).cuda()
    assert not kernel_applies(layer, x.double(), layer.weight.double(), 2)
    assert not kernel_applies(layer, x.contiguous(memory_format=torch.channels_last),
                              layer.weight, 2)


needs_gpu = pytest.mark.skipif(
    not torch.cuda.is_available() or importlib.util.find_spec("triton") is None,
    reason="the Triton convolution kernels need a CUDA GPU and Triton",
)


@pytest.mark.gpu
@needs_gpu
def test_on_a_gpu_the_switch_chooses_where_the_kernels_run(monkeypatch) -> None:
    wide = nn.Conv2d(12, 12, 3, padding=1, groups=2).cuda()  # 6 channels a group
    small = nn.Conv2d(4, 4, 3, padding=1, groups=2).cuda()  # weights that ask for gradients
    x_wide = torch.zeros(2, 12, 8, 8, device="cuda")
    x_small = torch.zeros(2, 4, 8, 8, device="cuda")
    assert not kernel_applies(wide, x_wide, wide.weight, 2)  # auto: where they pay off
    assert kernel_applies(small, x_small, small.weight, 2)
    monkeypatch.setenv(ENV_OFF, "all")
    assert kernel_applies(wide, x_wide, wide.weight, 2)
    monkeypatch.setenv(ENV_OFF, " ALL ")  # case and spaces aside
    assert kernel_applies(wide, x_wide, wide.weight, 2)
    monkeypatch.setenv(ENV_OFF, "0")
    assert not kernel_applies(small, x_small, small.weight, 2)


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("pool", [None, "max", "avg"])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_on_a_gpu_the_kernels_give_torchs_numbers(geometry, relu, pool, monkeypatch) -> None:
    monkeypatch.setenv(ENV_OFF, "all")  # every geometry, paying off or not
    layer = nn.Conv2d(4, 4, 3, groups=2).cuda()
    assert kernel_applies(layer, torch.zeros(2, 4, 8, 8, device="cuda"), layer.weight, 2)
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        assert reference_and_ours(geometry, relu, "cuda", tiny_conv2d, pool) < 1e-5
    finally:
        torch.backends.cudnn.allow_tf32 = tf32


@pytest.mark.gpu
@needs_gpu
def test_on_a_gpu_the_kernels_replay_in_a_cuda_graph(monkeypatch) -> None:
    monkeypatch.setenv(ENV_OFF, "all")  # 28x28 maps in training: cuDNN's by default
    layer = nn.Conv2d(6, 9, 7, padding=3, padding_mode="reflect", groups=3).cuda()
    x = torch.randn(10, 6, 28, 28, device="cuda", requires_grad=True)

    def step():
        out = tiny_conv2d(layer, layer.weight, layer.bias, x, 3, relu=True, pool="max")
        return (out, *torch.autograd.grad(out.square().sum(), [x, layer.weight, layer.bias]))

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        eager = [t.clone() for t in step()]
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = step()
    graph.replay()
    torch.cuda.synchronize()
    for a, b in zip(eager, captured, strict=True):
        assert torch.equal(a, b)
