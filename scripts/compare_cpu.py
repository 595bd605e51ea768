#!/usr/bin/env python3
"""The exact task's CPU training throughput against PyTorch's float training of the same MLP,
on this machine, in one run: rounds of the two, interleaved, so that both see the same machine
(the numbers of two separate runs on a shared machine are not comparable).

    cargo build --release --workspace --examples      # the tests' build: measure is in it
    pip install torch numpy
    python3 scripts/compare_cpu.py --rounds 5

Each round runs `scripts/pytorch_baseline.py` (batch 64, this machine's threads) and
`target/release/examples/measure --skip-blocks --backends flex` (both engines of the flex
backend: its CPU kernels and its tensor step), each timing the median of 15 segments of 10
steps. It prints every round's samples per second and the ratios to PyTorch, then the median
ratio over the rounds.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
RATE = re.compile(r"^(\S+): .* = (\d+) samples/s")


def rates(command):
    """`name -> samples/s` of every line of `command`'s output that reports one."""
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    found = {}
    for line in output.splitlines():
        match = RATE.match(line)
        if match:
            found[match.group(1)] = int(match.group(2))
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--measure", default=os.path.join(ROOT, "target", "release", "examples", "measure")
    )
    args = parser.parse_args()
    if not os.path.exists(args.measure):
        sys.exit(f"{args.measure} is missing: cargo build --release --workspace --examples")
    pytorch = [sys.executable, os.path.join(HERE, "pytorch_baseline.py"), "--batch", "64"]
    ours = [args.measure, "--skip-blocks", "--backends", "flex", "--candidates", "1"]
    ratios = {}
    for round_ in range(1, args.rounds + 1):
        torch_rate = rates(pytorch)["pytorch/cpu/batch_64"]
        measured = rates(ours)
        line = [f"round {round_}: pytorch {torch_rate}"]
        for name, rate in sorted(measured.items()):
            engine = name.removeprefix("training/").removesuffix("/candidates_1")
            ratio = rate / torch_rate
            ratios.setdefault(engine, []).append(ratio)
            line.append(f"{engine} {rate} ({ratio:.2f}x)")
        print(", ".join(line), flush=True)
    for engine, values in sorted(ratios.items()):
        print(
            f"{engine}: median {statistics.median(values):.2f}x PyTorch's float training "
            f"(range {min(values):.2f} to {max(values):.2f} over {len(values)} rounds)"
        )


if __name__ == "__main__":
    main()
