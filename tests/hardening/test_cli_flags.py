"""Bad command-line flags: run-exp's and every other command's."""

from __future__ import annotations

import pytest
import torch

RUN = ["run-exp", "--dataset", "digits", "--test-split", "valid", "--epochs", "1", "--batches",
       "1", "-M", "mlp", "--device", "cpu", "-o", "out"]
DEEP = "{a: " * 200 + "1" + "}" * 200

RUN_EXP = [
    # numbers out of range, of the wrong kind, or not finite
    ["--epochs", "0"], ["--epochs", "-3"], ["--epochs", "ten"], ["--epochs", "1.5"],
    ["--epochs", ""], ["--bs-train", "0"], ["--bs-train", "-1"], ["--bs-train", "1e9"],
    ["--bs-test", "0"], ["--bs-test", "-3"], ["--batches", "0"], ["--batches", "x"],
    ["--lr", "0"], ["--lr", "-0.1"], ["--lr", "fast"], ["--lr", "inf"], ["--lr", "1e400"],
    ["--lr", "-inf"], ["--lr", "nan"], ["--lr", "0x10"], ["--reg", "-1"], ["--reg", "nan"],
    ["--reg", "inf"], ["--momentum", "1"], ["--momentum", "-0.5"], ["--momentum", "inf"],
    ["--dropout", "1"], ["--dropout", "-0.1"], ["--dropout", "nan"],
    ["--label-smoothing", "1.5"], ["--label-smoothing", "nan"], ["--warmup-epochs", "-1"],
    ["--warmup-epochs", "inf", "--lr-schedule", "cosine"],
    ["--early-stopping-min-delta", "-0.1"], ["--early-stopping-min-delta", "nan"],
    ["--seed", "-1"], ["--seed", "abc"], ["--seed", "99999999999999999999999"],
    ["--seed", "1.7"], ["--train-limit", "0"], ["--train-limit", "1.5"],
    ["--test-limit", "-4"], ["--early-stopping", "0"], ["--early-stopping", "soon"],
    # choices and names
    ["--optimizer", "lbfgs"], ["--optimizer-impl", "jax"],
    ["--optimizer", "adamw", "--optimizer-impl", "scratch"], ["--precision", "fp8"],
    ["--pooling", "median"], ["--device", "tpu"], ["--device", "cuda:x"], ["--device", ""],
    ["--trainer", "slow"], ["--lr-schedule", "step"], ["--compile-mode", "fastest"],
    ["--early-stopping-monitor", "val_loss"], ["-n", "bad name"], ["-n", "a/b"], ["-n", ""],
    ["-n", ".."], ["-n", "."], ["-n", "x" * 300], ["-n", "a\\b"], ["-n", "caf\u00e9"],
    ["-n", "a\x00b"], ["--activation", "swish"], ["-M", "transformer"], ["--augment", "rotate"],
    ["--engine", "jax"], ["--engine", "scratch", "-M", "cnn"], ["--engine", "scratch"],
    # mappings
    ["--conv-params", "[1, 2]"], ["--conv-params", "kernel"], ["--pooling-params", "3"],
    ["--activation-params", "{a: [}"], ["--model-options", "none"], ["--dataset-options", "1"],
    ["--dataset-options", "{colour: red}"], ["--dataset-options", DEEP],
    ["--dataset-options", "{" * 5000], ["--dataset-options", "!!python/object:os.system {}"],
    ["-M", "cnn", "--conv-params", "{kernel_size: 0}"],
    ["-M", "cnn", "--conv-params", "{kernel_size: 100}"],
    ["-M", "cnn", "--conv-params", "{stride: -1}"],
    ["-M", "cnn", "--conv-params", "{kernel_size: abc}"],
    ["-M", "cnn", "--pooling-params", "{kernel_size: 0}"],
    ["-M", "cnn", "--pooling-params", "{kernel_size: 100}"],
    ["-M", "cnn", "--activation", "lrelu", "--activation-params", "{negative_slope: abc}"],
    ["-M", "cnn", "--activation", "lrelu", "--activation-params", "{slope: 1}"],
    ["-M", "simplecnn", "--model-options", "{width: 3}"], ["--model-options", "{depth: 3}"],
    ["-M", "resnet", "--model-options", "{foo: 1}"],
    # datasets and splits
    ["--dataset", "imagenet"], ["--dataset", ""], ["--test-split", "holdout"],
    ["--train-split", "everything"], ["--dataset", "cifar10"],
    ["--dataset", "cifar10", "--data-root", "{missing}"],
    ["--dataset", "cifar10", "--data-root", "{file}"],
    ["--dataset", "cifar10", "--data-root", "{empty}"],
    ["--dataset", "cifar10", "--data-root", "{garbage}", "--train-limit", "5"],
    ["--dataset", "edges", "--test-split", "test", "--dataset-options", "{data_per_class: 0}"],
    ["--dataset", "edges", "--test-split", "test", "--dataset-options",
     "{data_per_class: -5}"],
    ["--dataset", "edges", "--test-split", "test", "--dataset-options",
     "{data_per_class: abc}"],
    ["--dataset", "populations", "--test-split", "test", "--dataset-options", "{sizes: [0, 0]}"],
    ["--dataset", "populations", "--test-split", "test", "--dataset-options",
     "{sizes: [-5, 10]}"],
    ["--dataset", "populations", "--test-split", "test", "--dataset-options",
     "{train_fraction: 2}"],
    ["--dataset", "digits", "--dataset-options", "{task: ternary}"],
    ["--dataset", "digits", "--dataset-options", "{normalize: none}"],
    ["--dataset", "shapes"],
    # fields this run does not read, and combinations that cannot train
    ["-M", "mlp", "-K", "32"], ["-M", "mlp", "--conv-params", "{kernel_size: 3}"],
    ["--optimizer", "sgd", "--momentum", "0.5"], ["--compile-mode", "max-autotune"],
    ["--early-stopping", "none", "--early-stopping-monitor", "test_acc"],
    ["--sync-batchnorm"], ["--cuda-graph", "--optimizer", "sgd"], ["--trainer", "fast"],
    ["--whiten"], ["--quick"], ["--recipe", "nope"], ["--recipe", "cifar10-fast"],
    # sizes that do not fit the input or the memory
    ["-M", "cnn", "-K", "4", "-L", "6", "-P", "1"], ["-M", "cnn", "-K", "8", "8", "8", "8",
                                                    "-L", "1", "-P", "1"],
    ["-M", "cnn", "-K", "100000", "-L", "1"], ["-M", "mlp", "-H", "100000000"],
    ["-M", "mlp", "-H", "60000", "60000", "60000"],
    ["-M", "cnn", "-K", "4096", "4096", "4096", "-L", "4", "-P", "100"],
    # flags and values argparse refuses
    ["-K"], ["-K", "0"], ["-K", "-32"], ["-K", "a"], ["-L", "0"], ["-L", "-1"], ["-L", "two"],
    ["-P", "0"], ["-P", "-2"], ["-H", "0"], ["-H", "-5"], ["-H", "big"], ["--no-such-flag"],
    ["--epochs"], ["--normalize", "yes"], ["--translate", "3"], ["--out-dir"],
    # where the run writes
    ["-o", "{file}"], ["-o", "{file}/sub"], ["-o", "{readonly}"], ["-o", "{readonly}/sub"],
    ["-o", ""], ["--tensorboard", "{file}"],
]


