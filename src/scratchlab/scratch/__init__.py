"""The from-scratch engine: layers with explicit forward and backward passes, no autograd.

Every backward pass is checked against torch autograd (`compare_to_autograd`) and against
central finite differences (`finite_difference_check`).
"""

from scratchlab.scratch import functional
from scratchlab.scratch.activations import LeakyReLU, ReLU, Sigmoid, TanH
from scratchlab.scratch.batchnorm import BatchNorm
from scratchlab.scratch.conv import AvgPool2d, Conv2d, MaxPool2d
from scratchlab.scratch.functional import he_init, make_layer, network, network_backward
from scratchlab.scratch.functional_net import FunctionalNet
from scratchlab.scratch.gradcheck import (
    check_layer,
    compare_layer_to_torch,
    compare_to_autograd,
    finite_difference_check,
    relative_error,
    time_backward,
)
from scratchlab.scratch.layer import Layer, Loss, Sequential
from scratchlab.scratch.linear import Dropout, Flatten, Linear
from scratchlab.scratch.losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss
from scratchlab.scratch.mlp import ACTIVATIONS, MLP, activation_layer

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm",
    "Conv2d",
    "CrossEntropyLoss",
    "Dropout",
    "Flatten",
    "FunctionalNet",
    "Layer",
    "LeakyReLU",
    "Linear",
    "Loss",
    "MaxPool2d",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "TanH",
    "activation_layer",
    "check_layer",
    "compare_layer_to_torch",
    "compare_to_autograd",
    "finite_difference_check",
    "functional",
    "he_init",
    "make_layer",
    "network",
    "network_backward",
    "relative_error",
    "time_backward",
]
