#!/usr/bin/env python3
"""Regenerates the ONNX detector fixtures in test/fixtures/onnx/ (committed; CI does not need torch).

Run with Debian's python3 (the pyenv `python3` on PATH cannot see python3-torch / python3-torchvision / python3-onnx):

    /usr/bin/python3 scripts/export-onnx-fixtures.py [--out test/fixtures/onnx]

Writes
- yolo-tiny.onnx: a tiny YOLOv8-style detector written by hand (no ultralytics package): conv backbone, nearest
  Upsample (ONNX Resize by scales), Concat, Split, a C2f-like block and a detect head with DFL (reshape to
  [b, 4, 16, a], softmax over a non-final axis, 1x1 conv with arange weights), anchors/strides and sigmoid class
  scores. Input [1, 3, 64, 64]; output [1, 4 + nc, N] (cx, cy, w, h in input pixels, then class scores), nc = 3.
  ultralytics' metadata (names, imgsz, stride, task) is added to metadata_props as ultralytics writes it.
- frcnn-tiny.onnx: torchvision's FasterRCNN with a two-conv backbone but the real RPN, anchor generator,
  MultiScaleRoIAlign, a narrow TwoMLPHead and the in-graph NMS, exported with dynamic image size (opset 11).

Weights are random but seeded, so the files are reproducible on one torch version.
"""
import argparse
import math
import os

import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------------------------------------------
# YOLOv8-style detector


