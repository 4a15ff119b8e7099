"""From-scratch optimizers and learning-rate schedules.

They accept (param, grad) pairs from `scratchlab.scratch` layers or torch parameters.
"""

from scratchlab.optim.base import Optimizer
from scratchlab.optim.muon import Muon
from scratchlab.optim.optimizers import Adam, MomentumSGD, RMSProp, VanillaSGD
from scratchlab.optim.schedules import ExponentialDecay, Schedule, StepDecay

__all__ = [
    "Adam",
    "ExponentialDecay",
    "MomentumSGD",
    "Muon",
    "Optimizer",
    "RMSProp",
    "Schedule",
    "StepDecay",
    "VanillaSGD",
]
