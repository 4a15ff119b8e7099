"""The exercise manifest: each part's bodies (by qualified name), its README text and its checks.

The bodies are named, never copied: `scratchlab exercise new` reads them from the library's live
source, so a student's skeleton always matches the reference it is graded against.
"""

from __future__ import annotations

from dataclasses import dataclass

from scratchlab.errors import ConfigError
from scratchlab.exercises import conv_checks, layer_checks, network_checks, optim_checks
from scratchlab.exercises.checklib import Check
from scratchlab.exercises.trainer_checks import TRAINER


@dataclass(frozen=True)
class Part:
    """One assignment part: the bodies a student writes, what to read, and how it is graded."""

    name: str
    title: str
    targets: tuple[str, ...]
    readme: str
    checks: tuple[Check, ...]


def _methods(cls: str, *names: str) -> tuple[str, ...]:
    return tuple(f"{cls}.{name}" for name in names)


_ACTIVATIONS = ("ReLU", "LeakyReLU", "Sigmoid", "TanH")
S = "scratchlab.scratch"

PARTS_LIST = (
    Part(
        "activations",
        "Activation layers",
        tuple(t for a in _ACTIVATIONS for t in _methods(f"{S}.{a}", "forward", "backward")),
        "An activation is applied element by element. `forward` keeps what `backward` needs "
        "(the input, or the output when the derivative is easier from it) with "
        "`self._cache = {...}`; `backward(dout)` reads it back with `self.saved(...)` and "
        "returns dout times the local derivative. ReLU passes no gradient where x <= 0.",
        layer_checks.activation_checks(),
    ),
    Part(
        "linear",
        "The fully connected layer",
        _methods(f"{S}.Linear", "forward", "backward"),
        "y = x w^T + b for a batch x of shape (N, in_features). `backward(dout)` adds dL/dw and "
        "dL/db into `self.grads['w']` and `self.grads['b']` in place (`+=`: the optimizer holds "
        "those tensors and gradients accumulate until `zero_grad`) and returns dL/dx.",
        layer_checks.LINEAR,
    ),
    Part(
        "cross_entropy",
        "Cross-entropy loss",
        _methods(f"{S}.CrossEntropyLoss", "forward", "backward"),
        "The mean over the batch of -log softmax(x)[y]. Subtract each row's maximum before "
        "exponentiating so large scores do not overflow. The gradient with respect to the "
        "scores is (softmax(x) - onehot(y)) / N, times `dout` (1 when the loss is last).",
        layer_checks.CROSS_ENTROPY,
    ),
    Part(
        "dropout",
        "Inverted dropout",
        _methods(f"{S}.Dropout", "forward", "backward"),
        "In training, zero each entry with probability p and scale the kept ones by 1/(1-p), "
        "so the expected output equals the input; in eval mode (`self.training` is False) pass "
        "the input through. Draw the mask from torch's global RNG and keep it for `backward`.",
        layer_checks.DROPOUT,
    ),
    Part(
        "sequential",
        "Sequential",
        _methods(f"{S}.Sequential", "forward", "backward"),
        "Apply `self.layers` in order; keyword arguments such as `y=` go to the last layer only "
        "(a loss). `backward` runs the layers' backward passes in reverse order, feeding each "
        "one's result to the next; its default `dout=1.0` suits a final loss.",
        network_checks.SEQUENTIAL,
    ),
    Part(
        "mlp",
        "The MLP builder",
        (f"{S}.MLP.__init__",),
        "Build `self.sequence`: for each hidden size a Linear layer, the activation (by name, "
        "with `activation_layer`) and, when dropout > 0, a Dropout layer; then a last Linear "
        "layer to num_classes. Pass `wstd` to every Linear layer, and set the attributes that "
        "`__repr__` reads. Call `super().__init__()` first.",
        network_checks.MLP,
    ),
    Part(
        "conv2d",
        "Convolution backward",
        (f"{S}.Conv2d.backward",),
        "The forward pass is given: it unfolds the input into columns (`F.unfold`) and "
        "multiplies them by the flattened kernels. Write the backward pass: the kernel gradient "
        "from dout and the saved columns, the bias gradient (a sum), and dL/dx by folding "
        "(`F.fold`) the columns' gradient back onto the input.",
        conv_checks.CONV2D,
    ),
    Part(
        "pooling",
        "Pooling backward",
        _methods(f"{S}.MaxPool2d", "backward") + _methods(f"{S}.AvgPool2d", "backward"),
        "The forward passes are given. Max pooling sends each window's gradient to the entry "
        "that was the maximum (the saved index); average pooling spreads it evenly over the "
        "window. Build the columns' gradient and fold it back with the given `_fold`.",
        conv_checks.POOLING,
    ),
    Part(
        "batchnorm",
        "Batch normalisation",
        _methods(f"{S}.BatchNorm", "forward", "backward"),
        "In training, normalise each channel with the batch mean and (biased) variance, update "
        "the running statistics with `_update_running`, then scale by gamma and shift by beta; "
        "in eval mode use the running statistics. In backward, remember that in training the "
        "mean and variance depend on every input of the channel.",
        conv_checks.BATCHNORM,
    ),
    Part(
        "sgd",
        "SGD with L2 regularisation",
        ("scratchlab.optim.Optimizer.step", "scratchlab.optim.VanillaSGD.update"),
        "`step` counts the step, then for every (param, grad) pair (a grad of None means a torch "
        "parameter: use `param.grad`, and skip it when that is None too) adds the L2 term "
        "`reg * param` to the gradient and calls `update`. `update` changes the parameter in "
        "place: theta <- theta - lr g.",
        optim_checks.optimizer_checks("VanillaSGD"),
    ),
    Part(
        "momentum",
        "SGD with momentum",
        ("scratchlab.optim.MomentumSGD.update",),
        "Keep a velocity per parameter (its state tensor, updated in place) and follow the "
        "rule of the class docstring: v <- mu v - lr g, then theta <- theta + v.",
        optim_checks.optimizer_checks("MomentumSGD"),
    ),
    Part(
        "rmsprop",
        "RMSProp",
        ("scratchlab.optim.RMSProp.update",),
        "Keep a running average of squared gradients per parameter, r <- decay r + (1 - decay) "
        "g^2, and divide the step by its square root: theta <- theta - lr g / sqrt(r) (with the "
        "small eps of the class docstring keeping the division finite).",
        optim_checks.optimizer_checks("RMSProp"),
    ),
    Part(
        "adam",
        "Adam",
        ("scratchlab.optim.Adam.update",),
        "Keep running averages of g (m) and g^2 (v), correct their bias towards zero by dividing "
        "by 1 - beta^t (t = `self.steps`, counted from 1), and step by "
        "lr m_hat / (sqrt(v_hat) + eps).",
        optim_checks.optimizer_checks("Adam"),
    ),
    Part(
        "functional",
        "A network as plain functions",
        (f"{S}.functional.network", f"{S}.functional.network_backward"),
        "`network` applies activation(x @ w + b) for each (w, b, activation) triple. "
        "`network_backward` redoes the forward pass keeping each layer's input and "
        "pre-activation, then walks back: dz = dout * activation'(z), dw = h^T dz, db = sum of "
        "dz, and dout = dz w^T for the layer below.",
        network_checks.FUNCTIONAL,
    ),
    Part(
        "gradient_descent",
        "Gradient descent with a decaying step size",
        ("scratchlab.studies.gradient_descent.descend",),
        "Minimise f from `start` with its analytic gradient `grad_f`: p <- p - eta_t grad_f(p) "
        "with eta_t = lr0 decay^t at step t = 0, 1, ... Record every point; stop (leaving the "
        "rest NaN) once a point is not finite or leaves the ball of radius DIVERGED.",
        optim_checks.GRADIENT_DESCENT,
    ),
    Part(
        "trainer",
        "The trainer's batch steps",
        _methods("scratchlab.training.LayerTrainer", "train_batch", "test_batch"),
        "`train_batch` runs one optimisation step on a batch (x, y): the forward pass (the "
        "class's own helper flattens x for an MLP), the loss, zero the gradients, backward from "
        "the loss, an optimizer step; it returns BatchResult(loss, number of correct "
        "predictions). `test_batch` computes the same result without changing anything.",
        TRAINER,
    ),
)

PARTS = {part.name: part for part in PARTS_LIST}


def select(names: list[str] | None, available: list[str] | None = None) -> list[Part]:
    """The parts named (comma lists allowed, '-' read as '_'), in manifest order; all if None."""
    pool = available if available is not None else list(PARTS)
    if not names:
        return [PARTS[name] for name in pool if name in PARTS]
    wanted = [n.strip().replace("-", "_") for item in names for n in item.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in PARTS or n not in pool]
    if unknown or not wanted:
        named = ", ".join(unknown) or "(none)"
        raise ConfigError(f"unknown part {named}; choose from {', '.join(pool)}")
    return [PARTS[name] for name in pool if name in wanted]
