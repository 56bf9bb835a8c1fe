#!/usr/bin/env python3
"""Writes a detector benchmark model with RANDOM but seeded weights, as ONNX (opset 11, dynamic H/W):

- `--arch mobilenet` (default): torchvision Faster R-CNN MobileNetV3-Large FPN in the AMI configuration
  ("FasterRCNN - MobileNet for AMI Moth Traps 2023"), bench-results/frcnn-mobilenet-ami.onnx;
- `--arch resnet50`: torchvision fasterrcnn_resnet50_fpn with 2 classes, ADC's production detector
  (min_size 800, max_size 1333, 500 detections per image), bench-results/frcnn-resnet50-fpn.onnx.

Nothing is downloaded (weights=None, weights_backbone=None). The file is generated locally and never committed.

Run with Debian's python3 (the pyenv `python3` on PATH cannot see python3-torch / python3-torchvision / python3-onnx):

    /usr/bin/python3 scripts/export-bench-detector.py [--arch mobilenet|resnet50] [--out <file>.onnx]

AMI configuration (ami-data-companion's MothObjectDetector_FasterRCNN_MobileNet_2023): mobilenet_v3_large FPN
extractor with all 6 layers trainable, anchor sizes (64, 128, 256, 512) on each of 3 levels, aspect ratios
(0.5, 1, 2), rpn_score_thresh 0.05, 2 classes, 500 detections per image, min_size 800, max_size 1333. The input is
one CHW RGB image in [0, 1] at its own size; the outputs are boxes (source pixels), labels and scores.
"""
import argparse
import math
import os

import onnx
import torch
from torchvision.models.detection import FasterRCNN, fasterrcnn_resnet50_fpn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import mobilenet_backbone


def build_mobilenet():
    """The model as ami-data-companion builds it, with random seeded weights."""
    torch.manual_seed(0)
    # weights=None: no download; trainable_layers=6: every layer of the extractor trainable, as AMI trains it.
    backbone = mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=True, trainable_layers=6)
    anchor_sizes = ((64, 128, 256, 512),) * 3  # one tuple per feature map: FPN's two levels and the pool level
    aspect_ratios = ((0.5, 1.0, 2.0),) * len(anchor_sizes)
    model = FasterRCNN(
        backbone,
        num_classes=2,
        rpn_anchor_generator=AnchorGenerator(anchor_sizes, aspect_ratios),
        rpn_score_thresh=0.05,
        box_detections_per_img=500,
        min_size=800,
        max_size=1333,
    ).eval()
    return seeded(model)


def build_resnet50():
    """ADC's production detector: fasterrcnn_resnet50_fpn, 2 classes, its own transform sizes, random weights."""
    torch.manual_seed(0)
    model = fasterrcnn_resnet50_fpn(
        weights=None,
        weights_backbone=None,
        num_classes=2,
        min_size=800,
        max_size=1333,
        box_detections_per_img=500,
    ).eval()
    return seeded(model)


def seeded(model):
    """Replaces every parameter by seeded N(0, 1/fan_in) values (see below why not torchvision's init)."""
    # With torchvision's default initialisation every box on the samples came out with one and the same score:
    # ties leave the order of NMS's output arbitrary and the two runtimes' lists cannot be compared. Seeded
    # N(0, 1/fan_in) weights (as scripts/export-onnx-fixtures.py uses) give mostly distinct scores (500 boxes per
    # 4K sample, some still tied to 1e-6, which is why bench/detector.ts matches boxes by their corners).
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (1.0 / math.sqrt(max(1, p[0].numel()))))
    return model


ARCHS = {
    "mobilenet": (build_mobilenet, "frcnn-mobilenet-ami.onnx"),
    "resnet50": (build_resnet50, "frcnn-resnet50-fpn.onnx"),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", choices=sorted(ARCHS), default="mobilenet", help="which detector (default mobilenet)")
    ap.add_argument("--out", help="where to write the ONNX file (keep it out of git); default per --arch")
    args = ap.parse_args()
    build, name = ARCHS[args.arch]
    out = args.out or os.path.join(os.path.dirname(__file__), "..", "bench-results", name)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    model = build()
    # Tracing input only: H and W are exported as dynamic axes.
    img = torch.rand(3, 540, 1024, generator=torch.Generator().manual_seed(1))
    torch.onnx.export(
        model,
        ([img],),
        out,
        opset_version=11,
        input_names=["images"],
        output_names=["boxes", "labels", "scores"],
        dynamic_axes={"images": [1, 2], "boxes": [0], "labels": [0], "scores": [0]},
    )
    onnx.checker.check_model(onnx.load(out))
    print(f"wrote {os.path.relpath(out)} ({os.path.getsize(out) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
