#!/usr/bin/env python3
"""Reference timings for bench/cuda_bench.ts, from PyTorch in float32 with TF32 off.

Modes (each prints one JSON object per line on stdout):
  gemm SHAPE...        row-major op(A) op(B), SHAPE = MxNxK[:nn|nt|tn|tt] (torch.matmul -> cuBLAS)
  conv BATCH           every All-CNN-C convolution (CIFAR size), forward + backward (cuDNN)
  allcnnc BATCH...     one All-CNN-C training step (plain, no dropout, SGD momentum 0.9)

Only a measuring stick: never imported by the library. Exits 3 with one line when no CUDA
device answers.
"""
import json
import sys
import time

import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.backends.cudnn.benchmark = True
torch.set_float32_matmul_precision("highest")

# (cin, cout, kernel, stride, pad, input size) of All-CNN-C on 3x32x32
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


def timed(fn, min_ms=300.0, max_iters=1000):
    """Mean milliseconds per call of fn, after warm-up, timed with CUDA events."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    e0 = torch.cuda.Event(enable_timing=True)
    e1 = torch.cuda.Event(enable_timing=True)
    e0.record()
    fn()
    e1.record()
    e1.synchronize()
    one = max(e0.elapsed_time(e1), 1e-3)
    iters = int(min(max_iters, max(3, min_ms / one)))
    e0.record()
    for _ in range(iters):
        fn()
    e1.record()
    e1.synchronize()
    return e0.elapsed_time(e1) / iters


def mode_gemm(shapes):
    for s in shapes:
        dims, _, ops = s.partition(":")
        m, n, k = (int(v) for v in dims.split("x"))
        ops = ops or "nn"
        a = torch.rand(k, m, device="cuda") if ops[0] == "t" else torch.rand(m, k, device="cuda")
        b = torch.rand(n, k, device="cuda") if ops[1] == "t" else torch.rand(k, n, device="cuda")
        ao = a.t() if ops[0] == "t" else a
        bo = b.t() if ops[1] == "t" else b
        ms = timed(lambda: torch.matmul(ao, bo))
        print(json.dumps({"shape": s, "m": m, "n": n, "k": k, "ops": ops, "ms": ms,
                          "gflops": 2.0 * m * n * k / (ms * 1e6)}), flush=True)


def mode_conv(batch):
    for i, (cin, cout, k, stride, pad, size) in enumerate(ALLCNNC_CONVS):
        conv = torch.nn.Conv2d(cin, cout, k, stride=stride, padding=pad).cuda()
        x = torch.randn(batch, cin, size, size, device="cuda", requires_grad=True)
        out = (size + 2 * pad - k) // stride + 1
        dy = torch.randn(batch, cout, out, out, device="cuda")

        def step():
            conv.zero_grad(set_to_none=False)
            x.grad = None
            y = conv(x)
            y.backward(dy)

        ms = timed(step)
        print(json.dumps({"layer": i, "cin": cin, "cout": cout, "kernel": k, "stride": stride,
                          "pad": pad, "size": size, "batch": batch, "ms": ms}), flush=True)


def allcnnc(classes=10):
    layers = []
    for cin, cout, k, stride, pad, _ in ALLCNNC_CONVS[:-1]:
        layers += [torch.nn.Conv2d(cin, cout, k, stride=stride, padding=pad), torch.nn.ReLU()]
    cin, cout, k, stride, pad, _ = ALLCNNC_CONVS[-1]
    layers += [torch.nn.Conv2d(cin, classes, k, stride=stride, padding=pad),
               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()]
    return torch.nn.Sequential(*layers)


def mode_allcnnc(batches):
    for batch in batches:
        torch.manual_seed(0)
        model = allcnnc().cuda()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        lossf = torch.nn.CrossEntropyLoss()
        x = torch.randn(batch, 3, 32, 32, device="cuda")
        y = torch.randint(0, 10, (batch,), device="cuda")

        def step():
            opt.zero_grad(set_to_none=False)
            loss = lossf(model(x), y)
            loss.backward()
            opt.step()
            return loss

        ms = timed(step, min_ms=1000.0)
        # the same step with the per-step host reads our trainer does (loss and error)
        def step_sync():
            loss = step()
            loss.item()

        t0 = time.perf_counter()
        n = max(3, int(1000.0 / max(ms, 1e-3)))
        for _ in range(n):
            step_sync()
        torch.cuda.synchronize()
        ms_sync = (time.perf_counter() - t0) * 1000.0 / n
        print(json.dumps({"batch": batch, "ms": ms, "ms_with_sync": ms_sync,
                          "images_per_s": batch * 1000.0 / ms_sync}), flush=True)


def main(argv):
    if not torch.cuda.is_available():
        print("torch_ref: no CUDA device", file=sys.stderr)
        return 3
    if len(argv) < 2 or argv[1] not in ("gemm", "conv", "allcnnc"):
        print(__doc__, file=sys.stderr)
        return 1
    mode, rest = argv[1], argv[2:]
    if mode == "gemm":
        mode_gemm(rest)
    elif mode == "conv":
        mode_conv(int(rest[0]) if rest else 128)
    else:
        mode_allcnnc([int(v) for v in rest] or [32, 128])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
