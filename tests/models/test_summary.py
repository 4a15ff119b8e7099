"""summary: parameters, multiply-adds and receptive field against formulas and gradients."""

from __future__ import annotations

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from scratchlab.errors import ShapeError
from scratchlab.models import CNN, ResNet, summary


def test_linear_and_conv_flops_match_formula(conv_out):
    linear = summary(nn.Linear(20, 30), (20,))
    assert linear.flops == 20 * 30
    conv = nn.Conv2d(3, 8, 5, stride=2, padding=1)
    side = conv_out(17, 5, 2, 1)
    assert summary(conv, (3, 17, 17)).flops == 8 * side * side * 3 * 5 * 5
    grouped = nn.Conv2d(4, 8, 3, groups=2)
    assert summary(grouped, (4, 6, 6)).flops == 8 * 4 * 4 * (4 // 2) * 3 * 3


def test_model_totals():
    model = CNN((3, 16, 16), 5, [4, 8], 1, [10])
    s = summary(model, (3, 16, 16))
    assert s.params == sum(p.numel() for p in model.parameters())
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    expected = (
        4 * 16 * 16 * 3 * 9
        + 8 * 8 * 8 * 4 * 9
        + sum(m.in_features * m.out_features for m in linears)
    )
    assert len(convs) == 2 and s.flops == expected
    assert model.training  # mode restored
    text = str(s)
    assert f"{s.params:,}" in text and f"{s.flops:,}" in text and "feature_extractor.0" in text


def test_modes_are_restored_layer_by_layer():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    model[1].eval()
    summary(model, (4,))
    assert [m.training for m in model] == [True, False, True] and model.training


def test_params_count_trainable_only():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    model[0].weight.requires_grad_(False)
    assert summary(model, (4,)).params == 4 + 4 * 2 + 2


def gradient_field(net: nn.Module, in_size, pixel):
    """(rows, cols) of input pixels that get a non-zero gradient from one output pixel."""
    x = torch.rand(1, *in_size, dtype=torch.float64, requires_grad=True)
    out = net(x)
    out[0, 0, pixel[0], pixel[1]].backward()
    hit = x.grad[0].abs().sum(0) > 0
    rows, cols = hit.any(1).nonzero().flatten(), hit.any(0).nonzero().flatten()
    return (rows.min().item(), rows.max().item()), (cols.min().item(), cols.max().item())


def positive_twin(layers: list[nn.Module]) -> nn.Sequential:
    """The same geometry with positive weights and average pools: no gradient cancels or
    vanishes."""
    twin = []
    for layer in layers:
        if isinstance(layer, nn.MaxPool2d):
            layer = nn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding)
        if isinstance(layer, nn.Conv2d):
            with torch.no_grad():
                layer.weight.uniform_(0.5, 1.0)
        twin.append(layer)
    return nn.Sequential(*twin).double()


def test_receptive_field_of_classic_net_matches_gradients():
    layers = [
        nn.Conv2d(3, 4, 3, padding=1),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 5, stride=2, padding=2),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 1, 7, dilation=2, padding=3),
    ]
    net = nn.Sequential(*layers)
    in_size = (3, 200, 200)
    s = summary(net, in_size)
    assert isinstance(s.receptive_field, int)
    (r0, r1), (c0, c1) = gradient_field(positive_twin(layers), in_size, (9, 9))
    assert r0 > 0 and r1 < 199  # the field lies inside the image, so it is not clipped
    assert s.receptive_field == r1 - r0 + 1 == c1 - c0 + 1
    assert s.rf_start[0] + 9 * s.rf_stride[0] == r0


def test_non_square_field_is_a_pair():
    s = summary(nn.Conv2d(1, 1, (3, 5)), (1, 8, 8))
    assert s.receptive_field == (3, 5)


def test_resnet_field_includes_every_main_path_conv():
    net = ResNet((3, 32, 32), 2, [4, 4], 2, [], conv_params={"kernel_size": 5})
    assert summary(net, (3, 32, 32)).receptive_field == 1 + 4 + 4 + 1  # two 5x5 convs, pool 2


def test_wrong_input_size_is_a_shape_error():
    with pytest.raises(ShapeError):
        summary(nn.Linear(3, 2), (4,))


layer_spec = st.one_of(
    st.tuples(
        st.just("conv"), st.integers(1, 5), st.integers(1, 2), st.integers(0, 2), st.integers(1, 2)
    ),
    st.tuples(
        st.sampled_from(["max", "avg"]),
        st.integers(1, 3),
        st.integers(1, 3),
        st.integers(0, 1),
        st.just(1),
    ),
)


def build(spec) -> nn.Module:
    kind, k, s, p, d = spec
    p = min(p, k // 2)
    if kind == "conv":
        return nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
    return (nn.MaxPool2d if kind == "max" else nn.AvgPool2d)(k, s, p)


@settings(max_examples=30, deadline=None)
@given(st.lists(layer_spec, min_size=1, max_size=4))
def test_receptive_field_property(specs):
    layers = [build(spec) for spec in specs]
    n = 96
    try:
        with torch.no_grad():
            out_side = nn.Sequential(*layers)(torch.zeros(1, 1, n, n)).shape[-1]
    except RuntimeError:  # the chain shrinks the map to nothing
        assume(False)
    s = summary(nn.Sequential(*layers), (1, n, n))
    jump, start, field = s.rf_stride[0], s.rf_start[0], s.receptive_field
    inside = [u for u in range(out_side) if start + u * jump >= 0 and start + u * jump + field <= n]
    assume(inside)
    u = inside[len(inside) // 2]
    (r0, r1), _ = gradient_field(positive_twin(layers), (1, n, n), (u, u))
    assert (r0, r1 - r0 + 1) == (start + u * jump, field)
