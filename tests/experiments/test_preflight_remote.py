"""Runs that a Ray cluster trains are checked here for their output folders only."""

from __future__ import annotations

import pytest
import torch

from scratchlab.errors import ScratchlabError
from scratchlab.experiments import ExperimentConfig
from scratchlab.experiments.preflight import check_runs

from .conftest import TINY


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_runs_for_other_machines_are_not_refused_for_this_machines_lack_of_cuda(tmp_path):
    config = ExperimentConfig.create(**{**TINY, "device": "cuda", "out_dir": str(tmp_path)})
    with pytest.raises(ScratchlabError, match="CUDA"):
        check_runs([config])
    check_runs([config], on_this_machine=False)


def test_output_folders_are_checked_for_runs_of_other_machines_too(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    config = ExperimentConfig.create(**{**TINY, "out_dir": str(blocker / "runs")})
    with pytest.raises(ScratchlabError, match="is a file"):
        check_runs([config], on_this_machine=False)
