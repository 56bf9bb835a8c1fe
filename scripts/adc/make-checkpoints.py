#!/usr/bin/env python3
"""Random-weight checkpoints in the exact formats of the AMI Data Companion (ADC: RolnickLab/ami-data-companion,
trapdata/api, read at a33746a2): the detector and every classifier that ADC's ten /process pipelines use, each
built as ADC builds it, saved as ADC's loader reads it, under the basename of ADC's URL, with its category map in
ADC's format. ADC itself loads these files unchanged (scripts/adc/run-adc.sh), so they are fixtures for comparing
our service with ADC's own API.

    python scripts/adc/make-checkpoints.py --out DIR [--models KEY ...] [--classes N] [--boxes K] [--seed S]

Needs torch, torchvision and timm, e.g. the venv that run-adc.sh makes (scratch/adc/venv/bin/python).
--models takes ADC's algorithm keys (default: all eleven); --classes N caps every classifier's class count except
the moth/non-moth filter's (small test fixtures; the default is ADC's full counts, 29,176 for the global model).

Formats, as ADC's get_model() reads them (`checkpoint.get("model_state_dict") or checkpoint`, then a strict
load_state_dict, no key prefixes): the ResNet-50s are plain state dicts; the detector and the ConvNeXt are dicts with
"model_state_dict" beside other entries (ADC's real files for those two are two and three times the size of their
weights, so they carry more than the state dict). Category maps are JSON objects {label: index}; ADC sorts them by
index, so this script writes them in a shuffled order to catch a reader that trusts the file order.

The weights are seeded random, reproducible on one torch version, and shaped so that mistakes show:
- BatchNorm: affine parameters drawn at random, running statistics measured on synthetic trap crops preprocessed
  as ADC preprocesses them, so means and variances are far from 0 and 1 and a wrong input normalisation moves every
  output. ConvNeXt: LayerNorm affines drawn at random, layer scales in [0.1, 0.5] (timm's 1e-6 makes blocks no-ops).
- Classifier heads: random directions orthogonal to the mean feature, so the top label depends on the crop, scaled
  to logits with a standard deviation of 1 on the synthetic crops. Crops of samples/trap-4k-1.jpg vary more (mean
  logit standard deviations of 2 for the moth/non-moth filter, 6 to 8 for the species models), so most softmax
  maxima stay between 0.05 and 0.99 instead of saturating, and the top labels differ from crop to crop. The ConvNeXt
  head gets a standard deviation of 3, as its LayerNorms do not spread trap crops further.
- Detector: RPN objectness scaled to a standard deviation of 3 (no near-ties when proposals are ranked); box
  regression deltas of standard deviation 1; the foreground logit is w.(f - mean f) + b, with b found by bisection so
  that a synthetic 4096x2160 trap image keeps --boxes detections above ADC's 0.8 threshold after NMS.
"""
import argparse
import json
import os

import numpy as np
import timm
import torch
import torch.nn as nn
import torchvision
from PIL import Image, ImageDraw, ImageFilter
from torchvision import transforms as T
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops.misc import FrozenBatchNorm2d

IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
HALF = ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
ADC_SCORE_THRESHOLD = 0.8
INSECT_ORDERS = ["Lepidoptera", "Diptera", "Hemiptera", "Odonata", "Coleoptera", "Araneae", "Orthoptera",
                 "Hymenoptera", "Trichoptera", "Neuroptera", "Opiliones", "Ephemeroptera", "Plecoptera",
                 "Blattodea", "Dermaptera", "Mantodea"]

