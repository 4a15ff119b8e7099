"""The fast trainer and its parts: whitening, flips, cutout, schedule, averaging, TTA, the model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from torch import nn

from scratchlab.data.transforms import batch_cutout, channel_stats, tta_views
from scratchlab.errors import ConfigError
from scratchlab.models import build_model
from scratchlab.models.fastcnn import FastCNN, WhiteningConv
from scratchlab.training import Callback, TensorLoader
from scratchlab.training.accel.fast import FastSettings, FastTrainer, compiled, make_fast_loaders
from scratchlab.training.accel.fast_data import FastLoader
from scratchlab.training.accel.fast_optim import Lookahead, ema_decay, lr_factor, sgd_param_groups
from scratchlab.training.accel.fast_settings import from_airbench
from scratchlab.util import seed_everything

TINY = dict(in_size=(3, 12, 12), out_classes=3, channels=[8, 8, 16, 16], pool_every=2)


pytestmark = pytest.mark.usefixtures("one_thread")


def colour_classes(n: int, seed: int, size: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images whose class (0..2) is the channel that is brighter: unchanged by flips and
    shifts."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randint(0, 140, (n, 3, size, size), generator=g)
    x[torch.arange(n), y] += 60
    return x.to(torch.uint8), y


def tiny_settings(**changes) -> FastSettings:
    base = dict(ema_start_epoch=1, whiten_bias_epochs=1, whiten_samples=64, translate=1)
    return FastSettings(**{**base, **changes})


def tiny_trainer(model, settings: FastSettings, **kw) -> FastTrainer:
    """airbench's lr 20 per 1024 examples, in scratchlab's units for batches of 32."""
    lr, reg = from_airbench(20.0, 0.0153, momentum=0.85, batch_size=32)
    return FastTrainer(
        model, settings, lr=lr, reg=reg, momentum=0.85, label_smoothing=0.2, device="cpu", **kw
    )


def tiny_loaders(x, y, xt, yt, settings: FastSettings, seed: int = 0):
    return make_fast_loaders(x, y, xt, yt, settings, batch_size=32, test_batch_size=50, seed=seed)


def tiny_run(epochs: int = 3, seed: int = 0, **changes):
    seed_everything(seed)
    s = tiny_settings(**changes)
    x, y = colour_classes(160, seed=1)
    xt, yt = colour_classes(100, seed=2)
    train, test = tiny_loaders(x, y, xt, yt, s, seed=seed)
    model = FastCNN(**TINY)
    trainer = tiny_trainer(model, s)
    return model, trainer, train, test, trainer.fit(train, test, epochs, print_every=0)


# ---- whitening ---------------------------------------------------------------------------------
def test_whitening_layer_decorrelates_patches():
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(3, 3, generator=g) + 2 * torch.eye(3)
    images = torch.einsum("dc,nchw->ndhw", mix, torch.randn(40, 3, 12, 12, generator=g))
    images = F.avg_pool2d(images, 3, 1, 1)  # neighbouring pixels correlate too
    layer = WhiteningConv(3, kernel_size=2)
    layer.init_whiten(images, eps=1e-7)
    with torch.no_grad():
        layer.bias.zero_()
        out = layer(images)[:, :12]  # the second half is the negative of the first
    flat = out.permute(0, 2, 3, 1).reshape(-1, 12).double()
    second_moment = flat.T @ flat / len(flat)
    torch.testing.assert_close(second_moment, torch.eye(12, dtype=torch.float64), atol=2e-3, rtol=0)
    torch.testing.assert_close(layer(images)[:, 12:], -layer(images)[:, :12])


@pytest.fixture(scope="module")
def trained():
    """A 3-epoch run of the tiny setup: (model, trainer, train loader, test loader, FitResult)."""
    return tiny_run(epochs=3)


def test_whitening_weights_stay_frozen_while_the_rest_trains(trained):
    model, trainer, train, *_ = trained
    fitted = WhiteningConv(3, 2)
    fitted.init_whiten(train.head(64))
    assert not model.whiten.weight.requires_grad
    assert torch.equal(model.whiten.weight, fitted.weight)  # as fitted before training
    optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert id(model.whiten.weight) not in optimized and id(model.head.weight) in optimized


def test_whitening_bias_trains_only_in_the_first_epochs():
    model = FastCNN(**TINY)
    x = torch.randn(4, 3, 12, 12)
    model(x).sum().backward()
    assert model.whiten.bias.grad is not None
    model.zero_grad(set_to_none=True)
    model.set_whiten_bias_trainable(False)
    model(x).sum().backward()
    assert model.whiten.bias.grad is None and model.head.weight.grad is not None


# ---- data --------------------------------------------------------------------------------------
def test_alternating_flip_shows_every_image_once_each_way_over_two_epochs():
    n = 40
    images = torch.randint(0, 255, (n, 3, 8, 8), dtype=torch.uint8)
    loader = FastLoader(
        images,
        torch.arange(n),
        8,
        mean=[0.5] * 3,
        std=[0.25] * 3,
        train=True,
        flip="alternating",
        seed=3,
    )
    plain = loader.images
    flipped_in = []
    for _ in range(2):
        seen = {}
        for x, y in loader:
            seen.update({int(label): img for label, img in zip(y, x, strict=True)})
        assert sorted(seen) == list(range(n))
        is_flipped = torch.tensor([torch.equal(seen[i], plain[i].flip(-1)) for i in range(n)])
        assert all(
            torch.equal(seen[i], plain[i].flip(-1) if is_flipped[i] else plain[i]) for i in range(n)
        )
        flipped_in.append(is_flipped)
    assert torch.equal(flipped_in[0], ~flipped_in[1])
    assert 0 < int(flipped_in[0].sum()) < n  # a random part of the images, not all or none


def test_translation_moves_each_image_within_the_padding():
    images = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 1, 8, 8) / 128
    loader = FastLoader(
        images, torch.arange(2), 2, mean=[0.0], std=[1.0], train=True, translate=2, seed=0
    )
    for epoch in range(5):
        out = loader.epoch_images(epoch)
        padded = F.pad(loader.images, (2, 2, 2, 2), mode="reflect")
        for i in range(2):
            windows = [padded[i, :, dy : dy + 8, dx : dx + 8] for dy in range(5) for dx in range(5)]
            assert any(torch.equal(out[i], w) for w in windows)


def test_cutout_zeroes_one_square_per_image():
    x = torch.ones(20, 3, 10, 10)
    out = batch_cutout(x, 4, torch.Generator().manual_seed(0))
    zero = out[:, 0] == 0
    assert (zero.sum(dim=(1, 2)) == 16).all()
    assert torch.equal(zero[:, None].expand_as(out), out == 0)  # same square in every channel
    rows, cols = zero.any(2), zero.any(1)
    assert (rows.sum(1) == 4).all() and (cols.sum(1) == 4).all()
    with pytest.raises(ConfigError):
        batch_cutout(x, 11)


def test_channel_stats_match_numpy():
    x = torch.randint(0, 256, (10, 3, 4, 4), dtype=torch.uint8)
    mean, std = channel_stats(x)
    ref = x.numpy().astype(np.float64).transpose(1, 0, 2, 3).reshape(3, -1) / 255
    np.testing.assert_allclose(mean.numpy(), ref.mean(1), rtol=1e-5)
    np.testing.assert_allclose(std.numpy(), ref.std(1, ddof=1), rtol=1e-4)


def test_test_loader_keeps_order_and_last_partial_batch():
    x, y = colour_classes(25, seed=0)
    loader = FastLoader(x, y, 10, mean=[0.5] * 3, std=[0.2] * 3)
    batches = list(loader)
    assert [len(b[1]) for b in batches] == [10, 10, 5]
    assert torch.equal(torch.cat([b[1] for b in batches]), y)


# ---- test-time augmentation ---------------------------------------------------------------------
def test_tta_is_the_documented_weighted_mean_of_six_views():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(2 * 6 * 6, 4))
    x = torch.randn(5, 2, 6, 6)
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    up, down = padded[:, :, :6, :6], padded[:, :, 2:, 2:]

    def mirror(v):
        return 0.5 * net(v) + 0.5 * net(v.flip(-1))

    expected = 0.5 * mirror(x) + 0.25 * mirror(up) + 0.25 * mirror(down)

    def tta_logits(forward, x, level):
        return sum(w * forward(v) for w, v in tta_views(x, level))

    torch.testing.assert_close(tta_logits(net, x, 2), expected)
    torch.testing.assert_close(tta_logits(net, x, 1), mirror(x))
    torch.testing.assert_close(tta_logits(net, x, 0), net(x))
    assert sum(w for w, _ in tta_views(x, 2)) == pytest.approx(1.0)
    assert tta_views(x, 2)[0][1] is x


# ---- optimisation ------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    total=st.integers(1, 500),
    start=st.floats(0, 1),
    peak=st.floats(0, 1),
    end=st.floats(0, 1),
    data=st.data(),
)
def test_lr_schedule_is_the_piecewise_linear_interpolation(total, start, peak, end, data):
    step = data.draw(st.integers(0, total))
    top = int(peak * total)
    if 0 < top < total:
        expected = np.interp(step, [0, top, total], [start, 1.0, end])
    elif top == 0:
        expected = np.interp(step, [0, total], [1.0, end])
    else:
        expected = np.interp(step, [0, total], [start, 1.0])
    assert lr_factor(step, total, start, peak, end) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("batch_size", [1024, 512])
def test_airbench_units_convert_to_the_same_sgd_steps(batch_size):
    """airbench: torch SGD on the summed loss with rate lr / (1024 (1 + 1/(1-m))) and a decay
    per step of wd * B times that rate over lr; ours: the batch-mean loss with (lr, reg)."""
    m, lr_air, wd_air = 0.85, 11.5, 0.0153
    lr, reg = from_airbench(lr_air, wd_air, m, batch_size)
    air_rate = lr_air / (1024 * (1 + 1 / (1 - m)))
    assert lr / batch_size == pytest.approx(air_rate, rel=1e-12)  # the same step per summed grad
    assert lr * reg == pytest.approx(wd_air * batch_size * air_rate / lr_air, rel=1e-12)


def test_param_groups_scale_batchnorm_rates_and_keep_the_decay_per_step():
    model = FastCNN(**TINY)
    groups = sgd_param_groups(model, lr=1.5, reg=0.00133, bias_lr_scale=64)
    norms, others = groups
    assert norms["lr"] == pytest.approx(64 * 1.5) and others["lr"] == pytest.approx(1.5)
    for group in groups:  # the same decay step lr * reg in every group
        assert group["lr"] * group["weight_decay"] == pytest.approx(1.5 * 0.00133)
    bn_biases = {id(m.bias) for m in model.modules() if isinstance(m, nn.BatchNorm2d)}
    assert {id(p) for p in norms["params"]} == bn_biases
    assert all(p.requires_grad for g in groups for p in g["params"])


def test_lookahead_update_is_the_documented_average():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ema = Lookahead(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model[1].running_mean.add_(2.0)
        model[1].num_batches_tracked.add_(7)
    after = {k: v.clone() for k, v in model.state_dict().items()}
    ema.update(0.8)
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.8 * before[key] + 0.2 * after[key])
        else:
            assert torch.equal(value, after[key])
    with torch.no_grad():
        model[0].weight.add_(5.0)
    ema.update(1.0)  # copies the average back
    torch.testing.assert_close(model[0].weight, 0.8 * before["0.weight"] + 0.2 * after["0.weight"])


def test_ema_decay_grows_to_its_final_value():
    values = [ema_decay(s, 100, 0.95, 5) for s in range(0, 101, 5)]
    assert values[0] == 0 and values[-1] == pytest.approx(0.95**5)
    assert all(a < b for a, b in itertools.pairwise(values))


# ---- the trainer -------------------------------------------------------------------------------
def test_fast_trainer_learns_and_reports_like_the_others(trained):
    _model, trainer, train, _, fit = trained
    assert fit.num_epochs == 3 and len(fit.train_loss) == 3 * len(train)
    assert len(fit.test_loss) == 3 * 2
    assert fit.test_acc[-1] > 60.0 and fit.test_acc[-1] > fit.test_acc[0] - 1e-9
    assert trainer.final_plain_acc is not None and 0 <= trainer.final_plain_acc <= 100
    assert trainer.step == trainer.num_epochs * trainer.steps_per_epoch == 3 * len(train)
    # averaging began at epoch 1 and the weights end as the average
    for value, average in zip(trainer.lookahead.tensors, trainer.lookahead.average, strict=True):
        assert torch.equal(value, average)


def test_without_tta_the_last_accuracy_is_the_plain_one():
    _, trainer, _, _test, fit = tiny_run(epochs=1, tta_level=0, ema=False)
    assert trainer.lookahead is None
    assert fit.test_acc[-1] == trainer.final_plain_acc


def test_resume_after_an_interruption_gives_the_same_run(trained, tmp_path):
    straight = trained[-1]

    def interrupted():
        seed_everything(0)
        s = tiny_settings()
        x, y = colour_classes(160, seed=1)
        xt, yt = colour_classes(100, seed=2)
        train, test = tiny_loaders(x, y, xt, yt, s, seed=0)
        return tiny_trainer(FastCNN(**TINY), s), train, test

    class Stop(Exception):
        pass

    class StopAfterTwo(Callback):
        def on_epoch_end(self, trainer, train_result, test_result):
            if trainer.epochs_done == 2:
                raise Stop

    trainer, train, test = interrupted()
    with pytest.raises(Stop):
        trainer.fit(
            train,
            test,
            3,
            checkpoints=tmp_path / "run",
            resume=True,
            print_every=0,
            callbacks=[StopAfterTwo()],
        )
    trainer, train, test = interrupted()
    resumed = trainer.fit(train, test, 3, checkpoints=tmp_path / "run", resume=True, print_every=0)
    assert resumed.train_loss == pytest.approx(straight.train_loss, rel=1e-5)
    assert resumed.test_acc == pytest.approx(straight.test_acc)


def test_fast_trainer_takes_a_tensor_loader_too():
    seed_everything(0)
    x, y = colour_classes(96, seed=3)
    loader = TensorLoader(x.float() / 255, y, batch_size=32, shuffle=True, seed=0)
    model = FastCNN(**TINY)
    fit = tiny_trainer(model, tiny_settings(tta_level=1)).fit(loader, loader, 1, print_every=0)
    fitted = WhiteningConv(3, 2)
    fitted.init_whiten(x[:64].float() / 255)
    assert torch.equal(model.whiten.weight, fitted.weight) and fit.num_epochs == 1


def test_compiled_wrapper_is_made_once_per_model_and_mode():
    model = FastCNN(**TINY)
    trainer = tiny_trainer(model, tiny_settings(), compile=True)
    again = tiny_trainer(model, tiny_settings(), compile=True)
    assert trainer.forward is again.forward is compiled(model)
    assert compiled(model, "max-autotune") is not compiled(model)
    assert compiled(FastCNN(**TINY)) is not compiled(model)
    assert "_compiled_forward" not in "".join(model.state_dict())


def test_settings_reject_bad_values():
    with pytest.raises(ValidationError, match="flip"):
        FastSettings(flip="sideways")
    with pytest.raises(ConfigError, match="flip"):
        FastLoader(
            torch.zeros(2, 3, 4, 4), torch.zeros(2), 1, mean=[0] * 3, std=[1] * 3, flip="sideways"
        )


# ---- the model ---------------------------------------------------------------------------------
def test_fastcnn_starts_as_identity_and_freezes_batchnorm_scales():
    model = build_model({"model_type": "yourcnn_fast", **TINY})
    assert isinstance(model, FastCNN)
    convs = [
        m for m in model.modules() if isinstance(m, nn.Conv2d) and not isinstance(m, WhiteningConv)
    ]
    for conv in convs:
        expected = torch.zeros_like(conv.weight[: conv.in_channels])
        nn.init.dirac_(expected)
        assert torch.equal(conv.weight[: conv.in_channels], expected)
    assert all(
        not m.weight.requires_grad and m.bias.requires_grad
        for m in model.modules()
        if isinstance(m, nn.BatchNorm2d)
    )
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    widths = [24, 8, 8, 16, 16]
    expected = sum(a * b * 3 * 3 for a, b in itertools.pairwise(widths))
    expected += 24 + sum(widths[1:]) + 16 * 3  # whitening bias, BatchNorm shifts, head
    assert params == expected
    plain = FastCNN(**TINY, identity_init=False, whiten=False)
    assert plain.whiten.weight.requires_grad
    assert not torch.equal(plain.features[2].convs[1].weight[:8], convs[1].weight[:8])


def test_fastcnn_groups_of_three_add_a_residual():
    model = FastCNN((3, 16, 16), 10, channels=[8, 8, 8], pool_every=3)
    group = model.features[2]
    assert group.residual
    x = torch.randn(2, 24, 8, 8)
    with torch.no_grad():
        for conv in group.convs[1:]:
            # the main path gives 0 (then BN shift 0): the output is act(x0) + 0
            conv.weight.zero_()
        model.eval()
        first = group.activation(group.norms[0](group.pool(group.convs[0](x))))
        torch.testing.assert_close(group(x), group.activation(first))


def test_fastcnn_rejects_too_small_inputs():
    with pytest.raises(ConfigError, match=r"shrinks the map|cannot take"):
        FastCNN((3, 8, 8), 10, channels=[4, 4, 4, 4, 4, 4], pool_every=2)


def test_tta_views_keep_a_channels_last_batch_channels_last():
    x = torch.randn(4, 3, 8, 8)
    last = x.contiguous(memory_format=torch.channels_last)
    for (wa, a), (wb, b) in zip(tta_views(x, 2), tta_views(last, 2), strict=True):
        assert wa == wb and torch.equal(a, b)
        assert a.is_contiguous() and b.is_contiguous(memory_format=torch.channels_last)
    assert tta_views(last, 2)[0][1] is last
