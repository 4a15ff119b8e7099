"""What replaying a CUDA graph costs the host, against the number of kernels in it.

    python bench/graph_replay.py            # needs a CUDA GPU

For graphs of 100, 1,000 and 7,000 tiny kernels (an in-place add on 64 numbers each, one after
another, as a batched training epoch's graph is): the host seconds of one `replay()` call
(20 replays launched back to back, no synchronisation) and of replay and run together (device
synchronised). Appends one line to bench/results.jsonl (bench `graph_replay`).
"""

from __future__ import annotations

import argparse
import time

import torch

from common import device_name, record, run_cli
from scratchlab.errors import ConfigError

REPLAYS = 20


def replay_ms(nodes: int) -> tuple[float, float]:
    """(host ms per replay, ms per replay and run) of a graph of `nodes` kernels."""
    x = torch.zeros(64, device="cuda")
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):  # warm-up on the capture stream
        for _ in range(3 * nodes):
            x.add_(1)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream):
        for _ in range(nodes):
            x.add_(1)
    graph.replay()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(REPLAYS):
        graph.replay()
    host = (time.perf_counter() - start) / REPLAYS
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(REPLAYS):
        graph.replay()
    torch.cuda.synchronize()
    return 1e3 * host, 1e3 * (time.perf_counter() - start) / REPLAYS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-record", action="store_true", help="do not append to bench/results.jsonl")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        raise ConfigError("bench/graph_replay.py needs a CUDA GPU")
    metrics = {}
    for nodes in (100, 1000, 7000):
        host, total = replay_ms(nodes)
        print(f"{nodes} kernels: host {host:.2f} ms per replay, replay+run {total:.2f} ms",
              flush=True)
        metrics[f"host_ms_{nodes}"], metrics[f"replay_and_run_ms_{nodes}"] = host, total
    if not args.no_record:
        record("graph_replay", device_name("cuda"), metrics)
    return 0


if __name__ == "__main__":
    run_cli(main, "graph_replay")
