import json
import shutil

import pytest
import torch

from scratchlab.data import balanced_subset
from scratchlab.errors import ConfigError, ScratchlabError
from scratchlab.experiments import (
    ExperimentConfig,
    RunRecord,
    load_experiment,
    load_record,
    run_configs,
    run_experiment,
)
from scratchlab.training import load_checkpoint


def test_run_writes_the_record_file_and_loads_back(tiny):
    result = run_experiment({**tiny, "run_name": "exp1_1_L1_K8"}, verbose=False)
    data = json.loads(result.path.read_text())
    assert result.path.name == "exp1_1_L1_K8.json"
    assert set(data) == {
        "schema",
        "config",
        "results",
        "status",
        "error",
        "summary",
        "timings",
        "env",
        "commit",
    }
    assert data["schema"] == 2 and data["env"]["torch"] == torch.__version__
    assert len(data["timings"]["seconds_per_epoch"]) == 3
    config, fit = load_experiment(result.path)
    assert config == result.config and fit == result.fit
    assert load_record(result.path).model_dump() == result.model_dump()
    assert data["summary"]["best_test_acc"] == max(fit.test_acc)
    linear = sum(p.numel() for p in torch.nn.Linear(64, 16).parameters())
    assert data["summary"]["params"] == linear + 16 * 10 + 10


def test_a_classic_results_file_still_loads(tiny, tmp_path):
    """Files written before the record schema: flat config, summary and environment."""
    record = run_experiment({**tiny, "run_name": "old"}, verbose=False)
    fields = record.to_dict()
    # the timings those files had (the phase seconds and start time came later)
    timings = {k: fields["timings"][k] for k in ("train_seconds", "seconds_per_epoch")}
    classic = {
        "config": record.config.flat() | {"out_dir": str(record.config.out_dir)},
        "results": fields["results"],
        "status": "ok",
        "error": None,
        "summary": {**fields["summary"], **timings},
        "environment": {**fields["env"], "git_commit": "abc"},
    }
    path = tmp_path / "classic.json"
    path.write_text(json.dumps(classic))
    loaded = load_record(path)
    assert loaded.config == record.config and loaded.fit == record.fit
    assert loaded.commit == "abc" and loaded.timings.model_dump() == timings


def test_same_seed_same_numbers_other_seed_other_numbers(tiny, tmp_path):
    a = run_experiment({**tiny, "run_name": "a", "checkpoints": False}, verbose=False)
    b = run_experiment({**tiny, "run_name": "b", "checkpoints": False}, verbose=False)
    c = run_experiment({**tiny, "run_name": "c", "checkpoints": False, "seed": 7}, verbose=False)
    assert a.fit == b.fit
    assert a.fit.train_loss != c.fit.train_loss


def test_rerun_with_more_epochs_continues_from_checkpoint(tiny):
    short = run_experiment({**tiny, "run_name": "r", "epochs": 2}, verbose=False)
    longer = run_experiment({**tiny, "run_name": "r", "epochs": 3}, verbose=False)
    straight = run_experiment({**tiny, "run_name": "s", "epochs": 3}, verbose=False)
    assert longer.fit.train_loss[: len(short.fit.train_loss)] == short.fit.train_loss
    assert longer.fit == straight.fit


def test_rerun_with_another_config_refuses_to_resume_and_keeps_the_checkpoint(tiny):
    first = run_experiment({**tiny, "run_name": "r", "epochs": 2}, verbose=False)
    last = first.path.parent / "checkpoints" / "r_last.pt"
    kept, kept_result = last.read_bytes(), first.path.read_bytes()
    with pytest.raises(
        ConfigError,
        match=r"run r has a checkpoint .*r_last\.pt made with another config "
        r"\(lr: 0\.01 -> 0\.05\); give the run a new run_name",
    ):
        run_experiment({**tiny, "run_name": "r", "epochs": 3, "lr": 0.05}, verbose=False)
    assert last.read_bytes() == kept and first.path.read_bytes() == kept_result
    changed = ExperimentConfig.create(**{**tiny, "run_name": "r", "epochs": 3, "lr": 0.05})
    [outcome] = run_configs([changed])
    assert isinstance(outcome, RunRecord) and outcome.status == "failed"
    assert "made with another config" in outcome.error
    # a sweep records the failure without losing the old results
    assert first.path.read_bytes() == kept_result
    other_name = run_experiment({**tiny, "run_name": "r2", "epochs": 3, "lr": 0.05}, verbose=False)
    straight = run_experiment(
        {**tiny, "run_name": "r3", "epochs": 3, "lr": 0.05, "checkpoints": False}, verbose=False
    )
    assert other_name.fit == straight.fit


def test_scratch_optimizer_implementation_trains(tiny):
    result = run_experiment(
        {
            **tiny,
            "run_name": "scratch",
            "optimizer": "momentum",
            "optimizer_impl": "scratch",
            "epochs": 4,
        },
        verbose=False,
    )
    assert result.fit.test_acc[-1] > result.fit.test_acc[0]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dataset": "imagenet"}, "unknown dataset"),
        ({"model_type": "transformer"}, "model_type"),
        ({"test_split": "holdout"}, "no split"),
        (
            {
                "model_type": "cnn",
                "filters_per_layer": [4],
                "layers_per_block": 6,
                "pool_every": 1,
                "hidden_dims": [8],
            },
            r"feature_extractor\[\d+\].*cannot take a map",
        ),
    ],
)
def test_user_errors_are_scratchlab_errors(tiny, fields, message):
    with pytest.raises(ScratchlabError, match=message):
        run_experiment({**tiny, **fields}, verbose=False)


def test_missing_results_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_experiment(tmp_path / "nope.json")


