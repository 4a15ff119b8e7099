import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from scratchlab.errors import CheckpointError, TrainingDivergedError
from scratchlab.training import (
    CheckpointFiles,
    ClassifierTrainer,
    FitResult,
    TensorLoader,
    load_checkpoint,
)
from scratchlab.util import atomic_write_bytes

JOB = Path(__file__).with_name("resume_job.py")


def run_job(prefix, epochs, hang_after=0, loader="tensor"):
    cmd = [
        sys.executable,
        str(JOB),
        str(prefix),
        str(epochs),
        "--hang-after",
        str(hang_after),
        "--loader",
        loader,
    ]
    if not hang_after:
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
        return
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "READY"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL


def outputs(prefix):
    fit = FitResult.from_json(Path(f"{prefix}.fit.json").read_text())
    return fit, torch.load(f"{prefix}.weights.pt")


@pytest.mark.parametrize("loader", ["tensor", "dataloader"])
def test_killed_run_resumes_to_identical_numbers_and_weights(tmp_path, loader):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run_job(straight, 6, loader=loader)
    run_job(resumed, 6, hang_after=3, loader=loader)
    assert load_checkpoint(f"{resumed}_last.pt")["trainer"]["history"]["num_epochs"] == 3
    run_job(resumed, 6, loader=loader)
    fit_a, weights_a = outputs(straight)
    fit_b, weights_b = outputs(resumed)
    assert fit_a.num_epochs == 6 and fit_a == fit_b
    for key in weights_a:
        assert torch.equal(weights_a[key], weights_b[key]), key


def tiny_trainer(lr=0.1):
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    return ClassifierTrainer(
        model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=lr)
    )


def test_nan_loss_stops_with_epoch_and_batch_and_keeps_last_checkpoint(tmp_path):
    x, y = torch.randn(20, 4), torch.randint(0, 3, (20,))
    trainer = tiny_trainer()
    prefix = tmp_path / "run"
    trainer.fit(
        TensorLoader(x, y, batch_size=5),
        TensorLoader(x, y, batch_size=5),
        2,
        checkpoints=prefix,
        print_every=0,
    )
    good = Path(f"{prefix}_last.pt").read_bytes()
    x_bad = x.clone()
    x_bad[7] = float("nan")
    with pytest.raises(TrainingDivergedError, match=r"epoch 3, batch 2.*run_last\.pt is kept"):
        trainer.fit(
            TensorLoader(x_bad, y, batch_size=5),
            TensorLoader(x, y, batch_size=5),
            4,
            checkpoints=prefix,
            resume=True,
            print_every=0,
        )
    assert Path(f"{prefix}_last.pt").read_bytes() == good


def test_nan_loss_before_any_checkpoint_says_none_was_written(tmp_path):
    x, y = torch.randn(20, 4), torch.randint(0, 3, (20,))
    x[2] = float("nan")
    with pytest.raises(
        TrainingDivergedError, match=r"epoch 1, batch 1; no checkpoint was written before it"
    ):
        tiny_trainer().fit(
            TensorLoader(x, y, batch_size=5),
            TensorLoader(x, y, batch_size=5),
            2,
            checkpoints=tmp_path / "run",
            print_every=0,
        )
    assert not (tmp_path / "run_last.pt").exists()


def test_interrupted_write_never_replaces_a_good_file(tmp_path, monkeypatch):
    target = tmp_path / "ckpt.pt"
    atomic_write_bytes(target, b"good")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"half-writ")
    assert target.read_bytes() == b"good"
    assert list(tmp_path.iterdir()) == [target]


def test_damaged_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "run_last.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="delete it"):
        load_checkpoint(bad)


def test_resume_without_checkpoint_starts_from_scratch(tmp_path):
    x, y = torch.randn(20, 4), torch.randint(0, 3, (20,))
    fit = tiny_trainer().fit(
        TensorLoader(x, y, batch_size=10),
        TensorLoader(x, y, batch_size=10),
        2,
        checkpoints=tmp_path / "new",
        resume=True,
        print_every=0,
    )
    assert fit.num_epochs == 2 and (tmp_path / "new_best.pt").exists()


def test_a_checked_last_state_is_handed_to_the_resume_once_and_only_while_unchanged(
        tmp_path, monkeypatch):
    from scratchlab.training import checkpoints

    x, y = torch.randn(20, 4), torch.randint(0, 3, (20,))
    loaders = (TensorLoader(x, y, batch_size=10), TensorLoader(x, y, batch_size=10))
    tiny_trainer().fit(*loaders, 2, checkpoints=tmp_path / "run", print_every=0)
    reads: list[Path] = []
    real_load = checkpoints.load_checkpoint
    monkeypatch.setattr(checkpoints, "load_checkpoint", lambda p: reads.append(p) or real_load(p))
    files, trainer = CheckpointFiles(tmp_path / "run"), tiny_trainer()
    files.check(trainer)
    assert files.load_last() is not None and reads == [files.last, files.best]  # handed over
    assert files.load_last() is not None and len(reads) == 3  # read again the second time
    files.check(trainer)
    atomic_write_bytes(files.last, files.last.read_bytes())  # the same bytes, a new file
    assert files.load_last() is not None and len(reads) == 6  # changed since the check: read
    files.check(trainer)
    fit = trainer.fit(*loaders, 3, checkpoints=files, resume=True, print_every=0)
    assert fit.num_epochs == 3 and len(reads) == 8  # fit resumed from the handed-over state


