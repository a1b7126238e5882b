"""One run of the sweep benchmark in PyTorch, the way a PyTorch user would write it: the
shiftlab-small network (conv 3x3/2 16, conv 3x3/2 32, dense 64, dense 10, ReLU) as `plain`,
`bn` (batch norm between each conv/dense layer and its ReLU) or `lsh_lsc` (a layerwise shift
and scale, one learned scalar each, at the input and after every ReLU), SGD with momentum 0.9
at batch 32 on the first N MNIST training images standardised per pixel with the training set's
statistics, the loss and error recorded every step, the test set evaluated after the last epoch,
and a JSON record written. bench/sweep_bench.ts starts one process per run.

usage: python3 bench/torch_sweep.py --data DIR --variant plain --seed 1 --threads 1 --out FILE
       [--lr 0.01] [--epochs 1] [--train 10000] [--test 10000] [--batch 32]
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(data_dir, name):
    for p in (os.path.join(data_dir, name), os.path.join(data_dir, name + ".gz")):
        if os.path.exists(p):
            return p
    raise SystemExit(f"{name}[.gz] not found in {data_dir}")


class ShiftScale(nn.Module):
    """A layerwise shift and scale: x -> (x + s) * c with one learned scalar each."""

    def __init__(self):
        super().__init__()
        self.shift = nn.Parameter(torch.zeros(1))
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return (x + self.shift) * self.scale


def network(variant):
    bn = variant == "bn"
    pair = (lambda: [ShiftScale()]) if variant == "lsh_lsc" else (lambda: [])
    layers = pair()
    layers += [nn.Conv2d(1, 16, 3, stride=2, padding=1)] + ([nn.BatchNorm2d(16)] if bn else [])
    layers += [nn.ReLU()] + pair()
    layers += [nn.Conv2d(16, 32, 3, stride=2, padding=1)] + ([nn.BatchNorm2d(32)] if bn else [])
    layers += [nn.ReLU()] + pair() + [nn.Flatten()]
    layers += [nn.Linear(32 * 7 * 7, 64)] + ([nn.BatchNorm1d(64)] if bn else [])
    layers += [nn.ReLU()] + pair() + [nn.Linear(64, 10)]
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    nn.init.xavier_normal_(layers[-1].weight)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--variant", choices=["plain", "bn", "lsh_lsc"], default="plain")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--train", type=int, default=10000)
    ap.add_argument("--test", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    t0 = time.perf_counter()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    x = read_idx(find(a.data, "train-images-idx3-ubyte")).astype(np.float32) / 255
    y = read_idx(find(a.data, "train-labels-idx1-ubyte")).astype(np.int64)
    mean = x.mean(axis=0)
    std = np.maximum(x.std(axis=0), 0.01)
    xt = read_idx(find(a.data, "t10k-images-idx3-ubyte")).astype(np.float32) / 255
    yt = read_idx(find(a.data, "t10k-labels-idx1-ubyte")).astype(np.int64)

    def tensors(images, labels, n):
        images = (images[:n] - mean) / std
        return torch.from_numpy(images[:, None].copy()), torch.from_numpy(labels[:n].copy())

    train = TensorDataset(*tensors(x, y, a.train))
    test = TensorDataset(*tensors(xt, yt, a.test))
    loader = DataLoader(train, batch_size=a.batch, shuffle=True)

    model = network(a.variant)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)
    losses, errors = [], []
    for _ in range(a.epochs):
        model.train()
        for xb, yb in loader:
            opt.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            errors.append((logits.argmax(1) != yb).float().mean().item())
    model.eval()
    wrong, total = 0, 0.0
    with torch.no_grad():
        for xb, yb in DataLoader(test, batch_size=500):
            logits = model(xb)
            total += F.cross_entropy(logits, yb, reduction="sum").item()
            wrong += (logits.argmax(1) != yb).sum().item()
    record = {
        "variant": a.variant,
        "seed": a.seed,
        "threads": a.threads,
        "trainLoss": losses,
        "trainError": errors,
        "testLoss": total / len(test),
        "testError": wrong / len(test),
        "wallSeconds": time.perf_counter() - t0,
    }
    with open(a.out, "w") as f:
        json.dump(record, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