def test_balanced_subset_is_balanced_and_seeded():
    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    x = torch.arange(100)
    xs, ys = balanced_subset(x, y, 30, seed=1)
    assert torch.bincount(ys).tolist() == [10, 10, 10]
    assert torch.equal(y[xs], ys)
    assert torch.equal(balanced_subset(x, y, 30, seed=1)[0], xs)
    assert not torch.equal(balanced_subset(x, y, 30, seed=2)[0], xs)


def test_config_fields_round_trip_through_the_file(tiny):
    result = run_experiment(
        {**tiny, "run_name": "rt", "activation_params": {}, "dropout": 0.1}, verbose=False
    )
    config, _ = load_experiment(result.path)
    assert isinstance(config, ExperimentConfig) and config.model.dropout == 0.1


def test_load_model_returns_the_trained_weights(tiny):
    from scratchlab.experiments import load_model

    result = run_experiment({**tiny, "run_name": "weights"}, verbose=False)
    model = load_model(result.path)
    again = run_experiment({**tiny, "run_name": "weights2", "checkpoints": False}, verbose=False)
    assert again.fit == result.fit
    last = load_checkpoint(result.path.parent / "checkpoints" / "weights_last.pt")
    for key, value in last["trainer"]["model"].items():
        assert torch.equal(model.state_dict()[key], value)
    assert model.state_dict().keys() == last["trainer"]["model"].keys()


def test_early_stopping_monitor_is_configurable(tiny):
    result = run_experiment(
        {
            **tiny,
            "run_name": "es",
            "epochs": 30,
            "early_stopping": 1,
            "early_stopping_monitor": "train_acc",
            "early_stopping_min_delta": 50.0,
        },
        verbose=False,
    )
    assert result.fit.num_epochs == 2


def test_scratch_engine_trains_a_scratch_mlp_through_run_experiment(tiny):
    from scratchlab import scratch
    from scratchlab.experiments import load_model

    fields = {
        **tiny,
        "run_name": "scr",
        "engine": "scratch",
        "optimizer": "sgd",
        "optimizer_impl": "scratch",
        "lr": 0.1,
        "epochs": 4,
    }
    result = run_experiment(fields, verbose=False)
    assert result.summary["params"] == 64 * 16 + 16 + 16 * 10 + 10
    assert result.fit.test_acc[-1] > 50.0
    model = load_model(result.path)
    assert isinstance(model, scratch.MLP)
    saved = load_checkpoint(result.path.parent / "checkpoints" / "scr_last.pt")["trainer"]["model"]
    for (p, _), q in zip(model.params(), saved.values(), strict=True):
        assert torch.equal(p, q)


def test_scratch_engine_needs_scratch_optimizer(tiny):
    with pytest.raises(ConfigError, match="optimizer_impl scratch"):
        ExperimentConfig.create(**{**tiny, "engine": "scratch"})


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_lr_schedules_warm_up_then_decay_to_zero(schedule):
    import math

    from scratchlab.experiments.build import build_scheduler

    config = ExperimentConfig.create(lr=0.1, epochs=4, lr_schedule=schedule, warmup_epochs=1)
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.1)
    scheduler = build_scheduler(config, optimizer, batches_per_epoch=10)
    lrs = []
    for _ in range(40):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[:10] == pytest.approx([0.1 * (i + 1) / 10 for i in range(10)])
    expected = [0.05 * (1 + math.cos(math.pi * (s - 10) / 30)) for s in range(10, 40)]
    assert lrs[10:] == pytest.approx(expected)


def test_a_resumed_run_reads_its_last_checkpoint_once(tiny, monkeypatch):
    from scratchlab.training import checkpoints

    run_experiment({**tiny, "run_name": "once", "epochs": 2}, verbose=False)
    reads, load = [], torch.load

    def counted(path, *args, **kwargs):
        reads.append(str(path))
        return load(path, *args, **kwargs)

    monkeypatch.setattr(checkpoints.torch, "load", counted)
    resumed = run_experiment({**tiny, "run_name": "once", "epochs": 3}, verbose=False)
    assert resumed.fit.num_epochs == 3
    assert sum(path.endswith("once_last.pt") for path in reads) == 1


def test_resume_continues_the_augmentation_draws(tiny):
    """Augmentation draws from the run's own generator, which the checkpoint keeps."""
    flips = {**tiny, "augment": ["flip", "crop"]}
    short = run_experiment({**flips, "run_name": "r", "epochs": 2}, verbose=False)
    longer = run_experiment({**flips, "run_name": "r", "epochs": 3}, verbose=False)
    straight = run_experiment({**flips, "run_name": "s", "epochs": 3}, verbose=False)
    plain = run_experiment({**tiny, "run_name": "p", "epochs": 3}, verbose=False)
    assert longer.fit.train_loss[: len(short.fit.train_loss)] == short.fit.train_loss
    assert longer.fit == straight.fit and straight.fit.train_loss != plain.fit.train_loss


def test_scheduler_state_is_checkpointed_for_resume(tiny):
    result = run_experiment(
        {**tiny, "run_name": "sched", "lr_schedule": "cosine", "epochs": 2}, verbose=False
    )
    last = result.path.parent / "checkpoints" / "sched_last.pt"
    state = load_checkpoint(last)["trainer"]["scheduler"]
    assert state is not None and state["last_epoch"] == 2 * 5


def test_a_copied_folder_of_finished_runs_is_read_back(tiny, tmp_path):
    first = {**tiny, "out_dir": str(tmp_path / "a")}
    [done] = run_configs([ExperimentConfig.create(**{**first, "run_name": "r"})])
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    moved = ExperimentConfig.create(**{**first, "out_dir": str(tmp_path / "b"), "run_name": "r"})
    [again] = run_configs([moved])
    assert again.cached and again.fit == done.fit
