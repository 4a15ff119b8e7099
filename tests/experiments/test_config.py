import argparse
import re

import pytest

from scratchlab.cli.config_flags import add_config_flags, config_from_args
from scratchlab.errors import ConfigError
from scratchlab.experiments import ExperimentConfig


def parse(argv):
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    return config_from_args(parser.parse_args(argv))


def test_channels_repeat_each_k_l_times():
    config = ExperimentConfig(filters_per_layer=[64, 128, 256], layers_per_block=2)
    assert config.model.channels == [64, 64, 128, 128, 256, 256]


def test_flat_keys_and_sections_give_the_same_config():
    flat = ExperimentConfig.create(lr=0.01, epochs=3, model_type="mlp", hidden_dims=[8])
    nested = ExperimentConfig.create(
        optim={"lr": 0.01}, budget={"epochs": 3}, model={"model_type": "mlp", "hidden_dims": [8]}
    )
    assert flat == nested and flat.optim.lr == 0.01 and flat.flat()["epochs"] == 3
    assert ExperimentConfig.load(flat.to_dict()) == flat == ExperimentConfig.load(flat.flat())


def test_every_field_has_a_unit_or_meaning_in_its_description():
    from scratchlab.experiments.config import SECTIONS

    for cls in (ExperimentConfig, *SECTIONS.values()):
        for name, field in cls.model_fields.items():
            assert name in SECTIONS or len(field.description or "") > 8, name


def test_classic_flags_and_run_name():
    config = parse(
        [
            "-n",
            "exp1_3",
            "-K",
            "64",
            "128",
            "-L",
            "2",
            "-P",
            "2",
            "-H",
            "100",
            "-M",
            "resnet",
            "--lr",
            "0.01",
        ]
    )
    assert config.run_name == "exp1_3_L2_K64-128"
    assert config.model.filters_per_layer == [64, 128] and config.model.hidden_dims == [100]
    assert config.model.model_type == "resnet" and config.optim.lr == 0.01


def test_run_names_carry_only_fields_that_shape_the_run():
    config = parse(["-n", "mlp", "-M", "mlp", "-H", "32", "--dataset", "digits"])
    assert config.run_name == "mlp"  # an MLP reads neither K nor L


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["-M", "mlp", "-K", "32"], "filters_per_layer (model_type mlp does not read it)"),
        (["-M", "mlp", "--pooling", "avg"], "pooling"),
        (["--optimizer", "sgd", "--momentum", "0.5"], "momentum (optimizer sgd has no momentum)"),
        (["--translate", "4"], "translate (only trainer fast reads it)"),
        (["-M", "simplecnn", "--model-options", "{kernel_size: 3, width: 4}"], "['width']"),
    ],
)
def test_a_field_the_run_does_not_read_is_an_error(argv, named):
    with pytest.raises(ConfigError, match=re.escape(named)):
        parse(argv)


def test_defaults_are_the_classic_ones():
    config = parse([])
    b, o = config.budget, config.optim
    assert (b.bs_train, b.batches, b.epochs, b.early_stopping, o.lr, o.reg) == (
        128,
        100,
        100,
        3,
        1e-3,
        1e-3,
    )
    assert b.test_batch_size == 32 and str(config.out_dir) == "results"


def test_every_field_has_a_flag_and_mappings_parse():
    config = parse(
        [
            "--conv-params",
            "{kernel_size: 5, padding: 2}",
            "--no-checkpoints",
            "--early-stopping",
            "none",
        ]
    )
    assert config.model.conv_params == {"kernel_size": 5, "padding": 2}
    assert config.budget.checkpoints is False and config.budget.early_stopping is None


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"lr": 0}, "lr"),
        ({"filters_per_layer": [32, -1]}, "filters_per_layer"),
        ({"colour": "red"}, "colour"),
        ({"device": "tpu"}, "device"),
        ({"dropout": 1.5}, "dropout"),
    ],
)
def test_invalid_fields_are_named(fields, named):
    with pytest.raises(ConfigError, match=named):
        ExperimentConfig.create(**fields)


def test_unknown_field_lists_known_fields():
    with pytest.raises(ConfigError, match="known fields: run_name"):
        ExperimentConfig.create(epochz=3)
