"""Batch transforms for device-resident tensors, against pad/roll references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.data import transforms as T
from scratchlab.errors import ShapeError


def images(n=6, c=3, h=8, w=8, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, h, w, generator=g)
    return (x * 255).to(torch.uint8) if dtype == torch.uint8 else x.to(dtype)


@pytest.mark.parametrize("dy,dx", [(0, 0), (2, 2), (0, 3), (4, 1)])
def test_crop_with_zero_padding_equals_roll_reference(dy, dx):
    p = 2
    x = images()
    out = T.batch_crop(x, p, torch.full((6,), dy), torch.full((6,), dx), mode="zeros")
    assert out.shape == x.shape
    # Shifting by (p - dy, p - dx) with torch.roll and zeroing what wrapped round is the same.
    sy, sx = p - dy, p - dx
    ref = torch.roll(x, shifts=(sy, sx), dims=(2, 3))
    rows = torch.arange(8)[:, None] - sy
    cols = torch.arange(8)[None, :] - sx
    valid = (rows >= 0) & (rows < 8) & (cols >= 0) & (cols < 8)
    assert torch.equal(out, ref * valid)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.uint8])
def test_crop_reflect_equals_pad_then_slice(dtype):
    p = 3
    x = images(dtype=dtype)
    dy = torch.tensor([0, 1, 2, 3, 5, 6])
    dx = torch.tensor([6, 0, 4, 3, 2, 1])
    out = T.batch_crop(x, p, dy, dx, mode="reflect")
    padded = F.pad(x.double(), (p,) * 4, mode="reflect").to(dtype)
    for i in range(len(x)):
        assert torch.equal(out[i], padded[i, :, dy[i] : dy[i] + 8, dx[i] : dx[i] + 8])
    assert out.dtype == dtype


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 1000), padding=st.integers(0, 4), mode=st.sampled_from(["reflect", "zeros"])
)
def test_random_crop_is_some_window_of_the_padded_image(seed, padding, mode):
    x = images(n=5, seed=seed)
    g = torch.Generator().manual_seed(seed)
    out = T.batch_random_crop(x, padding, generator=g, mode=mode)
    assert out.shape == x.shape
    padded = F.pad(x, (padding,) * 4, mode="reflect" if mode == "reflect" else "constant")
    span = range(2 * padding + 1)
    for i in range(len(x)):
        assert any(
            torch.equal(out[i], padded[i, :, a : a + 8, b : b + 8]) for a in span for b in span
        )


def test_random_crop_is_seeded_and_varies():
    x = images(n=64)
    a = T.batch_random_crop(x, 2, generator=torch.Generator().manual_seed(1))
    b = T.batch_random_crop(x, 2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    changed = (a != x).flatten(1).any(dim=1)
    assert 0 < changed.sum() < 64  # offset (2, 2) keeps an image unchanged, others move


def test_random_flip_flips_some_images_exactly():
    x = images(n=64)
    out = T.batch_random_flip(x, generator=torch.Generator().manual_seed(0))
    same = (out == x).flatten(1).all(dim=1)
    flipped = (out == x.flip(-1)).flatten(1).all(dim=1)
    assert (same | flipped).all() and 10 < flipped.sum() < 54


def test_alternating_flip_flips_complementary_halves():
    x = images(n=32)
    base = T.flip_mask(32, generator=torch.Generator().manual_seed(0))
    even = T.batch_alternating_flip(x, 4, base)
    odd = T.batch_alternating_flip(x, 5, base)
    flipped_even = (even == x.flip(-1)).flatten(1).all(dim=1) & (even != x).flatten(1).any(dim=1)
    flipped_odd = (odd == x.flip(-1)).flatten(1).all(dim=1) & (odd != x).flatten(1).any(dim=1)
    assert torch.equal(flipped_even, base) and torch.equal(flipped_odd, ~base)
    assert torch.equal(T.batch_alternating_flip(x, 0, base), even)
    with pytest.raises(ShapeError):
        T.batch_alternating_flip(x, 0, base[:3])


def test_normalize_uint8_and_float():
    x = images(n=4, dtype=torch.uint8)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    out = T.normalize(x, mean, std)
    ref = torch.stack([(x[:, c].float() / 255 - mean[c]) / std[c] for c in range(3)], dim=1)
    assert out.dtype == torch.float32 and torch.allclose(out, ref, atol=1e-6)
    assert torch.allclose(T.normalize(x.float() / 255, mean, std), ref, atol=1e-6)
    assert torch.allclose(T.normalize(x[0].float() / 255, mean, std), ref[0], atol=1e-6)
    assert torch.allclose(
        T.Normalize(mean, std)(x[0].float() / 255), ref[0], atol=1e-6
    )  # agrees with torchvision's


def test_shape_checks():
    with pytest.raises(ShapeError):
        T.batch_random_flip(torch.rand(3, 8, 8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batch_ops_on_cuda():
    x = images(n=8).cuda()
    g = torch.Generator(device="cuda").manual_seed(0)
    assert T.batch_random_crop(x, 2, generator=g).device.type == "cuda"
    assert T.batch_random_flip(x, generator=torch.Generator().manual_seed(0)).device.type == "cuda"
    mask = T.flip_mask(8, device="cuda")
    assert T.batch_alternating_flip(x, 1, mask).device.type == "cuda"
