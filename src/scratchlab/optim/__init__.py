"""From-scratch optimizers and learning-rate schedules.

They accept (param, grad) pairs from `scratchlab.scratch` layers or torch parameters.
`FilterMuon` (Muon batched over torch filter banks) and `CombinedOptimizer` are torch.optim-style
optimizers for the fast trainer.
"""

from scratchlab.optim.base import Optimizer
from scratchlab.optim.combined import CombinedOptimizer
from scratchlab.optim.filter_muon import FilterMuon
from scratchlab.optim.muon import Muon
from scratchlab.optim.optimizers import Adam, MomentumSGD, RMSProp, VanillaSGD
from scratchlab.optim.schedules import ExponentialDecay, Schedule, StepDecay

__all__ = [
    "Adam",
    "CombinedOptimizer",
    "ExponentialDecay",
    "FilterMuon",
    "MomentumSGD",
    "Muon",
    "Optimizer",
    "RMSProp",
    "Schedule",
    "StepDecay",
    "VanillaSGD",
]
