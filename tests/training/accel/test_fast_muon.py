"""The fast trainer with Muon on the conv filters: recipe `cifar10-fast`, its optimizer groups and
schedules, a CPU smoke run, resume, and the fields it alone reads."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from scratchlab.errors import ConfigError
from scratchlab.experiments import RunData, build_trainer
from scratchlab.experiments.recipes import recipe_config
from scratchlab.optim import CombinedOptimizer, FilterMuon
from scratchlab.optim.muon import newton_schulz
from scratchlab.training import Callback
from scratchlab.training.accel import make_fast_loaders
from scratchlab.util import seed_everything

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_thread")


def colour_classes(n: int, seed: int, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images whose class (0..2) is the brighter channel: unchanged by flips and shifts."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randint(0, 140, (n, 3, size, size), generator=g)
    x[torch.arange(n), y] += 60
    return x.to(torch.uint8), y


def tiny_muon_run(seed: int = 0, images: int = 96, **overrides):
    """The quick `cifar10-fast` config on `images` tiny images (at least 48) that are both the
    training and the test set: (model, trainer, train loader, test loader, labels)."""
    seed_everything(seed)
    fields = {"epochs": 1, "bs_train": 16, "bs_test": 48, "device": "cpu", "whiten_samples": 48}
    config = recipe_config("cifar10-fast", quick=True, **{**fields, **overrides})
    x, y = colour_classes(images, seed=1)
    train, test = make_fast_loaders(x, y, x, y, config.fast, 16, 48, seed=seed)
    built = build_trainer(config, RunData(train, test, (3, 16, 16), 3, list("rgb")), CPU, [])
    return built.model, built.trainer, train, test, y


def test_the_recipe_is_airbench94_muon_in_scratchlab_units():
    """airbench94_muon: torch SGD on the loss summed over 2000 images, head rate 0.67, bias rate
    0.053, weight decay 2e-6 x 2000 / rate per group; ours: rates on the batch-mean loss. Where
    the recipe departs from it (8 epochs at label smoothing 0.1 in place of 0.2), it says so."""
    config = recipe_config("cifar10-fast")
    batch, o, f = 2000, config.optim, config.fast
    assert config.budget.bs_train == batch and config.budget.epochs == 8
    assert o.lr == pytest.approx(0.67 * batch, rel=1e-12)  # the same step per summed gradient
    assert o.lr * f.bias_lr_scale == pytest.approx(0.053 * batch, rel=1e-12)
    assert o.lr * o.reg == pytest.approx(2e-6 * batch, rel=1e-12)  # decay per step, every group
    assert (o.momentum, o.label_smoothing, config.fast.nesterov) == (0.85, 0.1, True)
    assert (f.filter_optimizer, f.muon_lr, f.muon_momentum, f.muon_ns_steps) == ("muon", 0.24,
                                                                                 0.6, 3)
    assert (f.lr_peak, f.lr_end, f.ema, f.whiten_bias_decay, f.whiten_bias_epochs) == (
        0.0, 0.0, False, True, 3)
    assert (f.tta_level, f.flip, f.translate, f.whiten_samples) == (2, "alternating", 2, 5000)
    options = config.model.model_options
    assert options["logit_scale"] == 1 / 256 and options["head_init_std"] == 1.0
    assert options["bn_momentum"] == pytest.approx(1 - 0.6)  # airbench's 0.6, torch's convention


def test_muon_takes_the_filters_and_sgd_the_rest():
    model, trainer, *_ = tiny_muon_run()
    sgd, muon = trainer.optimizer.optimizers
    assert isinstance(trainer.optimizer, CombinedOptimizer) and isinstance(muon, FilterMuon)
    filters = {id(p) for p in model.parameters() if p.requires_grad and p.dim() == 4}
    assert {id(p) for p in muon.param_groups[0]["params"]} == filters
    assert id(model.whiten.weight) not in filters  # frozen: trained by neither
    g = muon.param_groups[0]
    assert (g["momentum"], g["ns_steps"], g["nesterov"], g["normalize_weights"]) == (0.6, 3, True,
                                                                                     True)
    norms, head, whiten_bias = sgd.param_groups
    lr, reg = 1340.0, 2.9850746268656716e-06
    assert [p is model.head.weight for p in head["params"]] == [True]
    assert whiten_bias["params"][0] is model.whiten.bias and whiten_bias["whiten_bias"]
    assert norms["lr"] == whiten_bias["lr"] == pytest.approx(0.053 * 2000)
    for group in sgd.param_groups:
        assert group["lr"] * group["weight_decay"] == pytest.approx(lr * reg)
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert sorted(id(p) for g in trainer.optimizer.param_groups for p in g["params"]) == sorted(
        id(p) for p in trainable)


class LearningRates(Callback):
    def __init__(self) -> None:
        self.seen: list[list[float]] = []

    def on_batch_end(self, trainer, phase, result) -> None:
        if phase == "train":
            self.seen.append([g["lr"] / g["initial_lr"] for g in trainer.optimizer.param_groups])


def test_rates_fall_linearly_to_zero_and_the_whitening_bias_rate_within_its_epochs():
    _, trainer, train, test, _ = tiny_muon_run(whiten_bias_epochs=1)
    rates = LearningRates()
    trainer.fit(train, test, 2, print_every=0, callbacks=[rates])
    steps = 2 * len(train)
    assert len(rates.seen) == steps
    for step, (norms, head, whiten_bias, muon) in enumerate(rates.seen):
        assert [norms, head, muon] == pytest.approx([1 - step / steps] * 3, abs=1e-12)
        assert whiten_bias == pytest.approx(max(0.0, 1 - step / len(train)), abs=1e-12)


def test_one_epoch_on_cpu_trains_and_the_accuracy_on_a_tiny_overfit_set_rises():
    model, trainer, train, test, y = tiny_muon_run()
    model.eval()
    model.init_whiten(train.head(48))
    with torch.no_grad():
        before = 100 * (model(test.images).argmax(1) == y).float().mean().item()
    fit = trainer.fit(train, test, 1, print_every=0)
    assert all(math.isfinite(loss) for loss in fit.train_loss)
    assert fit.test_acc[-1] >= before + 20, (before, fit.test_acc)
    for p in trainer.optimizer.optimizers[1].param_groups[0]["params"]:  # renormalised each step
        assert p.norm().item() == pytest.approx(math.sqrt(p.shape[0]), rel=0.2)


def test_resume_after_an_interruption_gives_the_same_run(tmp_path):
    class Stop(Exception):
        pass

    class StopAfterOne(Callback):
        def on_epoch_end(self, trainer, train_result, test_result):
            raise Stop

    _, trainer, train, test, _ = tiny_muon_run()
    straight = trainer.fit(train, test, 2, print_every=0)
    _, trainer, train, test, _ = tiny_muon_run()
    with pytest.raises(Stop):
        trainer.fit(train, test, 2, checkpoints=tmp_path / "run", resume=True, print_every=0,
                    callbacks=[StopAfterOne()])
    _, trainer, train, test, _ = tiny_muon_run()
    resumed = trainer.fit(train, test, 2, checkpoints=tmp_path / "run", resume=True,
                          print_every=0)
    assert resumed.train_loss == pytest.approx(straight.train_loss, rel=1e-5)
    assert resumed.test_acc == pytest.approx(straight.test_acc)


def test_muon_fields_are_read_only_with_filter_optimizer_muon():
    with pytest.raises(ConfigError, match=r"muon_lr \(only filter_optimizer muon reads it"):
        recipe_config("cifar10-airbench94", muon_lr=0.1)
    with pytest.raises(ConfigError, match=r"whiten_bias_decay \(only model_type yourcnn_fast"):
        recipe_config("cifar10-airbench94", model_type="cnn", whiten_bias_decay=True)
    config = recipe_config("cifar10-airbench94", filter_optimizer="muon", muon_lr=0.1)
    assert config.fast.muon_lr == 0.1


def airbench_muon_steps(model, loader, epochs, batch, bias_epochs):
    """airbench94_muon's training loop as its facts state it, written out: torch SGD on the loss
    summed over the batch (rates 0.053 and 0.67, decay 2e-6 x batch / rate), Muon with a summed
    buffer on the filters, rates falling linearly to 0 (the whitening bias's within its epochs)."""
    wd, steps, bias_steps = 2e-6 * batch, epochs * len(loader), bias_epochs * len(loader)
    norm_biases = [m.bias for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    sgd = torch.optim.SGD([{"params": [model.whiten.bias], "lr": 0.053},
                           {"params": norm_biases, "lr": 0.053},
                           {"params": [model.head.weight], "lr": 0.67}],
                          momentum=0.85, nesterov=True)
    for group in sgd.param_groups:
        group["initial_lr"], group["weight_decay"] = group["lr"], wd / group["lr"]
    filters = [p for p in model.parameters() if p.dim() == 4 and p.requires_grad]
    buffers = [torch.zeros_like(p) for p in filters]
    step = 0
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for x, y in loader:
            model.set_whiten_bias_trainable(step < bias_steps)
            torch.nn.functional.cross_entropy(model(x), y, label_smoothing=0.2,
                                              reduction="sum").backward()
            sgd.param_groups[0]["lr"] = 0.053 * (1 - step / bias_steps)
            for group in sgd.param_groups[1:]:
                group["lr"] = group["initial_lr"] * (1 - step / steps)
            sgd.step()
            with torch.no_grad():
                for p, buf in zip(filters, buffers, strict=True):
                    buf.mul_(0.6).add_(p.grad)
                    update = p.grad + 0.6 * buf
                    p.mul_(math.sqrt(len(p)) / p.norm())
                    ortho = newton_schulz(update.reshape(len(p), -1), steps=3)
                    p.sub_(0.24 * (1 - step / steps) * ortho.view_as(p))
            model.zero_grad(set_to_none=True)
            step += 1


def test_the_trainer_takes_airbench94_muon_steps():
    """Our units (batch-mean loss, lr = 0.67 x batch) give airbench's summed-loss steps."""
    batch = 16  # 48 images: 3 steps an epoch, 6 in all (12 let float32 rounding grow tenfold)
    model, trainer, train, test, _ = tiny_muon_run(images=48, lr=0.67 * batch, tta_level=0,
                                                   whiten_bias_epochs=1, label_smoothing=0.2)
    reference = copy.deepcopy(model)
    trainer.fit(train, test, 2, print_every=0)
    reference.train()
    reference.init_whiten(train.head(48))
    train.reseed(0)
    airbench_muon_steps(reference, train, epochs=2, batch=batch, bias_epochs=1)
    for (name, ours), theirs in zip(model.state_dict().items(), reference.state_dict().values(),
                                    strict=True):
        # float32 rounding grows to about 2e-5 over the 6 steps; a rate 5% off gives 5e-3
        torch.testing.assert_close(ours, theirs, atol=1e-3, rtol=1e-3, msg=name)
