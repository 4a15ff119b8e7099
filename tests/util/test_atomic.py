"""Atomic writes name their temporary files after the writer; killed writers' files are removed."""

import os
import subprocess
import sys
import time

import pytest

from scratchlab.util.atomic import (
    ELSEWHERE_STALE_SECONDS,
    HOST_TAG,
    TEMP_NAME,
    atomic_write_bytes,
    remove_stale_temps,
)


@pytest.fixture(scope="module")
def dead_pid():
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(proc.stdout)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return pid
    pytest.skip(f"pid {pid} was taken again already")


def test_temp_file_carries_the_writer_pid(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    atomic_write_bytes(tmp_path / "run.v1.json", b"{}")
    (name,) = seen
    match = TEMP_NAME.fullmatch(name)
    assert match and match["target"] == "run.v1.json" and int(match["pid"]) == os.getpid()
    assert match["host"] == HOST_TAG
    assert [p.name for p in tmp_path.iterdir()] == ["run.v1.json"]


def test_temps_of_a_dead_writer_go_and_everything_else_stays(tmp_path, dead_pid):
    dead = tmp_path / f".run_last.pt.{dead_pid}.ab_cd123.tmp"
    live = tmp_path / f".run_last.pt.{os.getpid()}.x1y2z3w4.tmp"
    keep = [live, tmp_path / ".foo.tmp", tmp_path / "run_last.pt", tmp_path / ".run_last.pt.tmp",
            tmp_path / f".run.pt.{dead_pid}.short.tmp", tmp_path / f"run.{dead_pid}.abcdefgh.tmp"]
    for path in [dead, *keep]:
        path.write_bytes(b"half")
    assert remove_stale_temps(tmp_path) == [dead]
    assert sorted(tmp_path.iterdir()) == sorted(keep)


def test_a_temp_written_on_another_host_stays_whatever_its_pid(tmp_path, dead_pid):
    """A folder shared between hosts (a Ray cluster): a pid of another host says nothing here."""
    other_host = "0" * 8 if HOST_TAG != "0" * 8 else "1" * 8
    theirs = tmp_path / f".r.json.{dead_pid}-{other_host}.abcdefgh.tmp"
    ours = tmp_path / f".r.json.{dead_pid}-{HOST_TAG}.abcdefgh.tmp"
    for path in (theirs, ours):
        path.write_bytes(b"{")
    assert remove_stale_temps(tmp_path) == [ours]
    assert list(tmp_path.iterdir()) == [theirs]
    day_old = time.time() - ELSEWHERE_STALE_SECONDS - 60
    os.utime(theirs, (day_old, day_old))  # no write takes a day: its writer is gone
    assert remove_stale_temps(tmp_path) == [theirs]


def test_only_temps_of_the_given_targets_go(tmp_path, dead_pid):
    ours = tmp_path / f".exp.json.{dead_pid}.abcdefgh.tmp"
    other = tmp_path / f".other.json.{dead_pid}.abcdefgh.tmp"
    ours.write_bytes(b"")
    other.write_bytes(b"")
    assert remove_stale_temps(tmp_path, ["exp.json"]) == [ours]
    assert list(tmp_path.iterdir()) == [other]


def test_a_missing_folder_is_nothing_to_clean(tmp_path):
    assert remove_stale_temps(tmp_path / "missing") == []


def test_a_folder_named_like_a_temp_is_kept(tmp_path, dead_pid):
    folder = tmp_path / f".x.{dead_pid}.abcdefgh.tmp"
    folder.mkdir()
    assert remove_stale_temps(tmp_path) == [] and folder.is_dir()


def test_resuming_a_run_removes_its_stale_checkpoint_temps(tmp_path, dead_pid):
    import torch
    from torch import nn

    from scratchlab.training import ClassifierTrainer, TensorLoader

    stale = tmp_path / f".model_last.pt.{dead_pid}.abcdefgh.tmp"
    stale.write_bytes(b"half")
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    trainer = ClassifierTrainer(model, nn.CrossEntropyLoss(),
                                torch.optim.SGD(model.parameters(), lr=0.1))
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    trainer.fit(TensorLoader(x, y, batch_size=4), TensorLoader(x, y, batch_size=4), 1,
                checkpoints=tmp_path / "model", resume=True, print_every=0)
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "model_best.pt",
                                                          "model_last.pt"]


def test_writing_a_record_removes_its_stale_temps(tmp_path, dead_pid):
    from scratchlab.experiments import ExperimentConfig, RunRecord
    from scratchlab.experiments.records import Results, write_record

    stale = tmp_path / f".r1.json.{dead_pid}.abcdefgh.tmp"
    stale.write_bytes(b"{")
    config = ExperimentConfig.create(run_name="r1", dataset="digits", test_split="valid",
                                     model_type="mlp", epochs=1, out_dir=str(tmp_path))
    results = Results(num_epochs=1, train_loss=[1.0], train_acc=[50.0], test_loss=[1.0],
                      test_acc=[50.0])
    assert write_record(RunRecord(config=config, results=results)) == tmp_path / "r1.json"
    assert [p.name for p in tmp_path.iterdir()] == ["r1.json"]


def test_a_run_never_removes_the_temps_of_a_run_whose_name_extends_its_own(tmp_path, dead_pid):
    from scratchlab.training.checkpoints import CheckpointFiles

    other = tmp_path / f".sw_s10_last.pt.{dead_pid}.abcdefgh.tmp"
    ours = tmp_path / f".sw_s1_last.pt.{dead_pid}.abcdefgh.tmp"
    other.write_bytes(b"")
    ours.write_bytes(b"")
    CheckpointFiles(tmp_path / "sw_s1").remove_stale_temps()
    assert list(tmp_path.iterdir()) == [other]
