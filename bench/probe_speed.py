"""The inductive-bias study's q7 diagnosis at initialisation, each way `layer_stats_many` measures.

    python bench/probe_speed.py --device cuda [--draws 100] [--repeats 3]
    python bench/probe_speed.py --device cpu --repeats 1

For each network of the diagnosis (`studies.inductive_bias.diagnosis.INIT_MODELS`), `--draws`
fresh initialisations are probed on 100 edge images (ReLU outputs, the gradient reaching each
convolution, the scores), as the study does:
  loop     model by model (`layer_stats`)
  vmap     `torch.func.vmap` over the models' stacked weights
  stacked  the models side by side in the channels (`models.stacked`): one grouped convolution
           per layer, through `models.tiny_conv` (Triton) on a GPU
The methods run interleaved, after one untimed round (compilation, caches). Prints the seconds
per network and in all, each method's speed over the loop and the largest relative difference of
its numbers from the loop's; appends one line to bench/results.jsonl (bench `probe_speed`).
`models.cnn_probes.DEFAULT_METHOD` names the method each device type uses.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from common import device_name, interleaved, median, record
from scratchlab.data import get_dataset
from scratchlab.data.edges import EDGE_CLASSES
from scratchlab.models.cnn_probes import METHODS, layer_stats_many
from scratchlab.studies.inductive_bias.diagnosis import INIT_MODELS, fresh_model
from scratchlab.util import resolve_device

IMAGES = 100  # as the study's DIAGNOSIS_IMAGES
CLASSES = len(EDGE_CLASSES)  # q7's five


def draws_of(name: str, draws: int, device: torch.device) -> list[torch.nn.Module]:
    models = []
    for draw in range(draws):
        torch.manual_seed(draw)
        models.append(fresh_model(name, CLASSES).to(device))
    return models


def largest_difference(ours: list[list[dict[str, float]]],
                       loop: list[list[dict[str, float]]]) -> float:
    """The largest relative difference of dead, spread and grad from the loop's numbers."""
    pairs = [(a, b) for mine, theirs in zip(ours, loop, strict=True)
             for a, b in zip(mine, theirs, strict=True)]
    return max(abs(a[k] - b[k]) / max(abs(b[k]), 1e-6) for a, b in pairs
               for k in ("dead", "spread", "grad"))


def time_network(name: str, x: torch.Tensor, y: torch.Tensor, draws: int, repeats: int,
                 device: torch.device) -> dict[str, Any]:
    models = draws_of(name, draws, device)
    results = {m: layer_stats_many(models, x, y, method=m) for m in METHODS}  # untimed round
    times = interleaved({m: (lambda m=m: layer_stats_many(models, x, y, method=m))
                         for m in METHODS}, repeats, device)
    seconds = {m: round(median(t), 3) for m, t in times.items()}
    return {"network": name, **{f"{m}_s": s for m, s in seconds.items()},
            **{f"{m}_speedup": round(seconds["loop"] / seconds[m], 2) for m in METHODS},
            **{f"{m}_max_rel_diff": float(f"{largest_difference(results[m], results['loop']):.1e}")
               for m in METHODS if m != "loop"}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--draws", type=int, default=100, help="initialisations per network")
    p.add_argument("--repeats", type=int, default=3, help="timed rounds of every method")
    p.add_argument("--no-record", action="store_true", help="do not append to bench/results.jsonl")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    data = get_dataset("edges", split="valid", class_type=EDGE_CLASSES,
                       data_per_class=IMAGES // len(EDGE_CLASSES))
    x, y = data.tensors[0][:IMAGES].to(device), data.tensors[1][:IMAGES].to(device)
    rows = [time_network(n, x, y, args.draws, args.repeats, device) for n in INIT_MODELS]
    total = {m: round(sum(r[f"{m}_s"] for r in rows), 3) for m in METHODS}
    for row in rows:
        print(f"{row['network']:<14}" + "  ".join(
            f"{m} {row[f'{m}_s']:7.3f} s ({row[f'{m}_speedup']}x)" for m in METHODS))
    print(f"{'all':<14}" + "  ".join(f"{m} {total[m]:7.3f} s" for m in METHODS))
    if not args.no_record:
        record("probe_speed", device_name(device), {
            "draws": args.draws, "images": IMAGES, "repeats": args.repeats,
            "total_s": total, "networks": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
