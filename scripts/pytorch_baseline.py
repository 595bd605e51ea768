#!/usr/bin/env python3
"""PyTorch's float training of the task's MLP: the peer that our throughput is compared with.

The same network as the chain's task (784-512-10, ReLU, plain SGD on the mean softmax
cross-entropy, no momentum), in float32, on the same MNIST files, timed the way
`crates/mining/examples/measure.rs` times a segment: 10 steps of batch B, median of repeats,
with a device synchronisation at the end of each segment (a miner reads a checkpoint back after
every segment).

    python3 scripts/pytorch_baseline.py                      # CPU, batch 64, this machine's threads
    python3 scripts/pytorch_baseline.py --device cuda --batch 64,4096

Needs numpy and torch (`pip install torch numpy`). Prints one line per batch size:
`pytorch/<device>/batch_<B>: <ms> ms per segment = <samples/s> samples/s`.
"""

import argparse
import gzip
import os
import statistics
import time

import numpy as np
import torch


def load_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(-1, 784)


def load_labels(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    return np.frombuffer(data, dtype=np.uint8, offset=8)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(here, "..", "data", "mnist"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", default="64")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    images = load_images(os.path.join(args.data, "train-images-idx3-ubyte.gz"))
    labels = load_labels(os.path.join(args.data, "train-labels-idx1-ubyte.gz"))
    x_all = torch.tensor((images / 255.0 - 0.1307) / 0.3081, dtype=torch.float32, device=device)
    y_all = torch.tensor(labels, dtype=torch.int64, device=device)

    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10)
    ).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.25)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator(device="cpu").manual_seed(0)

    def segment(batch):
        index = torch.randperm(x_all.shape[0], generator=generator)[: 10 * batch].to(device)
        for step in range(10):
            rows = index[step * batch : (step + 1) * batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_all[rows]), y_all[rows])
            loss.backward()
            optimizer.step()
        # A checkpoint is read back after each segment.
        return model[0].weight.detach().to("cpu")

    for batch in [int(b) for b in args.batch.split(",")]:
        for _ in range(3):
            segment(batch)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            segment(batch)
            times.append(time.perf_counter() - start)
        secs = statistics.median(times)
        print(
            f"pytorch/{args.device}/batch_{batch}: {secs * 1e3:.2f} ms per segment "
            f"= {10 * batch / secs:.0f} samples/s (threads {torch.get_num_threads()}, "
            f"torch {torch.__version__})"
        )


if __name__ == "__main__":
    main()
