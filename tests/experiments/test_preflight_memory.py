"""A sweep's models are checked against the device's free memory, read once per device."""

from __future__ import annotations

import pytest

from scratchlab.errors import ConfigError
from scratchlab.experiments import ExperimentConfig, preflight

from .conftest import TINY


def configs(tmp_path, widths):
    return [ExperimentConfig.create(**{**TINY, "run_name": f"w{w}", "out_dir": str(tmp_path),
                                       "model_type": "mlp", "hidden_dims": [w]})
            for w in widths]


def test_free_memory_is_read_once_for_a_whole_sweep(tmp_path, monkeypatch):
    reads = []
    monkeypatch.setattr(preflight, "available_memory", lambda d: reads.append(d) or 2**40)
    preflight.check_runs(configs(tmp_path, (4, 8, 16)))
    assert len(reads) == 1


def test_a_model_too_big_for_the_free_memory_is_refused_with_both_sizes(tmp_path, monkeypatch):
    monkeypatch.setattr(preflight, "available_memory", lambda d: 2**30 // 4)
    with pytest.raises(ConfigError, match=r"run w4194304: .*needs about [\d.]+ GiB .* but cpu has "
                                          r"0\.2 GiB free"):
        preflight.check_runs(configs(tmp_path, (4, 2**22)))
