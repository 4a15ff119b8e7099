"""`run-exp` says the budget it will use in its first line; its --help names the results file."""

from __future__ import annotations

import pytest

from scratchlab.cli import main
from scratchlab.cli.experiments import budget_line
from scratchlab.experiments import ExperimentConfig


def test_the_default_budget_is_said_with_its_flags():
    line = budget_line(ExperimentConfig.create(run_name="exp1"))
    assert line == ("exp1: up to 100 epochs of at most 100 batches of 128 (--batches); stops "
                    "after 3 epochs without a lower test loss (--early-stopping)")


@pytest.mark.parametrize(("fields", "said"), [
    ({"batches": None, "early_stopping": None, "epochs": 1},
     "up to 1 epoch over the whole training split in batches of 128; no early stopping"),
    ({"early_stopping_monitor": "test_acc", "early_stopping": 5, "bs_train": 32},
     "of at most 100 batches of 32 (--batches); stops after 5 epochs without a higher test "
     "accuracy"),
])
def test_other_budgets(fields, said):
    assert said in budget_line(ExperimentConfig.create(**fields))


def test_run_exp_prints_the_budget_first(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["run-exp", "-n", "b", "-M", "mlp", "-H", "8", "--dataset", "digits",
              "--test-split", "valid", "--epochs", "1", "--batches", "2", "--device", "cpu",
              "-o", str(tmp_path)])
    assert done.value.code == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == ("b: up to 1 epoch of at most 2 batches of 128 (--batches); stops after 3 "
                     "epochs without a lower test loss (--early-stopping)")


def test_help_works_and_names_the_results_file(capsys):
    with pytest.raises(SystemExit) as done:
        main(["run-exp", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert done.value.code == 0
    assert "<name>_L<L>_K<K>.json" in out and "--early-stopping" in out