# ADC's algorithm key -> weights and labels basenames, architecture, input size, preprocessing, full class count.
# arch: tv-resnet50 = torchvision resnet50 with a new fc; timm-resnet50 = timm "resnet50" (same keys and forward);
# turing = torchvision resnet50's children minus avgpool/fc as a Sequential "backbone", then a bias-less
# "classifier"; convnext = timm "convnext_tiny_in22k". resize: "tensor" = ToTensor, Resize antialiased on the float
# tensor, Normalize; "pil" = PIL Resize (bilinear), ToTensor, Normalize.
CLASSIFIERS = {
    "moth_nonmoth_classifier": ("moth-nonmoth_resnet50_20240417_b4fe3efe.pth",
                                "05-moth-nonmoth_category_map.json", "tv-resnet50", 128, "tensor", IMAGENET, 2),
    "panama_species_classifier_2023": ("panama_resetnet50_best_5aeb515a.pth",
                                       "03_moths_centralAmerica_category_map-202311110-with-names.json",
                                       "tv-resnet50", 128, "tensor", IMAGENET, 1060),
    "panama_species_classifier_apr_2024": ("panama_resnet50_baseline_20240417_edbb46dd.pth",
                                           "03_ami-gbif_fine-grained_c-america_category_map-with_names.json",
                                           "timm-resnet50", 128, "tensor", IMAGENET, 636),
    "quebec_vermont_species_classifier_apr_2024": ("quebec-vermont_resnet50_baseline_20240417_950de764.pth",
                                                   "01_ami-gbif_fine-grained_ne-america_category_map-with_names.json",
                                                   "timm-resnet50", 128, "tensor", IMAGENET, 2497),
    "uk_denmark_species_classifier_apr_2024": ("uk-denmark_resnet50_baseline_20240417_55250a8b.pth",
                                               "02_ami-gbif_fine-grained_w-europe_category_map-with_names.json",
                                               "timm-resnet50", 128, "tensor", IMAGENET, 2603),
    "turing_costa_rica_species_classifier": ("turing-costarica_v03_resnet50_2024-06-04-16-17_state.pt",
                                             "03_costarica_data_category_map.json", "turing", 300, "pil", HALF, 5952),
    "turing_anguilla_species_classifier": ("turing-anguilla_v01_resnet50_2024-06-28-17-01_state.pt",
                                           "01_anguilla_data_category_map.json", "turing", 300, "pil", HALF, 79),
    "turing_kenya_and_uganda_species_classifier": ("turing-kenya-uganda_v01_resnet50_2024-11-19-18-44_state.pt",
                                                   "01_kenya-uganda_data_category_map.json", "turing", 300, "pil",
                                                   HALF, 3045),
    "global_species_classifier_aug_2024": ("global_resnet50_20240828_b06d3b3a.pth",
                                           "global_category_map_with_names_20240828.json", "timm-resnet50", 128,
                                           "tensor", IMAGENET, 29176),
    "insect_order_classifier": ("convnext_tiny_in22k_worder0.5_wbinary0.5_run2_checkpoint.pt",
                                "insect_order_category_map.json", "convnext", 128, "pil", IMAGENET, 16),
}
DETECTOR = ("fasterrcnn_for_ami_moth_traps_2023", "fasterrcnn_resnet50_fpn_tz53qv9v.pt")
WRAPPED = {"fasterrcnn_for_ami_moth_traps_2023", "insect_order_classifier"}


