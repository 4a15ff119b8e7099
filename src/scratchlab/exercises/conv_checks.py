"""Checks of the convolution, pooling and batch-normalisation layers."""

from __future__ import annotations

from functools import partial
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from scratchlab.exercises.checklib import (
    F64,
    Check,
    Namespace,
    assert_close,
    autograd_check,
    finite_difference,
    grads_accumulate,
    randn,
    seeded,
)

CONVS: dict[str, dict[str, Any]] = {
    "3x3": {"kernel_size": 3},
    "3x2, stride 2, padding 1": {"kernel_size": (3, 2), "stride": 2, "padding": 1},
}


def _conv(ns: Namespace, setting: str, small: bool = False) -> tuple[Any, Tensor]:
    gen = seeded()
    layer = ns["Conv2d"](2, 3, **CONVS[setting]).to(dtype=F64)
    return layer, randn(2, 2, 5, 4, gen=gen) if small else randn(3, 2, 7, 6, gen=gen)


CONV2D = (
    *(
        Check(
            f"Conv2d({s}) backward matches autograd",
            lambda ns, s=s: autograd_check(f"Conv2d({s})", *_conv(ns, s)),
        )
        for s in CONVS
    ),
    Check(
        "Conv2d backward passes finite differences",
        lambda ns: finite_difference("Conv2d", *_conv(ns, "3x2, stride 2, padding 1", True)),
    ),
    Check(
        "Conv2d backward adds into its gradients",
        lambda ns: grads_accumulate("Conv2d.backward", *_conv(ns, "3x3")),
    ),
)

POOLS: dict[str, tuple[str, dict[str, Any]]] = {
    "MaxPool2d(2)": ("MaxPool2d", {"kernel_size": 2}),
    "MaxPool2d(3, stride=2)": ("MaxPool2d", {"kernel_size": 3, "stride": 2}),
    "AvgPool2d(2)": ("AvgPool2d", {"kernel_size": 2}),
    "AvgPool2d((3, 2), stride=(2, 1))": ("AvgPool2d", {"kernel_size": (3, 2), "stride": (2, 1)}),
}


def _pool(ns: Namespace, setting: str, small: bool = False) -> tuple[Any, Tensor]:
    name, kwargs = POOLS[setting]
    gen = seeded()
    x = randn(2, 2, 5, 5, gen=gen) if small else randn(2, 3, 8, 7, gen=gen)
    return ns[name](**kwargs).to(dtype=F64), x


POOLING = (
    *(
        Check(
            f"{s} backward matches autograd",
            lambda ns, s=s: autograd_check(s, *_pool(ns, s)),
        )
        for s in POOLS
    ),
    Check(
        "MaxPool2d backward passes finite differences",
        lambda ns: finite_difference("MaxPool2d", *_pool(ns, "MaxPool2d(3, stride=2)", True)),
    ),
    Check(
        "AvgPool2d backward passes finite differences",
        lambda ns: finite_difference("AvgPool2d", *_pool(ns, "AvgPool2d(2)", True)),
    ),
)


def _bn(ns: Namespace, image: bool, train: bool = True) -> tuple[Any, Tensor]:
    gen = seeded()
    layer = ns["BatchNorm"](3, momentum=0.2).to(dtype=F64)
    layer.gamma.copy_(randn(3, gen=gen) + 1)
    layer.beta.copy_(randn(3, gen=gen))
    layer.running_mean.copy_(randn(3, gen=gen))
    layer.running_var.copy_(randn(3, gen=gen).abs() + 0.5)
    layer.train(train)
    x = randn(4, 3, 5, 2, gen=gen) if image else randn(8, 3, gen=gen)
    return layer, x * 2 + 1


def _bn_forward(train: bool, ns: Namespace) -> None:
    layer, x = _bn(ns, True, train)
    mean, var = layer.running_mean.clone(), layer.running_var.clone()
    out = layer(x)
    want = F.batch_norm(x, mean, var, layer.gamma, layer.beta, train, 0.2, layer.eps)
    mode = "training" if train else "eval"
    assert_close(f"BatchNorm forward in {mode} mode", out, want, "F.batch_norm")
    if train:
        ref = "F.batch_norm's update"
        assert_close("BatchNorm running_mean after a step", layer.running_mean, mean, ref)
        assert_close("BatchNorm running_var after a step", layer.running_var, var, ref)


BATCHNORM = (
    Check("BatchNorm forward in training matches F.batch_norm", partial(_bn_forward, True)),
    Check(
        "BatchNorm forward in eval mode uses the running statistics", partial(_bn_forward, False)
    ),
    Check(
        "BatchNorm backward on (N, C) matches autograd",
        lambda ns: autograd_check("BatchNorm on (N, C)", *_bn(ns, False)),
    ),
    Check(
        "BatchNorm backward on (N, C, H, W) matches autograd",
        lambda ns: autograd_check("BatchNorm on (N, C, H, W)", *_bn(ns, True)),
    ),
    Check(
        "BatchNorm backward in eval mode matches autograd",
        lambda ns: autograd_check("BatchNorm in eval mode", *_bn(ns, True, False)),
    ),
    Check(
        "BatchNorm backward passes finite differences",
        lambda ns: finite_difference("BatchNorm", *_bn(ns, True)),
    ),
    Check(
        "BatchNorm backward adds into its gradients",
        lambda ns: grads_accumulate("BatchNorm.backward", *_bn(ns, False)),
    ),
)