class ConvBnAct(nn.Module):
    """ultralytics' Conv: conv (no bias) + BN + SiLU."""

    def __init__(self, c1, c2, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.cv1 = ConvBnAct(c, c, 3)
        self.cv2 = ConvBnAct(c, c, 3)

    def forward(self, x):
        return x + self.cv2(self.cv1(x))


class C2f(nn.Module):
    """ultralytics' C2f: split the channels in two, run bottlenecks on one half, concat everything."""

    def __init__(self, c1, c2, n=1):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = ConvBnAct(c1, 2 * self.c, 1)
        self.cv2 = ConvBnAct((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).split((self.c, self.c), 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class DFL(nn.Module):
    """Distribution focal loss integral: softmax over 16 bins, then a 1x1 conv with weights 0..15."""

    def __init__(self, c1=16):
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1)
        self.c1 = c1

    def forward(self, x):
        b, _, a = x.shape  # [b, 4*16, a]
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


def make_anchors(shapes, strides, offset=0.5):
    points, stride_t = [], []
    for (h, w), s in zip(shapes, strides):
        sx = torch.arange(w, dtype=torch.float) + offset
        sy = torch.arange(h, dtype=torch.float) + offset
        yy, xx = torch.meshgrid(sy, sx, indexing="ij")
        points.append(torch.stack((xx, yy), -1).view(-1, 2))
        stride_t.append(torch.full((h * w, 1), s, dtype=torch.float))
    return torch.cat(points).transpose(0, 1), torch.cat(stride_t).transpose(0, 1)


class Detect(nn.Module):
    def __init__(self, nc, ch, strides, imgsz):
        super().__init__()
        self.nc, self.reg_max = nc, 16
        self.no = nc + 4 * self.reg_max
        c2, c3 = 16, 8
        self.cv2 = nn.ModuleList(
            nn.Sequential(ConvBnAct(x, c2, 3), nn.Conv2d(c2, 4 * self.reg_max, 1)) for x in ch
        )
        self.cv3 = nn.ModuleList(nn.Sequential(ConvBnAct(x, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = DFL(self.reg_max)
        shapes = [(imgsz[0] // s, imgsz[1] // s) for s in strides]
        anchors, stride_t = make_anchors(shapes, strides)
        self.register_buffer("anchors", anchors)  # [2, N]
        self.register_buffer("strides", stride_t)  # [1, N]

    def forward(self, xs):
        xs = [torch.cat((self.cv2[i](x), self.cv3[i](x)), 1) for i, x in enumerate(xs)]
        shape = xs[0].shape
        x_cat = torch.cat([xi.view(shape[0], self.no, -1) for xi in xs], 2)
        box, cls = x_cat.split((self.reg_max * 4, self.nc), 1)
        dist = self.dfl(box)
        lt, rb = dist.chunk(2, 1)
        x1y1 = self.anchors.unsqueeze(0) - lt
        x2y2 = self.anchors.unsqueeze(0) + rb
        dbox = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * self.strides
        return torch.cat((dbox, cls.sigmoid()), 1)


class TinyYolo(nn.Module):
    def __init__(self, nc=3, imgsz=(64, 64)):
        super().__init__()
        self.b0 = ConvBnAct(3, 8, 3, 2)  # /2
        self.b1 = ConvBnAct(8, 16, 3, 2)  # /4
        self.c1 = C2f(16, 16)
        self.b2 = ConvBnAct(16, 24, 3, 2)  # /8  -> P3
        self.c2 = C2f(24, 24)
        self.b3 = ConvBnAct(24, 32, 3, 2)  # /16 -> P4
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.c3 = C2f(32 + 24, 24)
        self.detect = Detect(nc, (24, 32), (8, 16), imgsz)

    def forward(self, x):
        p3 = self.c2(self.b2(self.c1(self.b1(self.b0(x)))))
        p4 = self.b3(p3)
        n3 = self.c3(torch.cat((self.up(p4), p3), 1))
        return self.detect([n3, p4])


def randomize_bn(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = torch.rand(c, generator=gen) + 0.5
            m.bias.data = torch.randn(c, generator=gen) * 0.1
            m.running_mean.data = torch.randn(c, generator=gen) * 0.1
            m.running_var.data = torch.rand(c, generator=gen) + 0.5


def export_yolo(out_dir):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = TinyYolo().eval()
    randomize_bn(model, gen)
    with torch.no_grad():
        # Class logits biased low so that most anchors score under 0.25, as in a trained detector.
        for seq in model.detect.cv3:
            seq[-1].bias.data[:] = -2.0
    path = os.path.join(out_dir, "yolo-tiny.onnx")
    x = torch.rand(1, 3, 64, 64, generator=gen)
    torch.onnx.export(
        model, x, path, opset_version=13, input_names=["images"], output_names=["output0"], do_constant_folding=True
    )
    m = onnx.load(path)
    meta = {
        "description": "tiny YOLOv8-style test detector (random weights)",
        "author": "antenna-tfjs-service scripts/export-onnx-fixtures.py",
        "task": "detect",
        "batch": "1",
        "stride": "16",
        "imgsz": "[64, 64]",
        "names": "{0: 'insect', 1: 'other', 2: 'dust'}",
    }
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return path


# ---------------------------------------------------------------------------------------------------------------
# torchvision Faster R-CNN with a tiny backbone


class TinyFpnBackbone(nn.Module):
    """Two strided convs and an FPN-like pair of levels, the interface torchvision's FasterRCNN expects."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Sequential(nn.Conv2d(3, 8, 3, 4, 1), nn.ReLU())  # /4
        self.c2 = nn.Sequential(nn.Conv2d(8, 8, 3, 2, 1), nn.ReLU())  # /8
        self.c3 = nn.Sequential(nn.Conv2d(8, 8, 3, 2, 1), nn.ReLU())  # /16
        self.lat = nn.Conv2d(8, 8, 1)
        self.out_channels = 8

    def forward(self, x):
        a = self.c2(self.c1(x))
        b = self.c3(a)
        top = F.interpolate(b, size=a.shape[-2:], mode="nearest")
        return {"0": self.lat(a) + top, "1": b, "pool": F.max_pool2d(b, 1, 2, 0)}


def export_frcnn(out_dir):
    from collections import OrderedDict  # noqa: F401  (torchvision returns OrderedDicts)

    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign

    torch.manual_seed(0)
    backbone = TinyFpnBackbone()
    anchors = AnchorGenerator(sizes=((32,), (64,), (128,)), aspect_ratios=((0.5, 1.0, 2.0),) * 3)
    roi = MultiScaleRoIAlign(featmap_names=["0", "1"], output_size=4, sampling_ratio=2)
    head = TwoMLPHead(8 * 4 * 4, 16)
    model = FasterRCNN(
        backbone,
        num_classes=None,  # 2 classes, set by the predictor
        rpn_anchor_generator=anchors,
        box_roi_pool=roi,
        box_head=head,
        box_predictor=FastRCNNPredictor(16, 2),
        min_size=128,
        max_size=213,
        box_detections_per_img=500,
        rpn_pre_nms_top_n_test=200,
        rpn_post_nms_top_n_test=100,
        rpn_score_thresh=0.05,
        box_score_thresh=0.05,
    ).eval()
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (1.0 / math.sqrt(max(1, p[0].numel()))))
    path = os.path.join(out_dir, "frcnn-tiny.onnx")
    img = torch.rand(3, 96, 128, generator=gen)
    torch.onnx.export(
        model,
        ([img],),
        path,
        opset_version=11,
        input_names=["images"],
        output_names=["boxes", "labels", "scores"],
        dynamic_axes={"images": [1, 2], "boxes": [0], "labels": [0], "scores": [0]},
    )
    onnx.checker.check_model(onnx.load(path))
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "onnx"))
    ap.add_argument("--only", choices=["yolo", "frcnn"])
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, fn in (("yolo", export_yolo), ("frcnn", export_frcnn)):
        if args.only and args.only != name:
            continue
        path = fn(args.out)
        print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