def trap_image(rng, width=4096, height=2160):
    """A light trap sheet with a gradient, specks, and dark or coloured moth-like blobs; returns (image, boxes)."""
    y, x = np.mgrid[0:height, 0:width]
    base = 215 + 25 * (x / width) - 15 * (y / height)
    sheet = np.stack([base + 8, base + 4, base + 14], -1) + rng.normal(0, 4, (height, width, 3))
    img = Image.fromarray(np.clip(sheet, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    boxes = []
    for _ in range(60):
        w, h = rng.uniform(40, 260), rng.uniform(40, 220)
        cx, cy = rng.uniform(w, width - w), rng.uniform(h, height - h)
        colour = tuple(int(c) for c in rng.integers(20, 200, 3))
        wing = tuple(int(c) for c in rng.integers(40, 250, 3))
        draw.ellipse([cx - w / 2, cy - h / 4, cx + w / 2, cy + h / 4], fill=wing)
        draw.ellipse([cx - w / 8, cy - h / 2, cx + w / 8, cy + h / 2], fill=colour)
        boxes.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    for _ in range(400):
        px, py = rng.uniform(0, width), rng.uniform(0, height)
        draw.ellipse([px, py, px + 6, py + 6], fill=(60, 50, 40))
    return img.filter(ImageFilter.GaussianBlur(1.2)), boxes


def adc_transform(size, resize, mean_std):
    """ADC's classifier preprocessing (get_transforms of Resnet50Classifier, Resnet50Classifier_Turing and
    ConvNeXtOrderClassifier in trapdata/ml/models/classification.py); every one stretches the crop to a square."""
    if resize == "tensor":
        steps = [T.ToTensor(), T.Resize((size, size), antialias=True)]
    else:
        steps = [T.Resize((size, size)), T.ToTensor()]
    return T.Compose(steps + [T.Normalize(*mean_std)])


def crops(img, boxes, rng, transform, count=32):
    """Crops around the blobs (jittered) and of bare sheet, as a preprocessed batch [count, 3, S, S]."""
    out = []
    for i in range(count):
        if i % 4 == 3:
            x1, y1 = rng.uniform(0, img.width - 200), rng.uniform(0, img.height - 200)
            box = (x1, y1, x1 + rng.uniform(30, 200), y1 + rng.uniform(30, 200))
        else:
            b = boxes[i % len(boxes)]
            box = tuple(v + rng.uniform(-15, 15) for v in b)
        box = [int(max(0, v)) for v in box]
        out.append(transform(img.crop(box)))
    return torch.stack(out)


def classifier_model(arch, classes):
    if arch == "tv-resnet50":
        model = torchvision.models.resnet50(weights=None)
        model.fc = nn.Linear(model.fc.in_features, classes)
        return model, model.fc
    if arch == "timm-resnet50":
        model = timm.create_model("resnet50", num_classes=classes)
        return model, model.fc
    if arch == "turing":
        model = TuringResnet50(classes)
        return model, model.classifier
    model = timm.create_model("convnext_tiny_in22k", num_classes=classes)
    return model, model.head.fc


class TuringResnet50(nn.Module):
    """The module layout of ADC's Resnet50 (the Turing models): backbone.0..7, avgpool, classifier (no bias)."""

    def __init__(self, classes):
        super().__init__()
        self.backbone = nn.Sequential(*list(torchvision.models.resnet50(weights=None).children())[:-2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(2048, classes, bias=False)

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.backbone(x)), 1))


@torch.no_grad()
def randomise_norms(model, gen):
    """Random affines for every norm layer, and BatchNorm ready to measure its running statistics afresh."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):  # timm's LayerNorm2d is an nn.LayerNorm
            m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.2)
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the calibration batch
        if hasattr(m, "gamma") and isinstance(m.gamma, torch.Tensor):  # ConvNeXt layer scale
            m.gamma.copy_(torch.rand(m.gamma.shape, generator=gen) * 0.4 + 0.1)


@torch.no_grad()
def measure_batchnorm(model, batch):
    model.train()
    model(batch)
    model.eval()


@torch.no_grad()
def head_inputs(model, head, batch):
    seen = []
    handle = head.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    model(batch)
    handle.remove()
    return torch.cat(seen)


@torch.no_grad()
def centred_linear(linear, feats, std, gen):
    """Weights orthogonal to the mean feature (outputs follow what differs between inputs), scaled to `std`."""
    weight = torch.randn(linear.weight.shape, generator=gen)
    mean = feats.mean(0)
    weight -= torch.outer(weight @ mean, mean) / mean.dot(mean)
    weight *= std / (feats @ weight.T).std()
    linear.weight.copy_(weight)
    if linear.bias is not None:
        linear.bias.copy_(torch.randn(linear.bias.shape, generator=gen) * 0.5)


def make_classifier(key, classes, img, boxes, seed):
    _, _, arch, size, resize, mean_std, _ = CLASSIFIERS[key]
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    model, head = classifier_model(arch, classes)
    model.eval()
    batch = crops(img, boxes, rng, adc_transform(size, resize, mean_std))
    randomise_norms(model, gen)
    measure_batchnorm(model, batch)
    # ConvNeXt's LayerNorms keep trap crops' features as close together as the synthetic crops' (logit std 0.9 on
    # trap-4k-1 at a target of 1, so near-uniform scores over 16 orders); the BatchNorm ResNets spread them 2-8x.
    centred_linear(head, head_inputs(model, head, batch), 3.0 if arch == "convnext" else 1.0, gen)
    with torch.no_grad():
        top = model(batch).argmax(1)
    return model.state_dict(), f"{len(top.unique())} distinct top-1 labels over {len(top)} calibration crops"


def detector_model():
    """torchvision.models.get_model("fasterrcnn_resnet50_fpn", num_classes=2, weights=None,
    box_detections_per_img=500) as ADC calls it: weights_backbone keeps its ImageNet default, so the backbone has
    FrozenBatchNorm2d and 3 trainable layers. Built here without downloading anything."""
    body = torchvision.models.resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    return FasterRCNN(_resnet_fpn_extractor(body, 3), num_classes=2, box_detections_per_img=500)


@torch.no_grad()
def capture(model, image, modules):
    """One forward pass; returns {name: (args, output)} for each named submodule."""
    seen = {}
    handles = [mod.register_forward_hook(lambda _m, args, out, n=name: seen.__setitem__(n, (args, out)))
               for name, mod in modules.items()]
    model([image])
    for h in handles:
        h.remove()
    return seen


@torch.no_grad()
def make_detector(img, target_boxes, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = detector_model().eval()
    image = T.ToTensor()(img)
    # Backbone BatchNorm statistics, measured on the image as the detector sees it (normalised, resized).
    twin = torchvision.models.resnet50(weights=None)
    randomise_norms(twin, gen)
    measure_batchnorm(twin, model.transform([image])[0].tensors)
    model.backbone.body.load_state_dict(twin.state_dict(), strict=False)  # strict=False: the twin's fc is extra
    # RPN objectness with a standard deviation of 3, so that proposal ranking has no near-ties.
    objectness = torch.cat([o.flatten() for o in capture(model, image, {"rpn": model.rpn.head})["rpn"][1][0]])
    model.rpn.head.cls_logits.weight *= 3.0 / objectness.std()
    model.rpn.head.cls_logits.bias.copy_(torch.randn(model.rpn.head.cls_logits.bias.shape, generator=gen))
    seen = capture(model, image, {"roi": model.roi_heads, "head": model.roi_heads.box_head})
    feats, (_, proposals, image_sizes) = seen["head"][1], seen["roi"][0][:3]
    predictor = model.roi_heads.box_predictor
    centred_linear(predictor.bbox_pred, feats, 1.0, gen)
    # Foreground minus background logit = w.(f - mean f) + b, with w.(f - mean f) of standard deviation 2.
    direction = nn.Linear(feats.shape[1], 1, bias=False)
    centred_linear(direction, feats, 2.0, gen)
    background = torch.randn(feats.shape[1], generator=gen) * 0.01
    predictor.cls_score.weight.copy_(torch.stack([background, background + direction.weight[0]]))

    def kept(b):
        predictor.cls_score.bias.copy_(torch.tensor([0.0, b]))
        logits, deltas = predictor(feats)
        _, scores, _ = model.roi_heads.postprocess_detections(logits, deltas, proposals, image_sizes)
        return int((scores[0] > ADC_SCORE_THRESHOLD).sum())

    low, high = -20.0, 20.0
    for _ in range(40):
        mid = (low + high) / 2
        low, high = (mid, high) if kept(mid) < target_boxes else (low, mid)
    count = kept(high)
    return model.state_dict(), f"{count} boxes over {ADC_SCORE_THRESHOLD} on the synthetic trap image"


def taxon_names(count, seed):
    """Unique synthetic binomials, a few with non-ASCII letters, as real checklists have."""
    rng = np.random.default_rng(seed)
    syllables = ["ac", "ro", "ba", "sis", "no", "ctu", "ge", "ome", "tra", "phy", "li", "ca", "ze", "ra", "pte",
                 "mo", "thi", "dae", "lu", "xe", "hy", "po", "cra", "mbi"]
    names, seen = [], set()
    while len(names) < count:
        genus = "".join(rng.choice(syllables, rng.integers(2, 4))).capitalize()
        epithet = "".join(rng.choice(syllables, rng.integers(2, 4))) + rng.choice(["a", "is", "ella", "ana", "us"])
        name = f"{genus} {epithet}"
        if len(names) % 50 == 7:
            name = name.replace("e", "ë", 1).replace("u", "ü", 1)
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def label_map(key, classes, seed):
    """ADC's category map format: {label: index}, here in a shuffled file order."""
    if key == "moth_nonmoth_classifier":
        return {"nonmoth": 1, "moth": 0}  # ADC's filter compares labels with exactly "moth" and "nonmoth"
    names = INSECT_ORDERS[:classes] if key == "insect_order_classifier" else taxon_names(classes, seed)
    order = np.random.default_rng(seed + 1).permutation(classes)
    return {names[i]: int(i) for i in order}


def save(obj, key, path):
    if key in WRAPPED:
        obj = {"epoch": 30, "model_state_dict": obj,
               "optimizer_state_dict": {"state": {}, "param_groups": [{"lr": 0.001, "params": []}]}}
    torch.save(obj, path)


def main():
    keys = [DETECTOR[0], *CLASSIFIERS]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for the weights and category-map files")
    parser.add_argument("--models", nargs="+", choices=keys, default=keys, metavar="KEY", help=", ".join(keys))
    parser.add_argument("--classes", type=int, help="cap on each classifier's classes (not moth/non-moth's 2)")
    parser.add_argument("--boxes", type=int, default=40, help="detections above 0.8 on the synthetic image")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_grad_enabled(False)
    img, boxes = trap_image(np.random.default_rng(args.seed))
    for i, key in enumerate(args.models):
        seed = args.seed * 1000 + keys.index(key)
        if key == DETECTOR[0]:
            weights, labels, full = DETECTOR[1], None, None
            state, note = make_detector(img, args.boxes, seed)
        else:
            weights, labels, *_, full = CLASSIFIERS[key]
            classes = full if args.classes is None or full == 2 else min(full, args.classes)
            state, note = make_classifier(key, classes, img, boxes, seed)
            with open(os.path.join(args.out, labels), "w", encoding="utf-8") as f:
                json.dump(label_map(key, classes, seed), f, ensure_ascii=False, indent=0)
            note = f"{classes} classes, {note}"
        save(state, key, os.path.join(args.out, weights))
        print(f"[{i + 1}/{len(args.models)}] {key}: {weights}" + (f" + {labels}" if labels else "") + f" ({note})",
              flush=True)


if __name__ == "__main__":
    main()
