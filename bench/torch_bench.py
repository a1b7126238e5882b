"""PyTorch reference timings for bench/bench.ts: the same conv layers and training steps,
same batch, same thread count. Prints one JSON record per line:
{"name", "size", "ms_per_step", "images_per_s"}.

usage: python3 bench/torch_bench.py --threads 2 --batch 32 [--only conv,train] [--quick]
"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def timed(fn, min_time, max_reps, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < max_reps and (len(times) < 3 or time.perf_counter() - start < min_time):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)  # best repetition, as bench/bench.ts does


def emit(name, size, seconds, batch):
    print(json.dumps({
        "name": name,
        "size": size,
        "ms_per_step": seconds * 1e3,
        "images_per_s": batch / seconds,
    }), flush=True)


# All-CNN-C convolutions at batch N on 3x32x32: (cin, cout, k, stride, pad, h)
ALLCNNC_CONVS = [
    (3, 96, 3, 1, 1, 32),
    (96, 96, 3, 1, 1, 32),
    (96, 96, 3, 2, 1, 32),
    (96, 192, 3, 1, 1, 16),
    (192, 192, 3, 1, 1, 16),
    (192, 192, 3, 2, 1, 16),
    (192, 192, 3, 1, 0, 8),
    (192, 192, 1, 1, 0, 6),
    (192, 10, 1, 1, 0, 6),
]


def conv_name(c):
    cin, cout, k, s, p, h = c
    return f"{cin}x{h}x{h}->{cout} k{k} s{s} p{p}"


def mlp():
    return nn.Sequential(nn.Linear(784, 1000), nn.ReLU(), nn.Linear(1000, 1000), nn.ReLU(),
                         nn.Linear(1000, 10))


def vonhacht_mnist():
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
        nn.Linear(3136, 1024), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1024, 10))


def allcnnc():
    layers = []
    cin = 3
    for (_, cout, k, s, p, _) in ALLCNNC_CONVS:
        layers += [nn.Conv2d(cin, cout, k, stride=s, padding=p), nn.ReLU()]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


MODELS = {
    "mlp-784-1000-1000-10": (mlp, (784,)),
    "vonhacht-mnist": (vonhacht_mnist, (1, 28, 28)),
    "allcnnc": (allcnnc, (3, 32, 32)),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--only", default="conv,train")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    only = set(a.only.split(","))
    n = a.batch
    min_time = 0.5 if a.quick else 2.0
    if "conv" in only:
        for c in ALLCNNC_CONVS:
            cin, cout, k, s, p, h = c
            conv = nn.Conv2d(cin, cout, k, stride=s, padding=p)
            x = torch.randn(n, cin, h, h, requires_grad=True)
            with torch.no_grad():
                dy = torch.randn_like(conv(x))

            def step():
                conv.zero_grad(set_to_none=True)
                x.grad = None
                y = conv(x)
                y.backward(dy)

            emit("conv fwd+bwd", conv_name(c), timed(step, min_time, 200), n)
    if "train" in only:
        for name, (ctor, shape) in MODELS.items():
            model = ctor()
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            x = torch.randn(n, *shape)
            y = torch.randint(0, 10, (n,))

            def step():
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.step()

            emit("train step", name, timed(step, min_time, 200), n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
