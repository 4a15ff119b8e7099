import argparse

import pytest

from scratchlab.errors import ConfigError
from scratchlab.experiments import ExperimentConfig
from scratchlab.experiments.cli_args import add_config_flags, config_from_args


def parse(argv):
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    return config_from_args(parser.parse_args(argv))


def test_channels_repeat_each_k_l_times():
    config = ExperimentConfig(filters_per_layer=[64, 128, 256], layers_per_block=2)
    assert config.channels == [64, 64, 128, 128, 256, 256]


def test_classic_flags_and_run_name():
    config = parse(["-n", "exp1_3", "-K", "64", "128", "-L", "2", "-P", "2", "-H", "100", "-M", "resnet", "--lr", "0.01"])
    assert config.run_name == "exp1_3_L2_K64-128"
    assert config.filters_per_layer == [64, 128] and config.hidden_dims == [100]
    assert config.model_type == "resnet" and config.lr == 0.01


def test_defaults_are_the_classic_ones():
    config = parse([])
    assert (config.bs_train, config.batches, config.epochs, config.early_stopping, config.lr, config.reg) == (128, 100, 100, 3, 1e-3, 1e-3)
    assert config.test_batch_size == 32 and str(config.out_dir) == "results"


def test_every_field_has_a_flag_and_mappings_parse():
    config = parse(["--conv-params", "{kernel_size: 5, padding: 2}", "--no-checkpoints", "--early-stopping", "none"])
    assert config.conv_params == {"kernel_size": 5, "padding": 2}
    assert config.checkpoints is False and config.early_stopping is None


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
