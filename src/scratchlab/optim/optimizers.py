"""Stochastic gradient descent, momentum, RMSProp and Adam.

`g` below is the gradient plus the L2 term `reg * theta` (torch's `weight_decay`, not AdamW's
decoupled decay).
"""

from __future__ import annotations

from torch import Tensor

from scratchlab.optim.base import Optimizer, ParamsLike, _check_range


class VanillaSGD(Optimizer):
    """theta <- theta - lr * g. Same as `torch.optim.SGD(lr=lr, weight_decay=reg)`."""

    def update(self, i: int, param: Tensor, grad: Tensor) -> None:
        param.add_(grad, alpha=-self.learn_rate)


class MomentumSGD(Optimizer):
    """v <- mu * v - lr * g; theta <- theta + v.

    torch.optim.SGD(momentum=mu) keeps b <- mu * b + g and steps theta <- theta - lr * b. With a
    constant learning rate the two agree (v = -lr * b); when the learning rate changes they
    differ: here the velocity keeps the old rates' steps, in torch the new rate scales the whole
    buffer.
    """

    state_names = ("velocity",)

    def __init__(
        self, params: ParamsLike, learn_rate: float = 1e-3, reg: float = 0.0, momentum: float = 0.9
    ) -> None:
        _check_range("momentum", momentum, 0.0, 1.0)
        super().__init__(params, learn_rate, reg)
        self.momentum = momentum

    def update(self, i: int, param: Tensor, grad: Tensor) -> None:
        velocity = self.state["velocity"][i]
        velocity.mul_(self.momentum).add_(grad, alpha=-self.learn_rate)
        param.add_(velocity)

    def hyperparams(self) -> dict[str, float]:
        return {"momentum": self.momentum}


class RMSProp(Optimizer):
    """s <- decay * s + (1 - decay) * g^2; theta <- theta - lr * g / sqrt(s + eps).

    eps under the square root is the course's (seed's) rule. `eps_inside=False` gives
    theta <- theta - lr * g / (sqrt(s) + eps), the rule of `torch.optim.RMSprop(lr=lr,
    alpha=decay, eps=eps, weight_decay=reg)`; torch's `centered` and `momentum` are not offered.
    They differ for small gradients: at |g| = 1e-4 and eps = 1e-8 torch's first step is 10x
    larger.
    """

    state_names = ("square_avg",)

    def __init__(
        self,
        params: ParamsLike,
        learn_rate: float = 1e-3,
        reg: float = 0.0,
        decay: float = 0.99,
        eps: float = 1e-8,
        eps_inside: bool = True,
    ) -> None:
        _check_range("decay", decay, 0.0, 1.0)
        _check_range("eps", eps, 0.0, float("inf"))
        super().__init__(params, learn_rate, reg)
        self.decay, self.eps, self.eps_inside = decay, eps, bool(eps_inside)

    def update(self, i: int, param: Tensor, grad: Tensor) -> None:
        square_avg = self.state["square_avg"][i]
        square_avg.mul_(self.decay).addcmul_(grad, grad, value=1 - self.decay)
        if self.eps_inside:
            denom = square_avg.add(self.eps).sqrt_()
        else:
            denom = square_avg.sqrt().add_(self.eps)
        param.addcdiv_(grad, denom, value=-self.learn_rate)

    def hyperparams(self) -> dict[str, object]:
        return {"decay": self.decay, "eps": self.eps, "eps_inside": self.eps_inside}


class Adam(Optimizer):
    """Adam with bias correction, t counting the optimizer's steps.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    theta <- theta - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
    Same rule as `torch.optim.Adam(lr, betas, eps, weight_decay=reg)` (eps after the bias-corrected
    square root in both), equal up to rounding; torch counts t per parameter, which differs only
    for a parameter that had no gradient at some step.
    """

    state_names = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: ParamsLike,
        learn_rate: float = 1e-3,
        reg: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        _check_range("betas[0]", betas[0], 0.0, 1.0)
        _check_range("betas[1]", betas[1], 0.0, 1.0)
        _check_range("eps", eps, 0.0, float("inf"))
        super().__init__(params, learn_rate, reg)
        self.betas, self.eps = (float(betas[0]), float(betas[1])), eps

    def update(self, i: int, param: Tensor, grad: Tensor) -> None:
        (b1, b2), t = self.betas, self.steps
        m, v = self.state["exp_avg"][i], self.state["exp_avg_sq"][i]
        m.mul_(b1).add_(grad, alpha=1 - b1)
        v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        param.sub_(self.learn_rate * m_hat / (v_hat.sqrt() + self.eps))

    def hyperparams(self) -> dict[str, object]:
        return {"betas": self.betas, "eps": self.eps}
