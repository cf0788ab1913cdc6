#!/usr/bin/python3
"""Export the ONNX test fixtures of pruning/testdata with PyTorch.

Run with Debian's python3 (torch 1.13, onnx 1.12):

    /usr/bin/python3 scripts/export_fixtures.py [outdir]

For each fixture it writes <name>.onnx (dynamic batch dimension), <name>.input.f32 and
<name>.output.f32 (raw little-endian float32, row-major) and <name>.json, which gives
the model file, opset, input/output names and shapes, and the atol the Go test uses.
Weights are seeded random (BatchNormalization with non-trivial running statistics), and
the models are exported in eval mode, so the outputs are deterministic.
"""
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 3


class LeNet300100(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class LeNet5(nn.Module):
    """Caffe's LeNet: conv 20@5x5, max pool, conv 50@5x5, max pool, fc 500, relu, fc 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(self.conv1(x), 2)
        x = F.max_pool2d(self.conv2(x), 2)
        # A constant-shape reshape, so that the fixture carries an int64 initializer.
        x = x.reshape(-1, 800)
        return self.fc2(F.relu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + x)


class TinyResNet(nn.Module):
    """conv-BN-ReLU stem, one residual block with identity shortcut, GAP, fc."""

    def __init__(self, c=8, classes=10):
        super().__init__()
        self.stem = nn.Conv2d(1, c, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.block = Block(c)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.block(x)
        x = torch.flatten(self.pool(x), 1)
        return self.fc(x)


class Mixed(nn.Module):
    """Covers the remaining operators: BN, ReLU6 (Clip), average pooling, a depthwise
    strided conv, x*sigmoid(x), tanh, Concat, x.view(x.size(0), -1) (a Shape/Gather/
    Concat chain that the reader folds) and Softmax."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.dw = nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = F.avg_pool2d(F.relu6(self.bn(self.conv(x))), 2)
        y = self.dw(x)
        y = y * torch.sigmoid(y)
        y = torch.cat([y, torch.tanh(y)], dim=1)
        y = y.view(y.size(0), -1)
        return F.softmax(self.fc(y), dim=1)


def randomize_bn(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.2)
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.3)
                m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)


FIXTURES = [
    # name, constructor, input shape without batch, opset
    ("lenet300_op13", LeNet300100, (1, 28, 28), 13),
    ("lenet5_op13", LeNet5, (1, 28, 28), 13),
    ("resnet_op13", TinyResNet, (1, 16, 16), 13),
    ("resnet_op11", TinyResNet, (1, 16, 16), 11),
    ("resnet_op17", TinyResNet, (1, 16, 16), 17),
    ("mixed_op11", Mixed, (1, 16, 16), 11),
    ("mixed_op13", Mixed, (1, 16, 16), 13),
    ("mixed_op17", Mixed, (1, 16, 16), 17),
]


def export(outdir, name, ctor, shape, opset, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1000)
    model = ctor()
    randomize_bn(model, gen)
    model.eval()
    x = torch.rand((BATCH,) + shape, generator=gen)
    with torch.no_grad():
        y = model(x)
    path = os.path.join(outdir, name + ".onnx")
    torch.onnx.export(
        model, x, path,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=opset,
        # PRESERVE (with the model in eval mode) keeps BatchNormalization as a node
        # instead of folding it into the convolution, so the engine meets real BN.
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=True,
    )
    onnx.checker.check_model(onnx.load(path))
    x.numpy().astype("<f4").tofile(os.path.join(outdir, name + ".input.f32"))
    y.numpy().astype("<f4").tofile(os.path.join(outdir, name + ".output.f32"))
    meta = {
        "model": name + ".onnx",
        "opset": opset,
        "input": {"name": "input", "shape": list(x.shape), "file": name + ".input.f32"},
        "output": {"name": "logits", "shape": list(y.shape), "file": name + ".output.f32"},
        "atol": 1e-4,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
    }
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    ops = sorted({n.op_type for n in onnx.load(path).graph.node})
    print(f"{name}: opset {opset}, ops {ops}, {os.path.getsize(path)} bytes")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "pruning", "testdata")
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    for i, (name, ctor, shape, opset) in enumerate(FIXTURES):
        export(outdir, name, ctor, shape, opset, seed=1 + i)


if __name__ == "__main__":
    main()
