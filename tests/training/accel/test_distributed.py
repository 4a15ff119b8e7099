"""DistributedDataParallel training: 2 processes on CPU (gloo, launched by torchrun) against one
process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from scratchlab.errors import ConfigError
from scratchlab.training import ClassifierTrainer, FitResult, TensorLoader, load_checkpoint
from scratchlab.training.accel import DistributedClassifierTrainer, shard_loader
from scratchlab.training.loaders import ShardBatch
from scratchlab.util import distributed as dd

JOB = Path(__file__).with_name("ddp_job.py")
EPOCHS, KILL_AFTER = 4, 2
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


# ---- launching the job ---------------------------------------------------------------------------
# The uninterrupted run goes through torchrun. The killed and resumed runs start the 2 ranks
# directly
# with the environment torchrun gives them (cheaper, and both ranks are in one process group to
# kill); this test process hosts their rendezvous store, as torchrun's agent does.
def job_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    return {**env, "OMP_NUM_THREADS": "1", "SCRATCHLAB_QUIET": "1"}


def job_args(out: Path, *extra: str) -> list[str]:
    return [str(JOB), str(out), str(EPOCHS), *extra]


def check(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]


def run_single(out: Path, *extra: str) -> None:
    check(
        [
            subprocess.Popen(
                [sys.executable, *job_args(out, *extra)],
                env=job_env(),
                stderr=subprocess.PIPE,
                text=True,
            )
        ]
    )


def run_torchrun(out: Path, *extra: str) -> None:
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
    ]
    check(
        [
            subprocess.Popen(
                [*torchrun, *job_args(out, *extra)],
                env=job_env(),
                stderr=subprocess.PIPE,
                text=True,
            )
        ]
    )


def start_ranks(
    out: Path, *extra: str, stdout=None
) -> tuple[list[subprocess.Popen], dist.TCPStore]:
    """Both ranks as children of this process, in one new process group (the first rank's pid)."""
    store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    env = {
        **job_env(),
        "WORLD_SIZE": "2",
        "LOCAL_WORLD_SIZE": "2",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(store.port),
        "TORCHELASTIC_USE_AGENT_STORE": "True",
    }
    procs: list[subprocess.Popen] = []
    for rank in range(2):
        group = procs[0].pid if procs else 0  # 0: a new group led by the first rank
        procs.append(
            subprocess.Popen(
                [sys.executable, *job_args(out, *extra)],
                env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)},
                stdout=stdout,
                stderr=subprocess.PIPE if stdout is None else subprocess.DEVNULL,
                text=True,
                process_group=group,
            )
        )
    return procs, store


def run_ranks(out: Path, *extra: str) -> None:
    procs, _store = start_ranks(out, *extra)
    check(procs)


def run_and_kill(out: Path) -> None:
    """Start both ranks, wait until both finished epoch KILL_AFTER, SIGKILL their process group."""
    procs, _store = start_ranks(
        out, "--resumable", "--hang-after", str(KILL_AFTER), stdout=subprocess.PIPE
    )
    try:
        for proc in procs:
            line = proc.stdout.readline()
            assert line.startswith("READY"), f"rank ended before epoch {KILL_AFTER}: {line!r}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(procs[0].pid, signal.SIGKILL)
        for proc in procs:
            proc.wait(timeout=60)
            proc.stdout.close()
    assert [proc.returncode for proc in procs] == [-signal.SIGKILL] * 2


