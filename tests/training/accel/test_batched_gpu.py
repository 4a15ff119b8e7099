"""The batched trainer on a GPU: graphed epochs, the epoch queue and the fused epoch end change
no number."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from scratchlab.training import EarlyStopping, TensorLoader
from scratchlab.training.accel import BatchedTrainer, batched, batched_epoch_end
from scratchlab.training.accel.batched_epoch_end import ENV_OFF


def _helpers():
    """test_batched.py's helpers (tests import with importlib: no sibling on sys.path)."""
    spec = importlib.util.spec_from_file_location("_batched_helpers",
                                                  Path(__file__).with_name("test_batched.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_kit = _helpers()
assert_same_fit, loaders, make_model = _kit.assert_same_fit, _kit.loaders, _kit.make_model
make_optimizer, train_alone = _kit.make_optimizer, _kit.train_alone

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def on_gpu(seeds):
    """Each seed's train and test loaders, their tensors on the GPU."""
    return [(TensorLoader(*(t.cuda() for t in tr.tensors), batch_size=8, shuffle=True, seed=s),
             TensorLoader(*(t.cuda() for t in te.tensors), batch_size=6))
            for s, (tr, te) in zip(seeds, (loaders(s, False) for s in seeds), strict=True)]


@pytest.mark.parametrize("model_kind", ["mlp", "cnn"])
def test_cuda_graph_epochs_equal_eager_epochs_and_the_single_path(model_kind):
    def run(cuda_graphs):
        models = [make_model(model_kind, s) for s in (0, 1, 2)]
        optimizers = [make_optimizer("momentum", m, 0.05, 1e-3) for m in models]
        moved = on_gpu((0, 1, 2))
        stoppers = [None, EarlyStopping(patience=1, min_delta=100.0), None]
        return BatchedTrainer(models, optimizers, device="cuda", cuda_graphs=cuda_graphs).fit(
            [m[0] for m in moved], [m[1] for m in moved], 5, early_stopping=stoppers
        )

    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # full float32 convolutions, as on the CPU
    try:
        graphed, eager = run(True), run(False)
        for a, b in zip(graphed, eager, strict=True):
            assert_same_fit(b, a, rtol=1e-6)
        assert graphed[1].num_epochs == 2
        fit, *_ = train_alone(model_kind, "momentum", 0, 0.05, 1e-3, 5)
        assert_same_fit(fit, graphed[0], rtol=1e-4)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32


def test_the_epoch_queue_limit_changes_no_number(monkeypatch):
    def run(queued):
        monkeypatch.setattr(batched, "MAX_EPOCHS_QUEUED", queued)
        models = [make_model("cnn", s) for s in (0, 1)]
        optimizers = [make_optimizer("momentum", m, 0.05, 1e-3) for m in models]
        moved = on_gpu((0, 1))
        trainer = BatchedTrainer(models, optimizers, device="cuda")
        fits = [trainer.prepare([m[0] for m in moved], [m[1] for m in moved], 6)]
        return batched.fit_many(fits)[0]

    for one, many in zip(run(1), run(10**6), strict=True):
        assert_same_fit(many, one, rtol=0)


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="the kernel needs Triton")
@pytest.mark.parametrize("model_kind", ["mlp", "cnn"])
def test_the_fused_epoch_end_gives_the_torch_versions_fits(model_kind, monkeypatch):
    """Early stopping on each monitor, a diverging model and the best weights: the same fits and
    outcomes with the epoch's end in one kernel as in torch's operations."""
    seeds = (0, 1, 2, 3, 4)
    launches = []  # epochs ended by the kernel
    fused_end = batched_epoch_end.end_epoch
    monkeypatch.setattr(batched_epoch_end, "end_epoch",
                        lambda *args: launches.append(1) or fused_end(*args))

    def run(fused):
        monkeypatch.setenv(ENV_OFF, "1" if fused else "0")
        models = [make_model(model_kind, s) for s in seeds]
        optimizers = [make_optimizer("momentum", m, lr, 0.0)
                      for m, lr in zip(models, (0.05, 0.05, 0.05, 1e30, 0.2), strict=True)]
        stoppers = [EarlyStopping(patience=1, monitor="test_loss", min_delta=0.05),
                    EarlyStopping(patience=2, monitor="test_acc"),
                    EarlyStopping(patience=1, monitor="train_loss", min_delta=0.01), None,
                    EarlyStopping(patience=2, monitor="train_acc")]
        moved = on_gpu(seeds)
        trainer = BatchedTrainer(models, optimizers, device="cuda")
        fits = trainer.fit([m[0] for m in moved], [m[1] for m in moved], 8,
                           early_stopping=stoppers, keep_best=True)
        return fits, trainer.outcomes

    (fused, fused_outcomes), count = run(True), len(launches)
    plain, plain_outcomes = run(False)
    assert count > 0 and len(launches) == count  # the kernel ran, and only in the first
    for a, b in zip(fused, plain, strict=True):
        assert_same_fit(b, a, rtol=0)
    for a, b in zip(fused_outcomes, plain_outcomes, strict=True):
        assert (a.stopped, a.failure, a.best_epoch) == (b.stopped, b.failure, b.best_epoch)
        # the monitored value's float64 mean may differ in its last bit (another order)
        assert (a.early_stopping or {}).keys() == (b.early_stopping or {}).keys()
        for key, value in (b.early_stopping or {}).items():
            mine = a.early_stopping[key]
            assert mine == (pytest.approx(value, rel=1e-12) if isinstance(value, float)
                            else value), key
        for name, value in b.best_state.items():  # a diverged model's may hold NaNs
            torch.testing.assert_close(a.best_state[name], value, rtol=0, atol=0,
                                       equal_nan=True, msg=name)
    assert fused_outcomes[3].failure is not None
    assert any(o.stopped for o in fused_outcomes) and len({f.num_epochs for f in fused}) > 1