def test_atomic_files_get_the_usual_mode(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_bytes(tmp_path / "f.json", b"{}")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_course_checkpoint_file_holds_the_best_model(tmp_path):
    x, y = torch.randn(20, 4), torch.randint(0, 3, (20,))
    trainer = tiny_trainer()
    fit = trainer.fit(
        TensorLoader(x, y, batch_size=5),
        TensorLoader(x, y, batch_size=5),
        3,
        checkpoints=tmp_path / "model",
        print_every=0,
    )
    saved = torch.load(tmp_path / "model.pt", weights_only=True)  # as a student loads it
    assert saved["best_acc"] == fit.best_test_acc and saved["ewi"] == 0
    best = load_checkpoint(tmp_path / "model_best.pt")["trainer"]["model"]
    for key, value in saved["model_state"].items():
        assert torch.equal(value, best[key])


class _Payload:
    """Unpickling this creates a file: what a crafted checkpoint could do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "run_last.pt"
    torch.save({"trainer": _Payload(str(marker))}, path)
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(path)
    assert not marker.exists()


def test_run_exp_resuming_from_a_crafted_checkpoint_exits_2_and_runs_nothing(tmp_path, capsys):
    from scratchlab.cli import main

    out, marker = tmp_path / "out", tmp_path / "pwned"
    run = ["run-exp", "--dataset", "digits", "--test-split", "valid", "-M", "mlp", "-H", "8",
           "--batches", "2", "--device", "cpu", "-o", str(out)]
    with pytest.raises(SystemExit) as first:
        main([*run, "--epochs", "1"])
    assert first.value.code == 0
    (last,) = (out / "checkpoints").glob("*_last.pt")
    torch.save({"trainer": _Payload(str(marker)), "rng": _Payload(str(marker))}, last)
    capsys.readouterr()
    with pytest.raises(SystemExit) as resumed:
        main([*run, "--epochs", "2"])  # a longer budget resumes the run from its checkpoint
    err = capsys.readouterr().err
    assert resumed.value.code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(last) in err and "refused, not run" in err
    assert not marker.exists()


@pytest.mark.parametrize("earlier", ["without checksum", "checksummed item by item"])
def test_a_checkpoint_of_an_earlier_version_still_resumes(tmp_path, earlier):
    from scratchlab.util.sealing import CHECKSUM, payload_digest

    x, y = torch.randn(20, 4), torch.randint(0, 3, (20,))

    def fit(epochs, prefix):
        torch.manual_seed(1)
        return tiny_trainer().fit(TensorLoader(x, y, batch_size=10, shuffle=True),
                                  TensorLoader(x, y, batch_size=10), epochs,
                                  checkpoints=prefix, resume=True, print_every=0)

    straight = fit(4, tmp_path / "straight")
    fit(2, tmp_path / "old")
    last = tmp_path / "old_last.pt"
    state = torch.load(last, weights_only=True)
    payload = {k: v for k, v in state.items() if k != CHECKSUM}  # as an earlier version wrote it
    if earlier == "checksummed item by item":
        payload[CHECKSUM] = payload_digest(payload, plain_runs=False)
        assert payload[CHECKSUM] != state[CHECKSUM]  # so the fallback is what reads it
    torch.save(payload, last)
    assert fit(4, tmp_path / "old") == straight


def test_a_damaged_sealed_checkpoint_is_refused(tmp_path):
    x, y = torch.randn(20, 4), torch.randint(0, 3, (20,))
    loaders = (TensorLoader(x, y, batch_size=10), TensorLoader(x, y, batch_size=10))
    tiny_trainer().fit(*loaders, 1, checkpoints=tmp_path / "run", print_every=0)
    last = tmp_path / "run_last.pt"
    state = torch.load(last, weights_only=True)
    state["best_acc"] = 99.0  # changed after sealing
    torch.save(state, last)
    with pytest.raises(CheckpointError, match="damaged"):
        tiny_trainer().fit(*loaders, 2, checkpoints=tmp_path / "run", resume=True, print_every=0)


def test_a_changed_loss_in_a_sealed_history_is_caught():
    from scratchlab.util.sealing import seal, unseal

    history = {"train_loss": [0.5, 0.25, 0.125], "test_acc": [10.0, 20.0], "epochs": 2}
    sealed = seal({"trainer": {"history": history}, "weights": torch.ones(3)})
    assert unseal(sealed, "ok.pt")["trainer"]["history"] == history
    sealed["trainer"]["history"]["train_loss"][1] = 0.2500001
    with pytest.raises(CheckpointError, match="damaged"):
        unseal(sealed, "changed.pt")