def outputs(prefix: Path) -> tuple[FitResult, dict[str, torch.Tensor]]:
    fit = FitResult.from_json(Path(f"{prefix}.fit.json").read_text())
    return fit, torch.load(f"{prefix}.weights.pt")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A single-process run, an uninterrupted 2-process run (audited), a 2-process run killed and
    resumed."""
    root = tmp_path_factory.mktemp("ddp")
    for name in ("single", "ddp", "resumed", "logs"):
        (root / name).mkdir()
    run_single(root / "single" / "run", "--compare")
    run_torchrun(
        root / "ddp" / "run", "--resumable", "--compare", "--audit", str(root / "logs" / "writes")
    )
    run_and_kill(root / "resumed" / "run")
    history = load_checkpoint(root / "resumed" / "run_last.pt")["trainer"]["history"]
    assert history["num_epochs"] == KILL_AFTER
    run_ranks(root / "resumed" / "run", "--resumable")
    return root


def assert_same_fit(a: FitResult, b: FitResult, rel: float) -> None:
    assert a.num_epochs == b.num_epochs
    for name in ("train_loss", "train_acc", "test_loss", "test_acc"):
        assert getattr(b, name) == pytest.approx(getattr(a, name), rel=rel, abs=1e-12), name


def assert_same_weights(a: dict, b: dict, rel: float) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(
            b[key], a[key], rtol=rel, atol=rel * a[key].abs().max().item(), msg=key
        )


# ---- 2 processes against 1
# -------------------------------------------------------------------------
@pytest.mark.parametrize("loader", ["run.tl", "run.dl"], ids=["tensorloader", "dataloader"])
def test_ddp_run_equals_single_process_run(runs, loader):
    single_fit, single_weights = outputs(runs / "single" / loader)
    ddp_fit, ddp_weights = outputs(runs / "ddp" / loader)
    assert len(ddp_fit.train_loss) == len(single_fit.train_loss) > 0
    assert_same_fit(single_fit, ddp_fit, rel=1e-5)
    assert_same_weights(single_weights, ddp_weights, rel=1e-5)


def test_killed_ddp_run_resumes_to_the_uninterrupted_numbers(runs):
    straight_fit, straight_weights = outputs(runs / "ddp" / "run")
    resumed_fit, resumed_weights = outputs(runs / "resumed" / "run")
    assert resumed_fit.num_epochs == EPOCHS
    assert resumed_fit == straight_fit
    for key in straight_weights:
        assert torch.equal(resumed_weights[key], straight_weights[key]), key
    checkpoint = load_checkpoint(runs / "resumed" / "run_last.pt")
    assert checkpoint["world_size"] == 2 and len(checkpoint["rng"]) == 2


def test_only_rank_0_writes_files(runs):
    rank0 = (runs / "logs" / "writes.0").read_text().split()
    rank1 = (runs / "logs" / "writes.1").read_text().split()
    assert rank1 == []
    assert any("run_last.pt" in path for path in rank0) and any(
        "run_best.pt" in path for path in rank0
    )


# ---- sharding
# --------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 60),
    batch_size=st.integers(1, 16),
    world=st.integers(1, 4),
    shuffle=st.booleans(),
)
def test_tensorloader_shards_make_up_the_global_batches(n, batch_size, world, shuffle):
    if batch_size < world:
        with pytest.raises(ConfigError, match="smaller than"):
            TensorLoader(torch.arange(n), batch_size=batch_size).shard(0, world)
        return
    x = torch.arange(n)
    full = [b[0] for b in TensorLoader(x, batch_size=batch_size, shuffle=shuffle, seed=7)]
    shards = [
        list(TensorLoader(x, batch_size=batch_size, shuffle=shuffle, seed=7).shard(r, world))
        for r in range(world)
    ]
    assert all(len(s) == len(full) for s in shards)
    for i, batch in enumerate(full):
        parts = [shards[r][i] for r in range(world)]
        interleaved = torch.empty_like(batch)
        for r, part in enumerate(parts):
            interleaved[r::world] = part[0]
        assert torch.equal(interleaved, batch)
        if world > 1:
            assert all(isinstance(p, ShardBatch) and p.global_size == len(batch) for p in parts)


def test_shard_shares_the_generator_so_resume_state_follows():
    loader = TensorLoader(torch.arange(10), batch_size=4, shuffle=True, seed=1)
    shard = loader.shard(1, 2)
    list(shard)
    assert torch.equal(shard.state_dict()["generator"], loader.state_dict()["generator"])
    with pytest.raises(ConfigError, match="rank"):
        loader.shard(2, 2)


@pytest.mark.parametrize("shuffle", [False, True])
def test_dataloader_shards_use_a_distributed_sampler_covering_each_item_once(shuffle):
    data = TensorDataset(torch.arange(24))
    loader = DataLoader(data, batch_size=8, shuffle=shuffle)
    shards = [shard_loader(loader, r, 2, seed=5) for r in range(2)]
    for epoch in range(2):
        for shard in shards:
            shard.sampler.set_epoch(epoch)
        batches = [[b[0] for b in shard] for shard in shards]
        assert [len(b) for b in batches[0]] == [4, 4, 4]
        seen = torch.cat([torch.cat(b) for b in batches])
        assert sorted(seen.tolist()) == list(range(24))
    with pytest.raises(ConfigError, match="split evenly"):
        shard_loader(DataLoader(data, batch_size=7), 0, 2)
    with pytest.raises(ConfigError, match="cannot split"):
        shard_loader([torch.zeros(3)], 0, 2)


# ---- one process: helpers, errors, a world of one
# ----------------------------------------------------
def test_rank_helpers_without_a_process_group(monkeypatch):
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    assert (dd.rank(), dd.world_size(), dd.is_main_process()) == (0, 1, True)
    assert dd.broadcast_object("x") == "x" and dd.all_gather_object(3) == [3]
    dd.barrier()
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert (dd.rank(), dd.world_size(), dd.is_main_process()) == (1, 2, False)


def test_setup_without_torchrun_says_how_to_launch(monkeypatch):
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="torchrun --nproc-per-node"):
        dd.setup("cpu")
    model = nn.Linear(2, 2)
    with pytest.raises(ConfigError, match="process group"):
        DistributedClassifierTrainer(
            model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1)
        )


@pytest.fixture
def world_of_one(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        "RANK": "0",
        "WORLD_SIZE": "1",
        "LOCAL_RANK": "0",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    context = dd.setup("cpu")
    yield context
    dd.teardown()


def small_trainer(cls, **kwargs):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    return cls(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.2), **kwargs)


def test_world_of_one_trains_like_classifier_trainer(world_of_one, tmp_path):
    assert (world_of_one.backend, world_of_one.rank, world_of_one.world_size) == ("gloo", 0, 1)
    x, y = torch.randn(30, 6), torch.randint(0, 3, (30,))
    fits = []
    for cls in (ClassifierTrainer, DistributedClassifierTrainer):
        trainer = small_trainer(cls, device="cpu")
        loaders = (
            TensorLoader(x, y, batch_size=8, shuffle=True, seed=0),
            TensorLoader(x, y, batch_size=8),
        )
        fits.append(trainer.fit(*loaders, 3, checkpoints=tmp_path / cls.__name__, print_every=0))
    assert_same_fit(fits[0], fits[1], rel=1e-6)
    assert load_checkpoint(tmp_path / "DistributedClassifierTrainer_last.pt")["world_size"] == 1


def test_the_latest_barrier_handle_stays_with_this_module(world_of_one):
    """Freed by the main thread, never by gloo's worker during interpreter shutdown (an abort)."""
    dd.barrier()
    first = dd._LATEST_BARRIER[0]
    assert first.is_completed()
    dd.barrier()
    assert len(dd._LATEST_BARRIER) == 1 and dd._LATEST_BARRIER[0] is not first


def test_sync_batchnorm_on_cpu_is_a_user_error(world_of_one):
    with pytest.raises(ConfigError, match="SyncBatchNorm runs on GPUs"):
        small_trainer(DistributedClassifierTrainer, device="cpu", sync_batchnorm=True)
