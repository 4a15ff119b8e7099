"""`FunctionalNet`: a binary classifier written as a `scratch.functional` network.

A network is a list of (w, b, activation) triples ending in a sigmoid (one output: P(class 1)),
initialised with `he_init` and trained with BCE.
Its gradients come either from the hand-written `network_backward` with the scratch `BCELoss`
backward (`backward="scratch"`) or from torch autograd on the same forward (`backward="autograd"`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from scratchlab.errors import ConfigError
from scratchlab.scratch.functional import he_init, network, network_backward
from scratchlab.scratch.losses import BCELoss

Layer = tuple[int, int, str | None]  # (d_in, d_out, activation name or None for identity)
BACKWARDS = ("scratch", "autograd")


class FunctionalNet:
    """The parameters of a `scratch.functional` network and how its gradients are taken.

    Args:
        layers: (d_in, d_out, activation) per layer; the last activation should be "sigmoid".
        generator: draws the He initialisation.
        backward: "scratch" (hand-written backward) or "autograd".
        device: where the parameters live.
    """

    def __init__(self, layers: Sequence[Layer], generator: torch.Generator,
                 backward: str = "scratch",
                 device: torch.device | str = "cpu") -> None:
        if backward not in BACKWARDS:
            raise ConfigError(f"backward must be one of {BACKWARDS}, got {backward!r}")
        self.backward = backward
        self.params = []
        for d_in, d_out, act in layers:
            w, b = he_init(d_in, d_out, generator)
            self.params.append((w.to(device), b.to(device), act))
        self.grads = [(torch.zeros_like(w), torch.zeros_like(b)) for w, b, _ in self.params]
        self.training = True

    def tensors(self) -> list[torch.Tensor]:
        return [t for w, b, _ in self.params for t in (w, b)]

    def pairs(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(parameter, gradient) pairs for a scratchlab.optim optimizer."""
        pairs = zip(self.params, self.grads, strict=True)
        return [pair for (w, b, _), (dw, db) in pairs for pair in ((w, dw), (b, db))]

    def clone(self, backward: str) -> FunctionalNet:
        """A copy with the same weights that takes its gradients with `backward`."""
        twin = copy.deepcopy(self)
        twin.backward = backward
        return twin

    def train(self, mode: bool = True) -> FunctionalNet:
        self.training = mode
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """P(class 1) for inputs (N, d_in), shape (N,)."""
        return network(x, self.params)

    def loss_and_grads(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(probabilities, mean BCE) of a batch; writes the gradients into `self.grads`."""
        target = y.to(x.dtype)
        if self.backward == "scratch":
            loss_fn = BCELoss()
            probs = network(x, self.params)
            loss = loss_fn(probs, target)
            _, grads = network_backward(x, self.params, loss_fn.backward())
        else:
            tensors = [t.detach().requires_grad_(True) for t in self.tensors()]
            params = [(tensors[2 * i], tensors[2 * i + 1], act) for i,
                      (_, _, act) in enumerate(self.params)]
            probs = network(x, params)
            loss = F.binary_cross_entropy(probs, target)
            flat = torch.autograd.grad(loss, tensors)
            grads = list(zip(flat[::2], flat[1::2], strict=True))
        for (dw, db), (gw, gb) in zip(self.grads, grads, strict=True):
            dw.copy_(gw)
            db.copy_(gb)
        return probs.detach(), loss.detach()

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """(mean BCE, accuracy in percent) on (x, y)."""
        probs = self(x)
        loss = F.binary_cross_entropy(probs, y.to(probs.dtype))
        return float(loss), 100.0 * float(((probs >= 0.5).long() == y).float().mean())

    def gradient_difference(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """Largest |scratch - autograd| over every gradient entry of one batch."""
        ours, ref = self.clone("scratch"), self.clone("autograd")
        ours.loss_and_grads(x, y)
        ref.loss_and_grads(x, y)
        diffs = [(a - b).abs().max() for pa, pb in zip(ours.grads, ref.grads, strict=True)
                 for a, b in zip(pa, pb, strict=True)]
        return float(max(diffs))
