"""YourCNN: input sizes, pooling schedule, identity-initialised blocks, it learns."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from scratchlab.models import ResidualBlock, YourCNN, summary

DOCS = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def small(**kwargs) -> YourCNN:
    args = dict(channels=[8, 8, 16, 16], pool_every=2, stem_channels=8)
    return YourCNN((3, 32, 32), 10, **{**args, **kwargs})


def test_forward_on_32_and_28_pixel_inputs():
    net = YourCNN((3, 32, 32), 10).eval()
    with torch.no_grad():
        assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
        assert net(torch.randn(2, 3, 28, 28)).shape == (2, 10)


def test_pooling_never_collapses_the_map():
    net = small(channels=[8] * 12, pool_every=1, min_map_size=4)
    pools = [m for m in net.feature_extractor if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 3  # 32 -> 16 -> 8 -> 4, then no more
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_residual_blocks_start_as_identity():
    net = small()
    blocks = [m for m in net.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 2
    x = torch.rand(2, 8, 8, 8)  # non-negative, as after a ReLU
    torch.testing.assert_close(blocks[0](x), x)


def test_channels_last_gives_the_same_scores():
    torch.manual_seed(0)
    net = small().eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = net(x)
        out = net.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_fits_a_small_batch():
    torch.manual_seed(0)
    net = YourCNN(
        (3, 8, 8), 10, [8, 8, 16, 16], 2, [], dropout=0.0, stem_channels=8, min_map_size=2
    )
    x, y = torch.randn(32, 3, 8, 8), torch.arange(32) % 10
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        opt.zero_grad()
        scores = net(x)
        loss = nn.functional.cross_entropy(scores, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert (scores.argmax(1) == y).all()


def test_docs_state_the_parameter_count():
    params = summary(YourCNN((3, 32, 32), 10), (3, 32, 32)).params
    numbers = {int(n.replace(",", "")) for n in re.findall(r"\d[\d,]{4,}", DOCS.read_text())}
    assert params in numbers


def test_groups_become_residual_blocks_of_two_or_three():
    net = small(channels=[8] * 6 + [16] * 4, pool_every=6)
    blocks = [m for m in net.modules() if isinstance(m, ResidualBlock)]
    convs = [len([c for c in b.main_path if isinstance(c, nn.Conv2d)]) for b in blocks]
    assert convs == [2, 3, 3]  # after each group's first conv: 5 convs (2 + 3), then 3 convs (3)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_pool_position_before_group_keeps_the_first_group_at_full_resolution():
    def conv_sides(model):
        sides = []
        hooks = [
            m.register_forward_hook(lambda _m, _i, out: sides.append(out.shape[-1]))
            for m in model.feature_extractor.modules()
            if isinstance(m, nn.Conv2d)
        ]
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, 32, 32))
        for hook in hooks:
            hook.remove()
        return sides

    kwargs = dict(channels=[8, 8, 8, 16, 16, 16, 32, 32, 32], pool_every=3)
    before = small(**kwargs, pool_position="before_group")
    assert sorted(set(conv_sides(before)), reverse=True) == [32, 16, 8]
    # after_widen: pools right after the stem group's conv
    assert max(conv_sides(small(**kwargs))[2:]) == 16
    assert summary(before, (3, 32, 32)).params == summary(small(**kwargs), (3, 32, 32)).params


def test_bad_pool_position_is_a_config_error():
    import pytest

    from scratchlab.errors import ConfigError

    with pytest.raises(ConfigError, match="pool_position"):
        small(pool_position="sometimes")


def test_width_multiplier_scales_every_width():
    import torch
    from torch import nn

    from scratchlab.models import YourCNN

    base = YourCNN((3, 32, 32), 10, channels=[8, 16], pool_every=1, stem_channels=4)
    wide = YourCNN(
        (3, 32, 32), 10, channels=[8, 16], pool_every=1, stem_channels=4, width_multiplier=3
    )
    widths = [m.out_channels for m in base.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in wide.modules() if isinstance(m, nn.Conv2d)] == [
        3 * w for w in widths
    ]
    assert wide(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
