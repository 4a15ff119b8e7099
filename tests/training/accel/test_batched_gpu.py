"""The batched trainer on a GPU: graphed epochs, the epoch queue and the fused epoch end change
no number."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from scratchlab.training import EarlyStopping, TensorLoader
from scratchlab.training.accel import BatchedTrainer, batched


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
