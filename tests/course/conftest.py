"""Course-form tests: each calls scratchlab the way the course's notebooks and tests do."""

from __future__ import annotations

import pytest
import torch
from matplotlib import pyplot as plt


@pytest.fixture(autouse=True)
def _one_thread_and_no_figures():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    plt.close("all")
