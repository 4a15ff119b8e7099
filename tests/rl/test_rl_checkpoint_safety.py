"""rl checkpoints hold only tensors and plain values; a file that would run code is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("gymnasium", reason="gymnasium is not installed (pip install 'scratchlab[rl]')")

from scratchlab.cli import main
from scratchlab.rl import RLConfig
from scratchlab.rl.checkpoint import FORMAT, load_checkpoint
from scratchlab.rl.trainer import PolicyTrainer


class _Payload:
    """Unpickling this creates a file: what a crafted checkpoint could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_trained_checkpoint_loads_with_weights_only(tmp_path):
    config = RLConfig(env_id="CartPole-v1", method="aac", total_steps=60, eval_every=30,
                      eval_episodes=2, episodes_per_batch=2, seed=3)
    trainer = PolicyTrainer(config, tmp_path, verbose=False)
    trainer.train()
    for path in (trainer.checkpoint_path, trainer.best_path):
        payload = torch.load(path, weights_only=True)  # raises on anything but plain data
        assert payload["format"] == FORMAT and payload["config"] == config.to_dict()
        assert load_checkpoint(path)["config"] == config.to_dict()  # its checksum holds


def test_a_changed_weight_in_a_sealed_checkpoint_is_caught(tmp_path):
    config = RLConfig(env_id="CartPole-v1", method="vpg", total_steps=40, eval_every=40,
                      eval_episodes=1, episodes_per_batch=2, seed=1)
    trainer = PolicyTrainer(config, tmp_path, verbose=False)
    trainer.train()
    payload = torch.load(trainer.checkpoint_path, weights_only=True)
    name = next(iter(payload["model"]))
    payload["model"][name] = payload["model"][name] + 1e-3  # changed after sealing
    torch.save(payload, trainer.checkpoint_path)
    with pytest.raises(Exception, match="damaged") as info:
        load_checkpoint(trainer.checkpoint_path)
    assert type(info.value).__name__ == "CheckpointError"


@pytest.mark.parametrize("command", ["play", "eval"])
@pytest.mark.parametrize("where", ["inside", "whole"])
def test_a_checkpoint_that_would_run_code_is_refused(tmp_path, capsys, command, where):
    marker, path = tmp_path / "pwned", tmp_path / "policy.pt"
    payload = _Payload(marker)
    torch.save({"format": FORMAT, "model": payload} if where == "inside" else payload, path)
    with pytest.raises(SystemExit) as exit_info:
        main(["rl", command, str(path), "--episodes", "1"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(path) in err and "refused" in err
    assert not marker.exists()


def test_a_damaged_checkpoint_is_named_not_called_code(tmp_path):
    path = tmp_path / "policy.pt"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(Exception, match="damaged") as info:
        load_checkpoint(path)
    assert type(info.value).__name__ == "CheckpointError"
