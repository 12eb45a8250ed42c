"""Benchmark (not a test): milliseconds of one float32 training step of underspec's image networks
in NCHW against channels-last memory order, on this machine's CPU threads.

Each network (the small CNN on an MNIST pair and on a digits pair, the VGG and the ResNet-18 on a
32x32 photograph) takes the same Adam steps on the same random batch in both orders, the two
orders alternating ``--repeats`` times; the median of each goes to ``bench/results/NAME.{md,json}``
with the last loss of each order (the orders sum in another order, so the losses agree to a few
digits, not bit for bit):

    python bench/step_timing.py --name step-timing-channels-last
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from results_io import save
from underspec.models.networks import MultiHeadNet

NETWORKS = (("cnn", (1, 28, 56), "MNIST pair"), ("cnn", (1, 8, 16), "digits pair"),
            ("vgg", (3, 32, 32), "photograph"), ("resnet18", (3, 32, 32), "photograph"))


def step_ms(arch: str, shape: tuple[int, ...], batch_size: int, channels_last: bool, steps: int) -> tuple[float, float]:
    """Median milliseconds of one training step after 3 warm-up steps, and the last loss."""
    torch.manual_seed(0)
    net = MultiHeadNet(shape, 3, 1, arch=arch)
    optimiser = torch.optim.Adam(net.parameters(), 1e-3, foreach=True)
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(batch_size, *shape, generator=generator)
    y = torch.randint(0, 3, (batch_size,), generator=generator)
    if channels_last:
        net, x = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    times = []
    for step in range(steps + 3):
        started = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(net(x)[:, 0], y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step >= 3:
            times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times), float(loss.detach())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", default="step-timing-channels-last")
    args = parser.parse_args()
    rows = []
    for arch, shape, what in NETWORKS:
        steps = 30 if arch == "cnn" else 5
        runs = {False: [], True: []}
        for _ in range(args.repeats):
            for channels_last in (False, True):
                runs[channels_last].append(step_ms(arch, shape, args.batch_size, channels_last, steps))
        row = {"network": arch, "input": list(shape), "what": what,
               "nchw_ms": round(statistics.median(t for t, _ in runs[False]), 2),
               "channels_last_ms": round(statistics.median(t for t, _ in runs[True]), 2),
               "nchw_loss": round(runs[False][-1][1], 6), "channels_last_loss": round(runs[True][-1][1], 6)}
        row["ratio"] = round(row["channels_last_ms"] / row["nchw_ms"], 3)
        print(row, flush=True)
        rows.append(row)
    command = "python bench/step_timing.py " + " ".join(sys.argv[1:])
    lines = ["# One float32 training step: NCHW against channels-last", "",
             f"Command: `{command}` ({torch.get_num_threads()} CPU threads, batch {args.batch_size}, torch "
             f"{torch.__version__}; medians over {args.repeats} alternating repeats).", "",
             "| network | input | NCHW ms | channels-last ms | ratio | NCHW loss | channels-last loss |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['network']} ({r['what']}) | {'x'.join(map(str, r['input']))} | {r['nchw_ms']} | "
              f"{r['channels_last_ms']} | {r['ratio']} | {r['nchw_loss']} | {r['channels_last_loss']} |" for r in rows]
    save(Path(__file__).parent / "results", args.name, {"command": command, "rows": rows}, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