@pytest.mark.parametrize("extra", RUN_EXP, ids=lambda a: " ".join(a)[:60] or "none")
def test_run_exp(extra, refuse, fill):
    if torch.cuda.is_available() and extra in (["--device", "cuda:x"],):
        pytest.skip("a GPU machine")
    refuse([*RUN, *fill(extra)])


OTHER = [
    [], ["frobnicate"], ["--quiet"], ["run-exp", "--help-me"],
    # sweep
    ["sweep"], ["sweep", "{missing}"], ["sweep", "{empty}"], ["sweep", "{binary}"],
    ["sweep", "{file}", "--jobs", "0"], ["sweep", "{file}", "--jobs", "-2"],
    ["sweep", "{file}", "--executor", "slurm"], ["sweep", "{file}", "--batched", "maybe"],
    ["sweep", "{file}", "--gpus-per-run", "x"],
    # results, plot, report
    ["results"], ["results", "frobnicate", "x"], ["results", "ls"], ["results", "ls", "{missing}"],
    ["results", "ls", "{file}"], ["results", "ls", "{garbage}"],
    ["results", "compare", "{missing}"],
    ["results", "compare", "{empty}", "nomatch*"], ["results", "compare", "{results}", "nomatch*"],
    ["results", "compare", "{results}", "--metric", "nosuch"], ["results", "show", "{missing}"],
    ["results", "show", "{garbage}"], ["results", "show", "{empty}"],
    ["results", "show", "{binary}"], ["results", "show", "{file}"],
    ["plot", "{empty}", "nothing*"], ["plot", "{missing}", "*"], ["plot", "{file}", "*"],
    ["plot", "{results}", "nomatch*"], ["plot", "{results}", "*", "-o", "{file}/x.png"],
    ["plot", "{results}", "*", "-o", "{readonly}/x.png"], ["plot", "{results}", "*", "-o",
                                                           "{empty}"],
    ["report", "{missing}"], ["report", "{empty}"], ["report", "{file}"],
    ["report", "{results}", "-o", "{file}/r.html"],
    ["report", "{results}", "-o", "{readonly}/r.html"],
    ["report", "{results}", "-o", "{empty}"],
    # study
    ["study"], ["study", "nosuch"], ["study", "dropout", "--seeds", "0"],
    ["study", "dropout", "--seeds", "-1"], ["study", "dropout", "--seeds", "x"],
    ["study", "dropout", "--seeds", "100000"], ["study", "dropout", "--out", "{file}"],
    ["study", "dropout", "--out", "{readonly}"], ["study", "dropout", "--device", "tpu"],
    ["study", "dropout", "--batched", "x"], ["study", "dropout", "--spec", "{file}"],
    ["study", "dropout", "--experiments", "exp1_1"], ["study", "dropout", "--search"],
    ["study", "cnn-architecture", "--spec", "{missing}"],
    ["study", "cnn-architecture", "--spec", "{garbage}"],
    ["study", "cnn-architecture", "--spec", "{binary}"],
    ["study", "cnn-architecture", "--report-only", "--out", "{empty}"],
    ["study", "cnn-architecture", "--quick", "--data-root", "{missing}"],
    ["study", "cnn-architecture", "--quick", "--experiments", "exp9"],
    ["study", "cnn-architecture", "--quick", "--jobs", "0"],
    ["study", "cnn-architecture", "--quick", "--jobs", "-2"],
    ["study", "inductive-bias", "--quick", "--jobs", "x"],
    # rl
    ["rl"], ["rl", "frobnicate"], ["rl", "train", "--env", "NoSuchEnv-v0"],
    ["rl", "train", "--method", "x"], ["rl", "train", "--steps", "0"],
    ["rl", "train", "--steps", "-5"], ["rl", "train", "--lr", "-1"],
    ["rl", "train", "--lr", "nan"], ["rl", "train", "--gamma", "2"],
    ["rl", "train", "--hidden", "0"], ["rl", "train", "--batch-episodes", "0"],
    ["rl", "train", "--eval-episodes", "0"], ["rl", "train", "--device", "tpu"],
    ["rl", "train", "--out", "{file}"], ["rl", "train", "--steps", "ten"],
    ["rl", "play", "{missing}"], ["rl", "play", "{garbage}"], ["rl", "eval", "{empty}"],
    ["rl", "eval", "{random_pt}"], ["rl", "eval", "{random_pt}", "--episodes", "0"],
    ["rl", "bench", "--methods", "zzz"], ["rl", "bench", "--seeds"],
    # detect
    ["detect"], ["detect", "frobnicate"], ["detect", "train", "{binary}"],
    ["detect", "train", "{missing}"], ["detect", "train", "{data_yaml}", "--imgsz", "0"],
    ["detect", "train", "{data_yaml}", "--epochs", "0"],
    ["detect", "train", "{data_yaml}", "--set", "novalue"],
    ["detect", "train", "{data_yaml}", "--batch", "-1"],
    ["detect", "predict", "{missing}", "x.jpg"], ["detect", "predict", "{empty}", "x.jpg"],
    ["detect", "predict", "{random_pt}", "{missing}"], ["detect", "val", "{data_yaml}"],
    ["detect", "prepare-coco", "{missing}", ".", "out"],
    ["detect", "prepare-coco", "{garbage}", ".", "out"],
    ["detect", "prepare-coco", "{coco}", ".", "out", "--split", "0.5"],
    ["detect", "prepare-coco", "{coco}", ".", "out", "--split", "0.7", "0.7"],
    ["detect", "prepare-coco", "{coco}", ".", "out", "--mapping", "nosuch"],
    ["detect", "grid", "{data_yaml}", "--lrs", "-1"],
    # exercise, check
    ["exercise"], ["exercise", "new"], ["exercise", "new", "{nonempty}"],
    ["exercise", "new", "{file}"], ["exercise", "new", "ws", "--parts", "nosuch"],
    ["exercise", "new", "{file}/ws"], ["exercise", "new", "{readonly}/ws"],
    ["check"], ["check", "{missing}"], ["check", "{empty}"], ["check", "{file}"],
    ["check", "--reference", "{empty}"], ["check", "--reference", "--time-limit", "0"],
    ["check", "--reference", "--time-limit", "nan"], ["check", "--reference", "--part", "nosuch"],
]


@pytest.mark.parametrize("argv", OTHER, ids=lambda a: " ".join(a)[:60] or "none")
def test_other_commands(argv, refuse, fill):
    refuse(fill(argv))


CASES = RUN_EXP + OTHER
