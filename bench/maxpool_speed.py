"""2x2 max pooling, forward and backward: `F.max_pool2d` (autograd) against
`scratchlab.models.maxpool.max_pool_2x2`, at the pooling inputs of a fast recipe's model.

    python bench/maxpool_speed.py --recipe cifar10-muon --device cuda
    python bench/maxpool_speed.py --recipe cifar10-fast --device cpu --batch 64 --no-record

Inputs in the recipe's layout and precision (channels-last, bf16 on CUDA); the two are timed
alternately, each over `--repeats` forward+backward passes, and their input gradients compared.
Prints the time of each and the ratio torch / ours per pooling layer and in total; appends one
line to bench/results.jsonl (bench `maxpool_speed`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
import torch.nn.functional as F

from common import device_name, interleaved, median, record, run_cli
from scratchlab.experiments.build import build_run_model
from scratchlab.experiments.recipes import recipe_config, recipe_names
from scratchlab.models.maxpool import max_pool_2x2
from scratchlab.util import resolve_device


def pool_inputs(recipe: str) -> list[tuple[int, ...]]:
    """The (C, H, W) of every 2x2 max pool's input in the recipe's model."""
    model = build_run_model(recipe_config(recipe, device="cpu"), (3, 32, 32), 10)
    shapes: list[tuple[int, ...]] = []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append(tuple(i[0].shape[1:])))
             for m in model.modules() if isinstance(m, torch.nn.MaxPool2d)]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, 32, 32))
    for hook in hooks:
        hook.remove()
    return shapes


def both_passes(x: torch.Tensor, grad: torch.Tensor) -> dict[str, Callable[[], torch.Tensor]]:
    """Forward+backward through torch's pooling and ours, each giving the input gradient."""
    return {"torch": lambda: torch.autograd.grad(F.max_pool2d(x, 2), x, grad)[0],
            "ours": lambda: torch.autograd.grad(max_pool_2x2(x, True), x, grad)[0]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", choices=recipe_names(), default="cifar10-muon")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--batch", type=int, default=None, help="default: the recipe's bs_train")
    p.add_argument("--repeats", type=int, default=20, help="timed passes of each (default 20)")
    p.add_argument("--no-record", action="store_true", help="do not append to bench/results.jsonl")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    batch = args.batch or recipe_config(args.recipe).budget.bs_train
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    layers, total = [], {"torch": 0.0, "ours": 0.0}
    for shape in pool_inputs(args.recipe):
        x = torch.randn(batch, *shape, device=device, dtype=dtype)
        x = x.to(memory_format=torch.channels_last).requires_grad_(True)
        grad = torch.randn_like(F.max_pool2d(x.detach(), 2))
        passes = both_passes(x, grad)
        same = torch.equal(passes["torch"](), passes["ours"]())
        seconds = {name: median(t) for name, t in
                   interleaved({n: lambda f=f: [f() for _ in range(args.repeats)]
                                for n, f in passes.items()}, 5, device).items()}
        ms = {name: 1e3 * s / args.repeats for name, s in seconds.items()}
        total = {name: total[name] + ms[name] for name in total}
        layers.append({"input": [batch, *shape], "torch_ms": round(ms["torch"], 4),
                       "ours_ms": round(ms["ours"], 4), "same_grad": same})
        print(f"input {batch}x{'x'.join(map(str, shape))}: torch {ms['torch']:.3f} ms, ours "
              f"{ms['ours']:.3f} ms per forward+backward ({ms['torch'] / ms['ours']:.2f}x), "
              f"same input gradient: {same}")
    ratio = total["torch"] / total["ours"]
    print(f"all pools: torch {total['torch']:.3f} ms, ours {total['ours']:.3f} ms: {ratio:.2f}x")
    if not args.no_record:
        record("maxpool_speed", device_name(device),
               {"recipe": args.recipe, "batch": batch, "dtype": str(dtype).removeprefix("torch."),
                "layers": layers, "torch_ms": round(total["torch"], 4),
                "ours_ms": round(total["ours"], 4), "ratio": round(ratio, 3)})
    return 0


if __name__ == "__main__":
    run_cli(main, "maxpool_speed")
