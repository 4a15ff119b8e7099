"""Model families (torch.nn): MLP, CNN, residual nets, YourCNN and the inductive-bias nets.

`build_model(spec)` builds any of them from one mapping of options; `summary(model, input_size)`
reports trainable parameters, multiply-adds and receptive field.
"""

from scratchlab.models.cnn import CNN
from scratchlab.models.cnn_probes import (
    dead_channels,
    first_conv_weights,
    layer_stats,
    layer_stats_many,
    neighbour_correlation,
    relu_outputs,
    stacked_layer_stats,
)
from scratchlab.models.edge_init import (
    count_parameters,
    custom_sobel,
    edge_detector_kernels,
    freeze_conv_layer,
    init_conv_kernel_with_edge_detector,
    init_edge_detectors,
)
from scratchlab.models.inductive import (
    DeeperCNN,
    SimpleCNN,
    SimpleCNN_avgpool,
    ThreeLayerCNN,
    ThreeLayerMLP,
    TwoLayerMLP,
    WiderCNN,
)
from scratchlab.models.inductive_vis import vis_features, vis_images, vis_kernels, vis_training
from scratchlab.models.layers import ACTIVATIONS, POOLINGS, eval_mode, make_activation, make_pool
from scratchlab.models.mlp import MLP
from scratchlab.models.registry import build_model, known_keys, model_names, register_model
from scratchlab.models.resnet import ResidualBlock, ResidualBottleneckBlock, ResNet
from scratchlab.models.summary import LayerRow, ModelSummary, summary
from scratchlab.models.yourcnn import YourCNN

__all__ = [
    "ACTIVATIONS",
    "CNN",
    "MLP",
    "POOLINGS",
    "DeeperCNN",
    "LayerRow",
    "ModelSummary",
    "ResNet",
    "ResidualBlock",
    "ResidualBottleneckBlock",
    "SimpleCNN",
    "SimpleCNN_avgpool",
    "ThreeLayerCNN",
    "ThreeLayerMLP",
    "TwoLayerMLP",
    "WiderCNN",
    "YourCNN",
    "build_model",
    "count_parameters",
    "custom_sobel",
    "dead_channels",
    "edge_detector_kernels",
    "eval_mode",
    "first_conv_weights",
    "freeze_conv_layer",
    "init_conv_kernel_with_edge_detector",
    "init_edge_detectors",
    "known_keys",
    "layer_stats",
    "layer_stats_many",
    "make_activation",
    "make_pool",
    "model_names",
    "neighbour_correlation",
    "register_model",
    "relu_outputs",
    "stacked_layer_stats",
    "summary",
    "vis_features",
    "vis_images",
    "vis_kernels",
    "vis_training",
]
