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
- frcnn-mobilenet-tiny.onnx: the structure of ADC's "FasterRCNN - MobileNet for AMI Moth Traps 2023"
  (torchvision's mobilenet_backbone: MobileNetV3-Large blocks with FrozenBatchNorm2d, squeeze-excitation and
  hardswish, its two last stages into an FPN with a max-pool level; AMI's anchors, 4 sizes and 3 ratios on each of
  3 levels; rpn_score_thresh 0.05), narrowed (width 1/8, 8 FPN channels, fewer blocks, 4x4 RoIs) to stay small.
- frcnn-resnet50-tiny.onnx: the structure of fasterrcnn_resnet50_fpn (ADC's production detector: ResNet Bottleneck
  stages with BatchNorm, the FPN over all four, five anchor levels, RoIAlign over four levels), narrowed likewise.
- frcnn-shorter-side-tiny.onnx: the ResNet-50-FPN fixture exported as `npm run import-adc` exports ADC's detector:
  the transform's resize and normalisation replaced by identities, so the service resizes (manifest resize
  "shorter-side") and normalises, and the graph's boxes are in pixels of the resized image.
- torchvision-references.json: PyTorch's own outputs (boxes, labels, scores of the eager model, transform included)
  of the four torchvision fixtures on the pictures listed there, which tests rebuild pixel for pixel (`picture()`).

The references also cover frcnn-tiny and frcnn-mobilenet-tiny (rpn_score_thresh 0.05, as AMI's MobileNet; at
torchvision's default of 0 every anchor passes) "+rpn-silent": rpn.head.cls_logits.bias set to RPN_SILENT_BIAS,
which the tests patch into the ONNX file, so that no proposal survives the RPN on any picture, as with a trained
model on a blank image (the path that warm-up takes on such a model). onnxruntime cannot run that path (its Reshape
refuses the `[0, -1]` that `box_coder.decode` asks for), so PyTorch's answer is the reference there.

Weights are random but seeded, so the files are reproducible on one torch version.
"""
import argparse
import copy
import json
import math
import os
from functools import partial

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool
from torchvision.ops.misc import FrozenBatchNorm2d


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


def build_yolo(imgsz=(64, 64)):
    """The yolo-tiny model at `imgsz` (the weights do not depend on it) and the generator its weights came from."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = TinyYolo(imgsz=imgsz).eval()
    randomize_bn(model, gen)
    with torch.no_grad():
        # Class logits biased low so that most anchors score under 0.25, as in a trained detector.
        for seq in model.detect.cv3:
            seq[-1].bias.data[:] = -2.0
    return model, gen


def export_yolo_onnx(model, path, x, imgsz):
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
        "imgsz": f"[{imgsz[0]}, {imgsz[1]}]",
        "names": "{0: 'insect', 1: 'other', 2: 'dust'}",
    }
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return path


def export_yolo(out_dir):
    model, gen = build_yolo()
    x = torch.rand(1, 3, 64, 64, generator=gen)
    return export_yolo_onnx(model, os.path.join(out_dir, "yolo-tiny.onnx"), x, (64, 64))


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


def export_frcnn_onnx(model, img, path):
    """torchvision's documented detection export: a list of one CHW image, opset 11, dynamic H and W."""
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


def build_frcnn():
    """The frcnn-tiny model and the generator its weights came from (the tracing image is drawn next)."""
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
    return model, gen


def export_frcnn(out_dir):
    model, gen = build_frcnn()
    path = os.path.join(out_dir, "frcnn-tiny.onnx")
    img = torch.rand(3, 96, 128, generator=gen)
    return export_frcnn_onnx(model, img, path)


# ---------------------------------------------------------------------------------------------------------------
# torchvision Faster R-CNN families, narrowed; pictures and PyTorch references

