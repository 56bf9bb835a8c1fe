#!/usr/bin/env python3
"""Exports torchvision classifiers with random weights to ONNX, as torch.onnx.export writes them, for the
converter tests (test/convert/torchvision.test.ts). Nothing is downloaded: weights=None, seeded init.

Run with Debian's Python, which has python3-torch and python3-torchvision (pyenv's python3 on PATH does not):
    /usr/bin/python3 scripts/export-torchvision.py OUT_DIR [SIZE]
Writes OUT_DIR/<model>.onnx for each model below, 10 classes, input [batch, 3, SIZE, SIZE] (default 64),
dynamic batch, and prints one line per model.
"""
import sys
import warnings

import torch
import torchvision

# (torchvision builder, opset): the opsets torch 1.13 writes by default (13) and the newest it supports (17).
MODELS = [
    ("resnet18", 13),
    ("mobilenet_v3_small", 17),
    ("efficientnet_b0", 13),
    ("convnext_tiny", 17),
]


def randomize_norms(model: torch.nn.Module) -> None:
    """Fresh BatchNorm running stats (mean 0, var 1) and unit scales make eval-mode activations shrink layer by
    layer until the logits are ~1e-17 and any comparison passes; random stats and affine terms, as a trained
    network has, keep the logits at a useful scale."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.LayerNorm)):
                m.weight.uniform_(0.8, 1.6)
                m.bias.uniform_(-0.2, 0.2)
            if isinstance(m, torch.nn.Linear):
                torch.nn.init.normal_(m.weight, std=1.0 / m.in_features**0.5)
                if m.bias is not None:
                    m.bias.uniform_(-0.1, 0.1)


def main() -> None:
    out = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    for name, opset in MODELS:
        model = getattr(torchvision.models, name)(num_classes=10).eval()
        randomize_norms(model)
        x = torch.rand(2, 3, size, size)
        torch.onnx.export(
            model,
            x,
            f"{out}/{name}.onnx",
            opset_version=opset,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
        print(f"{name} opset {opset}", flush=True)


if __name__ == "__main__":
    main()
