"""Item 10: the course's experiment configs (as its `cnn_experiment` printed them) build and run.

The course's ResNet always uses dimension-preserving 3x3 convolutions in its residual blocks, so
its `conv_params={'kernel_size': 2, 'stride': 1, 'padding': 1}` apply to the CNN runs only.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from scratchlab.models import CNN, ResNet, build_model

COURSE_CONV_PARAMS = {"kernel_size": 2, "stride": 1, "padding": 1}
RESNET_RUN = {  # one printed config of the seed, keys as the course names them
    "model_type": "resnet",
    "filters_per_layer": [32, 64],
    "layers_per_block": 1,
    "pool_every": 1,
    "hidden_dims": [100],
    "activation": "relu",
    "batch_norm": False,
    "dropout": 0.4,
    "bottleneck": False,
    "pooling_type": "avg",
    "pooling_params": {"kernel_size": 2},
    "conv_params": COURSE_CONV_PARAMS,
}


def model_from_course_config(cfg: dict, in_size=(3, 32, 32), out_classes=10) -> nn.Module:
    """The model the course's experiment builds: K repeated L times gives the channels."""
    channels = [k for k in cfg["filters_per_layer"] for _ in range(cfg["layers_per_block"])]
    return build_model(
        {
            "model_type": cfg["model_type"],
            "in_size": in_size,
            "out_classes": out_classes,
            "channels": channels,
            "pool_every": cfg["pool_every"],
            "hidden_dims": cfg["hidden_dims"],
            "activation_type": cfg["activation"],
            "batchnorm": cfg["batch_norm"],
            "dropout": cfg["dropout"],
            "bottleneck": cfg["bottleneck"],
            "pooling_type": cfg["pooling_type"],
            "pooling_params": cfg["pooling_params"],
            "conv_params": cfg["conv_params"],
        }
    )


def test_the_printed_resnet_config_builds_and_runs_with_3x3_blocks():
    with pytest.warns(UserWarning, match="3x3"):
        model = model_from_course_config(RESNET_RUN)
    assert isinstance(model, ResNet)
    convs = [m for m in model.feature_extractor.modules() if isinstance(m, nn.Conv2d)]
    assert {c.kernel_size for c in convs if c.kernel_size != (1, 1)} == {(3, 3)}
    assert all(c.stride == (1, 1) for c in convs)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("filters,layers", [([32], 2), ([64], 4), ([32, 64, 128], 2)])
def test_the_cnn_runs_apply_the_conv_params(filters, layers):
    cfg = {
        **RESNET_RUN,
        "model_type": "cnn",
        "filters_per_layer": filters,
        "layers_per_block": layers,
        "pool_every": 4,
        "pooling_type": "max",
        "dropout": 0.0,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = model_from_course_config(cfg)
    assert isinstance(model, CNN)
    convs = [m for m in model.feature_extractor if isinstance(m, nn.Conv2d)]
    assert all((c.kernel_size, c.padding) == ((2, 2), (1, 1)) for c in convs)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_the_printed_resnet_config_runs_through_the_python_api(tmp_path):
    from scratchlab.experiments import ExperimentConfig, run_experiment

    config = ExperimentConfig.create(
        run_name="exp1_4_L1_K32-64",
        out_dir=tmp_path,
        dataset="digits",
        test_split="valid",
        model_type="resnet",
        filters_per_layer=[32, 64],
        layers_per_block=1,
        pool_every=1,
        hidden_dims=[100],
        activation="relu",
        batchnorm=False,
        dropout=0.4,
        bottleneck=False,
        pooling="avg",
        pooling_params={"kernel_size": 2},
        conv_params=COURSE_CONV_PARAMS,
        epochs=1,
        batches=2,
        bs_train=16,
        checkpoints=False,
        early_stopping=None,
        device="cpu",
    )
    with pytest.warns(UserWarning, match="3x3"):
        run_experiment(config)
    assert (tmp_path / "exp1_4_L1_K32-64.json").is_file()