# The pictures the references are recorded on, rebuilt by test/convert/torchvision-pictures.ts from these numbers.
# Sizes and aspect ratios vary; the fixtures' transform (min_size 128, max_size 213) scales every one up except
# "large-300x200" (down; only the shorter-side fixture, whose resize the service does, is checked there).
PICTURES = [
    {"id": "blank-64", "kind": "blank", "width": 64, "height": 64, "seed": 0},
    {"id": "blank-160x90", "kind": "blank", "width": 160, "height": 90, "seed": 0},
    {"id": "grey-100x120", "kind": "grey", "width": 100, "height": 120, "seed": 0},
    {"id": "texture-128x96", "kind": "texture", "width": 128, "height": 96, "seed": 1},
    {"id": "texture-90x120", "kind": "texture", "width": 90, "height": 120, "seed": 2},
    {"id": "texture-200x64", "kind": "texture", "width": 200, "height": 64, "seed": 3},
    {"id": "texture-77x131", "kind": "texture", "width": 77, "height": 131, "seed": 4},
    {"id": "texture-300x200", "kind": "texture", "width": 300, "height": 200, "seed": 5},
]


# The RPN objectness bias of the "+rpn-silent" variants: sigmoid(-30) is far under every rpn_score_thresh.
RPN_SILENT_BIAS = -30.0


def hash32(i):
    """A 32-bit integer hash (the same arithmetic as Math.imul and >>> 0 in JavaScript), elementwise on uint64."""
    i = i & 0xFFFFFFFF
    i = (((i >> 16) ^ i) * 0x45D9F3B) & 0xFFFFFFFF
    i = (((i >> 16) ^ i) * 0x45D9F3B) & 0xFFFFFFFF
    return (i >> 16) ^ i


