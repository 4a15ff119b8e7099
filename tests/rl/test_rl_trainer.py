"""Training runs: exact resume from a checkpoint, results file, user errors."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("gymnasium", reason="gymnasium is not installed (pip install 'scratchlab[rl]')")

from scratchlab.errors import CheckpointError, ConfigError
from scratchlab.rl.config import RLConfig, preset_config
from scratchlab.rl.trainer import PolicyTrainer


def tiny_config(**kw) -> RLConfig:
    settings = dict(
        method="aac",
        total_steps=300,
        episodes_per_batch=3,
        hidden=(16,),
        eval_episodes=3,
        beta=0.05,
        delta=0.5,
        reward_scale=0.1,
        learning_rate=1e-2,
    )
    settings.update(kw)
    return RLConfig(**settings)


def run(config, out, resume=False):
    trainer = PolicyTrainer(config, out, verbose=False)
    try:
        results = trainer.train(resume=resume)
        return trainer, results
    finally:
        trainer.close()


@pytest.mark.parametrize("backend", ["vector", "batched", "serial"])
def test_resume_reproduces_an_uninterrupted_run_exactly(tmp_path, backend):
    straight, full = run(tiny_config(backend=backend), tmp_path / "straight")
    _, part = run(tiny_config(backend=backend, total_steps=120), tmp_path / "resumed")
    assert part["steps"] < full["steps"]
    # Scramble the global RNGs: resuming must restore them from the checkpoint.
    torch.manual_seed(12345)
    resumed, again = run(tiny_config(backend=backend), tmp_path / "resumed", resume=True)
    for name, value in straight.policy.state_dict().items():
        torch.testing.assert_close(resumed.policy.state_dict()[name], value, rtol=0, atol=0)
    for key in (
        "steps",
        "num_episodes",
        "episode_rewards",
        "policy_loss",
        "value_loss",
        "entropy",
        "mean_reward",
    ):
        assert again[key] == full[key], key


def test_results_file_has_config_results_environment(tmp_path):
    trainer, _ = run(tiny_config(method="cpg", eval_every=100, target_return=1e9), tmp_path)
    data = json.loads(trainer.results_path.read_text())
    assert set(data) == {"config", "results", "environment"}
    assert RLConfig.from_dict(data["config"]) == trainer.config
    res = data["results"]
    assert res["steps"] >= 300 and res["num_episodes"] == len(res["episode_rewards"])
    assert len(res["policy_loss"]) == len(res["baseline"]) == res["num_batches"]
    assert len(res["entropy"]) == res["num_batches"]
    assert len(res["mean_reward"]) == res["num_batches"]
    assert len(res["evals"]) >= 3 and res["solved_at_steps"] is None
    assert res["eval_return"] == res["evals"][-1][1] and res["train_seconds"] > 0
    assert trainer.checkpoint_path.is_file() and trainer.best_path.is_file()


def test_target_stops_training(tmp_path):
    _, results = run(
        tiny_config(method="vpg", total_steps=5000, eval_every=50, target_return=1.0), tmp_path
    )
    assert results["solved_at_steps"] is not None and results["steps"] < 5000


def test_resume_with_other_settings_is_refused(tmp_path):
    run(tiny_config(total_steps=60), tmp_path)
    with pytest.raises(CheckpointError, match="learning_rate"):
        run(tiny_config(learning_rate=0.5), tmp_path, resume=True)


def test_config_validation():
    with pytest.raises(ConfigError):
        RLConfig(method="ppo")
    with pytest.raises(ConfigError):
        RLConfig(episodes_per_batch=0)
    with pytest.raises(ConfigError):
        RLConfig.from_dict({"env_id": "CartPole-v1", "lr": 0.1})
    config = preset_config("CartPole-v1", "aac", seed=3, learning_rate=None)
    assert config.seed == 3 and config.target_return == 475.0


def test_vector_and_batched_backends_train_identically(tmp_path):
    """Both backends act on every row of the same batch, so they draw the same random numbers."""
    _, vector = run(tiny_config(backend="vector"), tmp_path / "vector")
    _, batched = run(tiny_config(backend="batched"), tmp_path / "batched")
    assert vector["episode_rewards"] == batched["episode_rewards"]
    assert vector["policy_loss"] == batched["policy_loss"]
