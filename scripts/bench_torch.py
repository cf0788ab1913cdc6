#!/usr/bin/env python3
"""PyTorch side of `go run ./bench/engine`: the built-in fleetprune architectures in
torch with the same shapes, timed on request.

Run with Debian's python3-torch (/usr/bin/python3). It reads one JSON request per line
on stdin and answers one JSON line on stdout, so the Go bench can interleave its own
measurements with torch's in one invocation:

  request:  {"arch": "lenet-5", "mode": "infer" | "train", "batch": 64, "warmup": 5, "runs": 20}
  answer:   {"ok": true, "times_ns": [...]}     (one entry per run)
            {"ok": false, "error": "..."}

"infer" times model(x) under torch.no_grad() in eval mode; "train" times one step of
forward, cross-entropy loss, backward and SGD (momentum 0.9) at the given batch, in
train mode. Inputs are random N×1×28×28 tensors; labels cycle 0..9.
"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.down is None else self.down(x)
        return F.relu(y + s)


class ResNet8(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.layers = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 64, 2))
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def build(arch):
    if arch == "lenet-300-100":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))
    if arch == "lenet-5":
        # Caffe's LeNet-5 as fleetprune builds it: no activation between conv and pool.
        return nn.Sequential(
            nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))
    if arch == "resnet-8":
        return ResNet8()
    raise ValueError(f"unknown architecture {arch!r}")


class Bench:
    def __init__(self):
        self.models = {}

    def model(self, arch):
        if arch not in self.models:
            torch.manual_seed(1)
            m = build(arch)
            self.models[arch] = (m, torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9))
        return self.models[arch]

    def run(self, req):
        arch, mode = req["arch"], req["mode"]
        batch, warmup, runs = int(req["batch"]), int(req.get("warmup", 3)), int(req["runs"])
        if batch < 1 or runs < 1 or warmup < 0:
            raise ValueError(f"bad batch/runs/warmup {batch}/{runs}/{warmup}")
        m, opt = self.model(arch)
        x = torch.randn(batch, 1, 28, 28)
        times = []
        if mode == "infer":
            m.eval()
            with torch.no_grad():
                for i in range(warmup + runs):
                    t0 = time.perf_counter_ns()
                    m(x)
                    t1 = time.perf_counter_ns()
                    if i >= warmup:
                        times.append(t1 - t0)
        elif mode == "train":
            m.train()
            y = torch.arange(batch) % 10
            for i in range(warmup + runs):
                t0 = time.perf_counter_ns()
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(m(x), y)
                loss.backward()
                opt.step()
                t1 = time.perf_counter_ns()
                if i >= warmup:
                    times.append(t1 - t0)
        else:
            raise ValueError(f"unknown mode {mode!r}")
        return times


def blas_library():
    """Names the BLAS shared library torch loaded (Debian's torch calls libblas.so.3,
    which the alternatives system points at OpenBLAS when libopenblas0 is installed)."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1].rsplit("/", 1)[-1] for line in f if "blas" in line.lower()}
        return ",".join(sorted(libs)) or "none"
    except OSError:
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    bench = Bench()
    print(json.dumps({"ok": True, "ready": True, "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "blas": blas_library()}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            ans = {"ok": True, "times_ns": bench.run(json.loads(line))}
        except Exception as e:  # report, keep serving
            ans = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(ans), flush=True)


if __name__ == "__main__":
    main()
