"""Probes of a CNN's internals: its first layer's kernels and their smoothness and, for an
`EdgeCNN` (SimpleCNN, WiderCNN, DeeperCNN), the output of each ReLU layer: dead channels,
spread across images and the gradient reaching each convolution."""

from __future__ import annotations

import torch
from torch import nn

from scratchlab.models.stacked import acts_per_channel, grouped_conv2d, models_into_channels
from scratchlab.models.tiny_head import pooled_linear


def first_conv_weights(model: nn.Module) -> torch.Tensor:
    """The weights (out, in, k, k) of the model's first Conv2d, detached, on the CPU."""
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d)).weight.detach().cpu()


def neighbour_correlation(weights: torch.Tensor) -> float:
    """Correlation of adjacent kernel weights (about 0 if unstructured, near 1 if smooth)."""
    w = weights.detach().float()
    a = torch.cat([w[..., :, :-1].flatten(), w[..., :-1, :].flatten()])
    b = torch.cat([w[..., :, 1:].flatten(), w[..., 1:, :].flatten()])
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def relu_outputs(model: nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The output of every ReLU of an EdgeCNN's `features` on `x`, and the model's scores."""
    *maps, pooled = model.get_features(x)
    outputs = [out for out, m in zip(maps, model.features, strict=True) if isinstance(m, nn.ReLU)]
    return outputs, getattr(model, model.fc_name)(pooled)


def dead(output: torch.Tensor) -> torch.Tensor:
    """Per channel of a ReLU output (N, C, H, W): whether it is zero on every image and pixel
    (with leading dimensions, one per model: per model and channel)."""
    return output.detach().amax(dim=(-4, -2, -1)) <= 0


def layer_stats(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[dict[str, float]]:
    """Per ReLU layer of an EdgeCNN on images `x` with labels `y`: the fraction of dead channels,
    the output's std across images, its convolution's gradient norm (cross-entropy loss) and
    whether the scores are the same for every image."""
    model.zero_grad()
    outputs, scores = relu_outputs(model, x)
    nn.functional.cross_entropy(scores, y).backward()
    grads = [m.weight.grad for m in model.features if isinstance(m, nn.Conv2d)]
    table, spread = _stats_table(outputs, grads, scores)
    return _stats_rows(table.tolist(), float(spread))


def _stats_table(outputs: list[torch.Tensor], grads: list[torch.Tensor],
                 scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`layer_stats` as tensors: (dead, spread, grad) per ReLU layer, and the scores' largest std
    across images. Outputs (B, C, H, W), gradients (C, C_in, k, k) and scores (B, classes) may
    have leading dimensions, one per model: then the table and the std have them too."""
    rows = [torch.stack([dead(out).float().mean(-1),
                         out.detach().std(dim=-4).mean(dim=(-3, -2, -1)),
                         grad.flatten(-4).norm(dim=-1)], -1)
            for out, grad in zip(outputs, grads, strict=True)]
    return torch.stack(rows, -2), scores.detach().std(dim=-2).amax(dim=-1)


def _stats_rows(table: list[list[float]], spread: float) -> list[dict[str, float]]:
    constant = spread < 1e-6
    return [{"dead": d, "spread": s, "grad": g, "constant": constant} for d, s, g in table]


class _ReluProbe(nn.Module):
    """`relu_outputs` of the wrapped model as its forward pass (for `functional_call`)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        return relu_outputs(self.model, x)


# How `layer_stats_many` measures by default, per device type. On a 2-core CPU the inductive-bias
# study's diagnosis took 5.5 s side by side in the channels against 7.4 s model by model and 9.6 s
# with vmap (`bench/probe_speed.py`; about even for WiderCNN, 1.5x for DeeperCNN); on a GPU vmap
# stays until the three are timed there.
DEFAULT_METHOD = {"cpu": "stacked"}
METHODS = ("stacked", "vmap", "loop")


def layer_stats_many(models: list[nn.Module], x: torch.Tensor, y: torch.Tensor,
                     method: str | None = None, vectorised: bool | None = None
                     ) -> list[list[dict[str, float]]]:
    """`layer_stats` of several EdgeCNNs of one architecture, all on images `x`, labels `y`.

    `method`: "stacked" (the models side by side in the channels as `models.stacked` trains them:
    one grouped convolution per layer; vmap instead for a layer that mixes channels), "vmap"
    (`torch.func.vmap` over their stacked weights) or "loop" (model by model); None:
    `DEFAULT_METHOD` of `x`'s device type, else vmap. One copy to the host at the end, except for
    the loop. `vectorised` is the older switch: True for vmap, False for the loop."""
    if vectorised is not None and method is None:
        method = "vmap" if vectorised else "loop"
    method = method or DEFAULT_METHOD.get(x.device.type, "vmap")
    if method not in METHODS:
        raise ValueError(f"method: one of {', '.join(METHODS)}, got {method!r}")
    if method == "loop" or not models:
        return [layer_stats(model, x, y) for model in models]
    params, buffers = torch.func.stack_module_state(models)
    return stacked_layer_stats(models[0], params, buffers, x, y, method)


def stacked_layer_stats(model: nn.Module, params: dict[str, torch.Tensor],
                        buffers: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                        method: str | None = None) -> list[list[dict[str, float]]]:
    """`layer_stats_many` of the EdgeCNNs of `model`'s architecture whose parameters and buffers
    are stacked in `params` and `buffers` (name -> (models, ...), as
    `torch.func.stack_module_state` makes them; moved to `x`'s device here). `method`:
    "stacked" or "vmap", as `layer_stats_many` says (None: its default)."""
    method = method or DEFAULT_METHOD.get(x.device.type, "vmap")
    if method not in ("stacked", "vmap"):
        raise ValueError(f"method: stacked or vmap (the loop needs the models), got {method!r}")
    if method == "stacked" and not all(isinstance(m, nn.Conv2d) or acts_per_channel(m)
                                       for m in model.features):
        method = "vmap"
    names = {id(t): name for name, t in model.named_parameters()}
    convs = [names[id(m.weight)].removesuffix(".weight") for m in model.features
             if isinstance(m, nn.Conv2d)]  # the convolutions' module names
    params = {k: v.detach().to(x.device) for k, v in params.items()}
    buffers = {k: v.to(x.device) for k, v in buffers.items()}
    if method == "stacked":
        with torch.enable_grad():
            table, spread = _stacked_stats(model, params, convs, x, y)
    else:
        table, spread = _vmapped_stats(model, params, buffers, convs, x, y)
    return [_stats_rows(rows, s) for rows, s in zip(table.tolist(), spread.tolist(), strict=True)]


def _vmapped_stats(model: nn.Module, params: dict[str, torch.Tensor],
                   buffers: dict[str, torch.Tensor], convs: list[str], x: torch.Tensor,
                   y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    probe = _ReluProbe(model)
    params = {f"model.{k}": v for k, v in params.items()}
    buffers = {f"model.{k}": v for k, v in buffers.items()}

    def one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        def loss(p: dict[str, torch.Tensor]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
            outputs, scores = torch.func.functional_call(probe, (p, b), (x,))
            return nn.functional.cross_entropy(scores, y), (*outputs, scores)

        grads, (*outputs, scores) = torch.func.grad(loss, has_aux=True)(p)
        return _stats_table(outputs, [grads[f"model.{name}.weight"] for name in convs], scores)

    return torch.func.vmap(one)(params, buffers)


def _stacked_stats(model: nn.Module, params: dict[str, torch.Tensor], convs: list[str],
                   x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`_stats_table` of N models at once, their maps `(B, N * C, H, W)` side by side."""
    count, batch = next(iter(params.values())).shape[0], x.shape[0]
    weights = {name: params[f"{name}.weight"].requires_grad_() for name in convs}
    maps, outputs, names = models_into_channels(x.expand(count, *x.shape)), [], iter(convs)
    for layer in model.features:
        if isinstance(layer, nn.Conv2d):
            name = next(names)
            maps = grouped_conv2d(layer, weights[name], params.get(f"{name}.bias"), maps)
        else:
            maps = layer(maps)
            if isinstance(layer, nn.ReLU):  # (models, B, C, H, W)
                outputs.append(maps.reshape(batch, count, -1, *maps.shape[2:]).movedim(1, 0))
    fc = model.fc_name  # type: ignore[attr-defined]
    scores = pooled_linear(maps, params[f"{fc}.weight"], params.get(f"{fc}.bias"))
    # the models' mean losses summed: each model's gradient is that of its own loss
    loss = nn.functional.cross_entropy(scores.flatten(0, 1), y.repeat(count), reduction="sum")
    loss = loss / batch
    grads = torch.autograd.grad(loss, [weights[name] for name in convs])
    return _stats_table(outputs, list(grads), scores)


@torch.no_grad()
def dead_channels(model: nn.Module, x: torch.Tensor) -> str:
    """Dead channels of each ReLU layer of an EdgeCNN on `x`, as text: '0/3 1/3 3/3'."""
    return " ".join(f"{int(dead(out).sum())}/{out.shape[1]}" for out in relu_outputs(model, x)[0])
