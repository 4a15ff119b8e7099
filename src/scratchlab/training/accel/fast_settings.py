"""`FastSettings`: the fast recipe's fields beyond the classic ones (airbench94's defaults).

No torch here, so configs can be read without it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


def from_airbench(lr: float, weight_decay: float, momentum: float,
                  batch_size: int = 1024) -> tuple[float, float]:
    """airbench's decoupled `(lr, weight_decay)` as scratchlab's `(lr, reg)`: the same SGD steps.

    airbench's torch rate on a loss summed over B is `lr / (1024 (1 + 1/(1 - m)))`, its decay
    per step `weight_decay * B` times that rate over `lr`.
    """
    rate = lr * batch_size / (1024 * (1 + 1 / (1 - momentum)))
    return rate, weight_decay / lr


class FastSettings(BaseModel):
    """The fast trainer's own settings (recipe `cifar10-fast`; docs/fast-cifar.md)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False,
                              allow_inf_nan=False)

    nesterov: bool = Field(True, description="Nesterov momentum")
    bias_lr_scale: float = Field(
        64.0, gt=0, description="factor on the learning rate of BatchNorm parameters (their decay "
        "per step stays that of the other weights)")
    filter_optimizer: Literal["sgd", "muon"] = Field(
        "sgd", description="optimizer of the trainable conv filters (4-d weights): sgd, or muon "
        "(scratchlab.optim.FilterMuon, filter banks kept at Frobenius norm sqrt(out_channels))")
    muon_lr: float = Field(0.24, gt=0, description="muon: step size, the size of the singular "
                           "values of a filter bank's update (dimensionless); on the schedule")
    muon_momentum: float = Field(0.6, ge=0, lt=1, description="muon: fraction of the averaged "
                                 "gradient kept per step")
    muon_ns_steps: int = Field(3, ge=1, lt=100, description="muon: Newton-Schulz iterations "
                               "per step")
    lr_start: float = Field(0.2, ge=0, description="learning-rate factor at the first step")
    lr_peak: float = Field(0.23, ge=0, le=1,
                           description="fraction of all steps at which the factor reaches 1")
    lr_end: float = Field(0.07, ge=0, description="learning-rate factor at the last step")
    ema: bool = Field(True, description="Lookahead/EMA weight averaging")
    ema_start_epoch: int = Field(3, ge=0, description="epoch (0-based) at which averaging begins")
    ema_every: int = Field(5, ge=1, description="average every this many steps")
    ema_decay: float = Field(0.95, gt=0, lt=1,
                             description="decay of the average per step, reached at the end")
    whiten: bool = Field(True, description="yourcnn_fast: the first conv is a frozen "
                         "patch-whitening layer fitted to the training images")
    whiten_bias_epochs: int = Field(3, ge=0,
                                    description="epochs during which the first conv's bias trains")
    whiten_bias_decay: bool = Field(False, description="the first conv's bias learns at the "
                                    "BatchNorm rate, its factor falling linearly from 1 to 0 over "
                                    "whiten_bias_epochs (off: at lr, on the schedule)")
    whiten_samples: int = Field(5000, ge=1,
                                description="training images the whitening layer is fitted to")
    identity_init: bool = Field(True, description="yourcnn_fast: convolutions start as the "
                                "identity (Dirac init)")
    translate: int = Field(2, ge=0, description="random translation in pixels (reflect padding)")
    flip: Literal["none", "random", "alternating"] = Field(
        "alternating", description="horizontal flips: none, random, or alternating (each image "
        "flipped every other epoch)")
    cutout: int = Field(0, ge=0, description="side in pixels of a zeroed random square per image "
                        "(0: off)")
    tta_level: int = Field(2, ge=0, le=2, description="test-time augmentation at the last epoch: "
                           "0 none, 1 mirror, 2 mirror + one-pixel translations")
