"""Tiny, fast experiment configs on the bundled digits data."""

from __future__ import annotations

import pytest

TINY = {
    "dataset": "digits",
    "test_split": "valid",
    "model_type": "mlp",
    "hidden_dims": [16],
    "epochs": 3,
    "batches": 5,
    "bs_train": 32,
    "bs_test": 128,
    "early_stopping": None,
    "device": "cpu",
    "lr": 0.01,
}


@pytest.fixture
def tiny(tmp_path):
    """Fields of a run that trains in well under a second, writing into tmp_path/results."""
    return {**TINY, "out_dir": str(tmp_path / "results")}
