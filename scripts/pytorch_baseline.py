#!/usr/bin/env python3
"""PyTorch's float training of the task's MLP: the peer that our throughput is compared with.

The same network as the chain's task (784-512-10, ReLU, plain SGD on the mean softmax
cross-entropy, no momentum), in float32, on the same MNIST files, timed the way
`crates/mining/examples/measure.rs` times a segment: 10 steps of batch B, median of repeats,
with a device synchronisation at the end of each segment (a miner reads a checkpoint back after
every segment).

    python3 scripts/pytorch_baseline.py                      # CPU, batch 64, this machine's threads
    python3 scripts/pytorch_baseline.py --device cuda --batch 64,4096
    python3 scripts/pytorch_baseline.py --device cuda --candidates 8,32,128,512

`--candidates N,...` trains N independent models side by side at batch 64 each (batched
matrix products, `torch.baddbmm`), each on its own samples: the same work as `measure
--candidates N`, so the peer of a miner that batches candidate models on a GPU.

Needs numpy and torch (`pip install torch numpy`). Prints one line per batch size:
`pytorch/<device>/batch_<B>: <ms> ms per segment = <samples/s> samples/s`, and per candidate
count `pytorch/<device>/candidates_<N>: ...` (samples of all candidates).
"""

import argparse
import gzip
import os
import statistics
import time

import numpy as np
import torch


def median_seconds(segment, repeats):
    """The median time of `repeats` calls of `segment`, after three untimed ones."""
    for _ in range(3):
        segment()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        segment()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
    parser.add_argument("--candidates", default="", help="models side by side, at batch 64")
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
        secs = median_seconds(lambda: segment(batch), args.repeats)
        print(
            f"pytorch/{args.device}/batch_{batch}: {secs * 1e3:.2f} ms per segment "
            f"= {10 * batch / secs:.0f} samples/s (threads {torch.get_num_threads()}, "
            f"torch {torch.__version__})"
        )


    for n in [int(c) for c in args.candidates.split(",") if c]:
        candidates(n, x_all, y_all, device, args.repeats, generator)


def candidates(n, x_all, y_all, device, repeats, generator, batch=64):
    """`n` independent MLPs trained side by side, each on its own batch of `batch`."""

    def param(*shape, fan_in):
        bound = 1.0 / fan_in**0.5
        return (torch.rand(*shape, device=device) * 2 - 1).mul_(bound).requires_grad_()

    w1, b1 = param(n, 784, 512, fan_in=784), param(n, 1, 512, fan_in=784)
    w2, b2 = param(n, 512, 10, fan_in=512), param(n, 1, 10, fan_in=512)
    optimizer = torch.optim.SGD([w1, b1, w2, b2], lr=0.25)
    loss_fn = torch.nn.CrossEntropyLoss()

    def segment():
        index = torch.randint(0, x_all.shape[0], (10, n, batch), generator=generator).to(device)
        for step in range(10):
            rows = index[step]
            x, y = x_all[rows], y_all[rows]
            optimizer.zero_grad(set_to_none=True)
            h = torch.baddbmm(b1, x, w1).relu()
            z = torch.baddbmm(b2, h, w2)
            # Each model's own mean loss, summed: every model takes its own SGD step.
            loss = loss_fn(z.reshape(n * batch, 10), y.reshape(n * batch)) * n
            loss.backward()
            optimizer.step()
        return w1.detach().to("cpu")

    secs = median_seconds(segment, repeats)
    print(
        f"pytorch/{device.type}/candidates_{n}: {secs * 1e3:.2f} ms per segment of {n} x "
        f"{10 * batch} samples = {10 * batch * n / secs:.0f} samples/s "
        f"(threads {torch.get_num_threads()}, torch {torch.__version__})"
    )


if __name__ == "__main__":
    main()
