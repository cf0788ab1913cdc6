# Exports a tiny CNN that flattens with x.view(x.size(0), -1) under a dynamic batch, as
# torch.onnx.export writes it (Shape -> Gather -> Unsqueeze -> Concat -> Reshape), with
# a reference input and output for foldshapes_torch_test.go.
# Run: /usr/bin/python3 pruning/graph/testdata/export_torch_view.py
import json, os
import torch

class View(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)
        self.fc = torch.nn.Linear(2 * 6 * 6, 3)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        x = x.view(x.size(0), -1)
        return self.fc(x)

here = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
m = View().eval()
x = (torch.arange(2 * 64, dtype=torch.float32).reshape(2, 1, 8, 8) % 7) / 7
torch.onnx.export(m, x[:1], os.path.join(here, "torch_view.onnx"), opset_version=13,
                  input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
with torch.no_grad():
    y = m(x)
with open(os.path.join(here, "torch_view.json"), "w") as f:
    json.dump({"input_shape": list(x.shape), "input": x.flatten().tolist(),
               "output_shape": list(y.shape), "output": y.flatten().tolist()}, f)