def picture(p):
    """HWC uint8 pixels: black ("blank"), mid-grey ("grey"), or seeded noise in 64..191 over 4x4 blocks mixed
    with per-pixel noise ("texture"), a stand-in for a cluttered light sheet that random weights find boxes in."""
    w, h = p["width"], p["height"]
    img = torch.zeros(h, w, 3, dtype=torch.uint8)
    if p["kind"] == "grey":
        img[:] = 128
    elif p["kind"] == "texture":
        seed = np.uint64(p["seed"])
        y, x, c = np.meshgrid(np.arange(h, dtype=np.uint64), np.arange(w, dtype=np.uint64), np.arange(3, dtype=np.uint64), indexing="ij")
        block = hash32(seed * np.uint64(7919) + ((y // np.uint64(4)) * np.uint64(1031) + x // np.uint64(4)) * np.uint64(3) + c)
        pixel = hash32(seed * np.uint64(104729) + (y * np.uint64(w) + x) * np.uint64(3) + c)
        img = torch.from_numpy((64 + block % np.uint64(96) + pixel % np.uint64(32)).astype(np.uint8))
    return img


def as_chw(img):
    return img.permute(2, 0, 1).float() / 255


def seeded(model, seed=2):
    """Every parameter (and FrozenBatchNorm2d buffer) from seeded N(0, 1/fan_in), as export_frcnn does."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (1.0 / math.sqrt(max(1, p[0].numel()))))
        for m in model.modules():
            if isinstance(m, FrozenBatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    randomize_bn(model, gen)
    return model


def calibrate_box_scores(model, per_picture=12):
    """Shifts the box predictor's foreground logit so that about `per_picture` boxes of a textured picture score
    over 0.5 (random weights otherwise give every box nearly the same score, all over or all under any threshold)."""
    thresh = model.roi_heads.score_thresh
    model.roi_heads.score_thresh = 0.0
    logits = []
    for p in PICTURES:
        if p["kind"] != "texture":
            continue
        with torch.no_grad():
            (det,) = model([as_chw(picture(p))])
        s = det["scores"].sort(descending=True).values.clamp(1e-6, 1 - 1e-6)
        logits.append(float(torch.log(s / (1 - s))[min(per_picture, len(s) - 1)]))
    shift = -sorted(logits)[len(logits) // 2]
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias[1:] += shift
        # No score within 1e-4 of the service's 0.5 on any picture: such a box could fall either side of it.
        while any(near_half(model, p) for p in PICTURES):
            model.roi_heads.box_predictor.cls_score.bias[1:] += 0.01
    model.roi_heads.score_thresh = thresh
    return model


def near_half(model, p):
    with torch.no_grad():
        (det,) = model([as_chw(picture(p))])
    return bool(((det["scores"] - 0.5).abs() <= 1e-4).any())


def rpn_silenced(model):
    """A copy whose RPN keeps no proposal on any picture: every objectness logit far under rpn_score_thresh, as a
    trained model's on an empty light sheet. (Random weights cannot tell a blank picture from a textured one: their
    deep features barely depend on the content, so no bias keeps proposals on the one and none on the other.)"""
    silent = copy.deepcopy(model)
    with torch.no_grad():
        silent.rpn.head.cls_logits.bias.fill_(RPN_SILENT_BIAS)
    return silent


def tiny_mobilenet_fpn():
    """mobilenet_backbone("mobilenet_v3_large", fpn=True, trainable_layers=6) as ADC's 2023 detector builds it
    (FrozenBatchNorm2d, torchvision's default there), on a shortened, 1/8-width block list, with 8 FPN channels."""
    from torchvision.models.detection.backbone_utils import _mobilenet_extractor
    from torchvision.models.mobilenetv3 import InvertedResidualConfig, MobileNetV3

    c = partial(InvertedResidualConfig, width_mult=0.125)
    # input, kernel, expanded, out, SE, activation, stride, dilation: every kind of mobilenet_v3_large block.
    blocks = [
        c(16, 3, 16, 16, False, "RE", 1, 1),
        c(16, 3, 64, 24, False, "RE", 2, 1),
        c(24, 5, 72, 40, True, "RE", 2, 1),
        c(40, 3, 240, 80, False, "HS", 2, 1),
        c(80, 3, 184, 80, False, "HS", 1, 1),
        c(80, 3, 480, 112, True, "HS", 1, 1),
        c(112, 5, 672, 80, True, "HS", 2, 1),
        c(80, 5, 480, 80, True, "HS", 1, 1),
    ]
    backbone = _mobilenet_extractor(MobileNetV3(blocks, last_channel=64, norm_layer=FrozenBatchNorm2d), True, 6)
    return narrow_fpn(backbone, LastLevelMaxPool())


def tiny_resnet50_fpn():
    """resnet_fpn_backbone as fasterrcnn_resnet50_fpn(weights=None) builds it (BatchNorm2d, 3 trainable layers,
    every stage into the FPN), on Bottleneck stages of one block each at 1/16 width, with 8 FPN channels."""
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.models.resnet import Bottleneck, ResNet

    body = ResNet(Bottleneck, [1, 1, 1, 1])
    # ResNet fixes its widths (64 .. 512 planes); rebuild the stem and stages narrower with its own _make_layer.
    body.inplanes = 4
    body.conv1 = nn.Conv2d(3, 4, kernel_size=7, stride=2, padding=3, bias=False)
    body.bn1 = nn.BatchNorm2d(4)
    body.layer1 = body._make_layer(Bottleneck, 4, 1)
    body.layer2 = body._make_layer(Bottleneck, 8, 1, stride=2)
    body.layer3 = body._make_layer(Bottleneck, 16, 1, stride=2)
    body.layer4 = body._make_layer(Bottleneck, 32, 1, stride=2)
    body.fc = nn.Linear(128, 1)
    return narrow_fpn(_resnet_fpn_extractor(body, 3), LastLevelMaxPool())


def narrow_fpn(backbone, extra):
    """The same BackboneWithFPN (the same returned layers) with an 8-channel FPN instead of torchvision's 256."""
    from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork

    ins = [m.in_channels for m in backbone.fpn.inner_blocks.modules() if isinstance(m, nn.Conv2d)]
    backbone.fpn = FeaturePyramidNetwork(ins, 8, extra_blocks=extra)
    backbone.out_channels = 8
    return backbone


def build_frcnn_mobilenet():
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign

    torch.manual_seed(0)
    anchor_sizes = ((16, 32, 64, 128),) * 3  # AMI's (64, 128, 256, 512) on each level, for 128 px images
    model = FasterRCNN(
        tiny_mobilenet_fpn(),
        rpn_anchor_generator=AnchorGenerator(anchor_sizes, ((0.5, 1.0, 2.0),) * 3),
        # FasterRCNN's own MultiScaleRoIAlign for this backbone's levels, at 4x4 instead of 7x7 to keep it small.
        box_roi_pool=MultiScaleRoIAlign(["0", "1"], 4, 2),
        box_head=TwoMLPHead(8 * 4 * 4, 16),
        box_predictor=FastRCNNPredictor(16, 2),
        rpn_score_thresh=0.05,
        box_score_thresh=0.45,
        box_detections_per_img=500,
        min_size=128,
        max_size=213,
    ).eval()
    return calibrate_box_scores(seeded(model))


def build_frcnn_resnet50():
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign

    torch.manual_seed(0)
    # The default anchors (32 .. 512 over five levels); RoIAlign over levels 0-3 as FasterRCNN builds it, at 4x4.
    model = FasterRCNN(
        tiny_resnet50_fpn(),
        box_roi_pool=MultiScaleRoIAlign(["0", "1", "2", "3"], 4, 2),
        box_head=TwoMLPHead(8 * 4 * 4, 16),
        box_predictor=FastRCNNPredictor(16, 2),
        box_score_thresh=0.45,
        box_detections_per_img=500,
        min_size=128,
        max_size=213,
    ).eval()
    return calibrate_box_scores(seeded(model))


def identity_normalize(image):
    return image


def identity_resize(image, target=None):
    return image, target


def export_torchvision(model, path, shorter_side=False):
    img = as_chw(picture(PICTURES[3]))  # traced on a picture that keeps proposals, as a real export would be
    if shorter_side:
        # As scripts/adc/export-onnx.py exports ADC's detector for npm run import-adc: the service resizes and
        # normalises, so the graph receives the image the transform would have made.
        model = copy.deepcopy(model)
        model.transform.normalize = identity_normalize
        model.transform.resize = identity_resize
        img = (img - 0.45) / 0.225
    return export_frcnn_onnx(model, img, path)


def references(models):
    """PyTorch's eager outputs, transform included, per fixture and picture."""
    out = {"pictures": PICTURES, "models": {}}
    for name, model in models.items():
        per = {}
        for p in PICTURES:
            with torch.no_grad():
                (det,) = model([as_chw(picture(p))])
            per[p["id"]] = {
                "boxes": [[round(float(v), 4) for v in b] for b in det["boxes"]],
                "labels": [int(v) for v in det["labels"]],
                "scores": [round(float(v), 7) for v in det["scores"]],
            }
        out["models"][name] = per
        print(f"{name}: " + ", ".join(f"{k} {len(v['scores'])}" for k, v in per.items()))
    return out


def export_torchvision_families(out_dir):
    tiny = build_frcnn()[0]
    mobilenet = build_frcnn_mobilenet()
    resnet = build_frcnn_resnet50()
    paths = [
        export_torchvision(mobilenet, os.path.join(out_dir, "frcnn-mobilenet-tiny.onnx")),
        export_torchvision(resnet, os.path.join(out_dir, "frcnn-resnet50-tiny.onnx")),
        export_torchvision(resnet, os.path.join(out_dir, "frcnn-shorter-side-tiny.onnx"), shorter_side=True),
    ]
    models = {
        "frcnn-tiny": tiny,
        "frcnn-mobilenet-tiny": mobilenet,
        "frcnn-resnet50-tiny": resnet,
        "frcnn-shorter-side-tiny": resnet,
    }
    # The same fixtures with rpn.head.cls_logits.bias set to RPN_SILENT_BIAS (tests patch the ONNX initializer).
    # Only where rpn_score_thresh > 0 (AMI's MobileNet config): at torchvision's default 0 every anchor passes.
    models.update({f"{name}+rpn-silent": rpn_silenced(models[name]) for name in ("frcnn-tiny", "frcnn-mobilenet-tiny")})
    refs = references(models)
    refs["rpn_silent_bias"] = RPN_SILENT_BIAS
    path = os.path.join(out_dir, "torchvision-references.json")
    with open(path, "w") as f:
        json.dump(refs, f, separators=(",", ":"))
        f.write("\n")
    return [*paths, path]


# ---------------------------------------------------------------------------------------------------------------
# ultralytics' predict pipeline on the YOLO fixture at 640, reimplemented from ultralytics' source (ultralytics is
# not installable here); PyTorch's boxes through it are the reference a maintainer compares with.

# Pictures for the YOLO references: sizes where ultralytics' arithmetic is easy to get wrong.
YOLO_PICTURES = [
    {"id": "blank-1280x721", "kind": "blank", "width": 1280, "height": 721, "seed": 0},
    # 721 · 0.5 = 360.5: Python's round() gives 360 (half to even), JavaScript's Math.round 361.
    {"id": "texture-1280x721", "kind": "texture", "width": 1280, "height": 721, "seed": 11},
    # 501 · 0.64 = 320.64: LetterBox pads 159 rows on top, scale_boxes subtracts 160 (see ultralytics_scale_boxes).
    {"id": "texture-1000x501", "kind": "texture", "width": 1000, "height": 501, "seed": 12},
    # 200 · 640/300 = 426.67: scaled up, and the content's 427 rows are not 200 · gain.
    {"id": "texture-300x200", "kind": "texture", "width": 300, "height": 200, "seed": 13},
    {"id": "texture-640x480", "kind": "texture", "width": 640, "height": 480, "seed": 14},
    {"id": "grey-480x640", "kind": "grey", "width": 480, "height": 640, "seed": 0},
]

YOLO_IMGSZ = 640
YOLO_CONF = 0.25
YOLO_IOU = 0.7


def cv2_linear(img, size):
    import cv2

    return cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)


def bilinear_rounded(img, size):
    """The service's resize for letterbox-center: bilinear with half-pixel centres in float, rounded to whole
    values (halves up). cv2's INTER_LINEAR on 8-bit pixels weighs in 11-bit fixed point and differs by 1 on about one value in
    eight; this variant isolates what that alone changes."""
    t = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    t = F.interpolate(t, size=(size[1], size[0]), mode="bilinear", align_corners=False)
    return torch.floor(t + 0.5)[0].permute(1, 2, 0).numpy().astype(np.uint8)


def ultralytics_letterbox(img, new_shape=YOLO_IMGSZ, color=114, resize=cv2_linear):
    """ultralytics/data/augment.py LetterBox.__call__ as predict uses it for a fixed-size export (auto=False,
    scaleup=True, center=True): HWC uint8 in, HWC uint8 out, and the (top, left) padding."""
    import cv2

    shape = img.shape[:2]  # current shape [height, width]
    r = min(new_shape / shape[0], new_shape / shape[1])
    new_unpad = int(round(shape[1] * r)), int(round(shape[0] * r))  # Python's round: half to even
    dw, dh = new_shape - new_unpad[0], new_shape - new_unpad[1]
    dw /= 2
    dh /= 2
    if shape[::-1] != new_unpad:
        img = resize(img, new_unpad)  # cv2.resize(img, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(color, color, color))
    return img, new_unpad, top, left


def xywh2xyxy(x):
    """ultralytics/utils/ops.py xywh2xyxy."""
    y = torch.empty_like(x)
    dw = x[..., 2] / 2
    dh = x[..., 3] / 2
    y[..., 0] = x[..., 0] - dw
    y[..., 1] = x[..., 1] - dh
    y[..., 2] = x[..., 0] + dw
    y[..., 3] = x[..., 1] + dh
    return y


def ultralytics_nms(prediction, conf_thres=YOLO_CONF, iou_thres=YOLO_IOU, max_det=300, max_nms=30000, max_wh=7680):
    """ultralytics/utils/ops.py non_max_suppression for one image, as predict calls it (agnostic=False,
    multi_label=False, no class filter): best class with conf > conf_thres (strict), boxes offset by
    class · max_wh in input pixels, torchvision.ops.nms, the first max_det kept. [1, 4 + nc, N] in, [K, 6] out."""
    import torchvision

    nc = prediction.shape[1] - 4
    xc = prediction[:, 4 : 4 + nc].amax(1) > conf_thres
    prediction = prediction.transpose(-1, -2).clone()
    prediction[..., :4] = xywh2xyxy(prediction[..., :4])
    x = prediction[0][xc[0]]
    if not x.shape[0]:
        return torch.zeros((0, 6))
    box, cls = x.split((4, nc), 1)
    conf, j = cls.max(1, keepdim=True)
    x = torch.cat((box, conf, j.float()), 1)[conf.view(-1) > conf_thres]
    if x.shape[0] > max_nms:
        x = x[x[:, 4].argsort(descending=True)[:max_nms]]
    c = x[:, 5:6] * max_wh
    i = torchvision.ops.nms(x[:, :4] + c, x[:, 4], iou_thres)[:max_det]
    return x[i]


def ultralytics_scale_boxes(img1_shape, boxes, img0_shape):
    """ultralytics/utils/ops.py scale_boxes (ratio_pad=None, padding=True) then clip_boxes: one gain for both axes,
    and a padding recomputed from the unrounded content size, which is LetterBox's padding except where the
    content's rounding moved it (then one input pixel off: 1000x501 pads 159 rows, and 160 are subtracted)."""
    gain = min(img1_shape[0] / img0_shape[0], img1_shape[1] / img0_shape[1])
    pad = (
        round((img1_shape[1] - img0_shape[1] * gain) / 2 - 0.1),
        round((img1_shape[0] - img0_shape[0] * gain) / 2 - 0.1),
    )
    boxes = boxes.clone()
    boxes[..., [0, 2]] -= pad[0]
    boxes[..., [1, 3]] -= pad[1]
    boxes[..., :4] /= gain
    boxes[..., [0, 2]] = boxes[..., [0, 2]].clamp(0, img0_shape[1])
    boxes[..., [1, 3]] = boxes[..., [1, 3]].clamp(0, img0_shape[0])
    return boxes, gain, pad


def ultralytics_predict(model, img, resize=cv2_linear):
    """ultralytics/engine/predictor.py preprocess (LetterBox, HWC to CHW, / 255) → the model →
    models/yolo/detect/predict.py postprocess (non_max_suppression, scale_boxes), on an RGB picture (the
    predictor's BGR to RGB flip is a no-op here: the picture is RGB already and LetterBox treats channels alike)."""
    boxed, new_unpad, top, left = ultralytics_letterbox(img.numpy(), resize=resize)
    x = torch.from_numpy(np.ascontiguousarray(boxed.transpose(2, 0, 1)))[None].float() / 255  # [1, 3, 640, 640]
    with torch.no_grad():
        pred = model(x)
    det = ultralytics_nms(pred)
    boxes, gain, pad = ultralytics_scale_boxes(x.shape[2:], det[:, :4], img.shape[:2])
    letterbox = {"content": list(new_unpad), "top": top, "left": left, "gain": gain, "box_pad": list(pad)}
    return boxes, det[:, 4], det[:, 5], letterbox


def letterboxed(p):
    boxed = ultralytics_letterbox(picture(p).numpy())[0]  # HWC uint8, 640x640
    return torch.from_numpy(np.ascontiguousarray(boxed.transpose(2, 0, 1)))[None].float() / 255


def calibrate_yolo(model, per_picture=30):
    """Makes the random YOLO see the picture: BatchNorm's running statistics measured on the letterboxed textures
    (as a trained model's match its data; with random ones every layer shrinks the signal and all pictures score
    alike to 1e-6), then the class bias shifted so that about `per_picture` anchors of a textured picture score over
    YOLO_CONF before NMS, and nudged until no score on any picture is within 1e-4 of it (such a box could fall either
    side of the threshold in either runtime)."""
    textures = [p for p in YOLO_PICTURES if p["kind"] == "texture"]
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # a plain average over the batch
    model.train()
    with torch.no_grad():
        model(torch.cat([letterboxed(p) for p in textures]))
    model.eval()

    def best(p):
        with torch.no_grad():
            return model(letterboxed(p))[0, 4:].amax(0)

    logit = math.log(YOLO_CONF / (1 - YOLO_CONF))
    at = sorted(float(torch.logit(best(p).sort(descending=True).values[per_picture])) for p in textures)
    heads = [seq[-1].bias for seq in model.detect.cv3]
    with torch.no_grad():
        for b in heads:
            b += logit - at[len(at) // 2]
        while any(((best(p) - YOLO_CONF).abs() <= 1e-4).any() for p in YOLO_PICTURES):
            for b in heads:
                b += 0.01
    return model


def export_yolo_references(out_dir):
    """yolo-640-tiny.onnx (the yolo-tiny weights at ultralytics' default imgsz 640) and yolo-references.json:
    PyTorch's boxes through ultralytics' predict pipeline on YOLO_PICTURES."""
    model, gen = build_yolo((YOLO_IMGSZ, YOLO_IMGSZ))
    calibrate_yolo(model)
    x = torch.rand(1, 3, YOLO_IMGSZ, YOLO_IMGSZ, generator=gen)
    path = export_yolo_onnx(model, os.path.join(out_dir, "yolo-640-tiny.onnx"), x, (YOLO_IMGSZ, YOLO_IMGSZ))
    # "detections": ultralytics' pipeline as it is; "detections_bilinear": the same with bilinear_rounded for cv2.
    out = {
        "pictures": YOLO_PICTURES,
        "settings": {"imgsz": YOLO_IMGSZ, "conf": YOLO_CONF, "iou": YOLO_IOU, "max_det": 300, "pad": 114},
    }
    for p in YOLO_PICTURES:
        for key, resize in (("detections", cv2_linear), ("detections_bilinear", bilinear_rounded)):
            boxes, scores, classes, letterbox = ultralytics_predict(model, picture(p), resize)
            out.setdefault(key, {})[p["id"]] = {
                "letterbox": letterbox,
                "boxes": [[round(float(v), 4) for v in b] for b in boxes],
                "scores": [round(float(v), 7) for v in scores],
                "classes": [int(v) for v in classes],
            }
            print(f"yolo {p['id']} {key}: {len(scores)} boxes, letterbox {letterbox}")
    refs = os.path.join(out_dir, "yolo-references.json")
    with open(refs, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    return [path, refs]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "onnx"))
    ap.add_argument("--only", choices=["yolo", "frcnn", "torchvision-families", "yolo-references"])
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    jobs = (
        ("yolo", export_yolo),
        ("frcnn", export_frcnn),
        ("torchvision-families", export_torchvision_families),
        ("yolo-references", export_yolo_references),
    )
    for name, fn in jobs:
        if args.only and args.only != name:
            continue
        written = fn(args.out)
        for path in written if isinstance(written, list) else [written]:
            print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
