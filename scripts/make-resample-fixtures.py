#!/usr/bin/env python3
"""Writes test/fixtures/resample/reference.json: crops resized by Pillow and by PyTorch, the references for
src/algorithms/resample.ts, and whole classifier inputs made from boxes on an image by torchvision's transforms
as ADC composes them, the references for CropClassifier's `interpolation`.

- `pil-bilinear`: PIL.Image.resize((w, h), Image.BILINEAR) on an RGB image, as torchvision's transforms.Resize
  does to a PIL image.
- `bilinear-antialias`: torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False,
  antialias=True) on a float [1, 3, H, W] tensor of 0..255 values, as transforms.Resize(antialias=True) does to a
  tensor (whose values are 0..1 there; the filter is linear, so the scale does not matter).

Crops are seeded random bytes, smooth enough to look like photos, at sizes that cover downscaling by more than
2 (the support widens), by less than 2, upscaling, no change on one axis, and a one-pixel axis.

Classifier inputs ("pipeline"): PIL.Image.crop of integer boxes (one touching the right and bottom edges), then
  - "bilinear-antialias": ToTensor, Resize((8, 8), antialias=True), Normalize(ImageNet mean, std) (ADC's ResNet-50s);
  - "pil-bilinear": Resize((8, 8)) on the PIL crop, ToTensor, Normalize(0.5, 0.5) (ADC's Turing models);
as HWC float lists. Run with Debian's python3 (python3-torch, python3-torchvision, python3-pil):
/usr/bin/python3 scripts/make-resample-fixtures.py
"""
import json
import os

import numpy as np
import PIL
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms as T

CASES = [  # (height, width) in, (height, width) out
    ((41, 53), (16, 16)),
    ((29, 17), (12, 12)),
    ((9, 11), (16, 16)),
    ((16, 37), (16, 12)),
    ((1, 23), (5, 7)),
    ((48, 40), (30, 30)),
]


def crop(h, w, rng):
    """Bytes that vary smoothly plus noise, so both small and large weights matter."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 7 + y * 3) % 256, (x * 2 + y * 11 + 40) % 256, (x * y) % 256], axis=-1)
    noise = rng.integers(-30, 31, size=(h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


def pipeline_crops(rng):
    """Classifier inputs made from boxes on one image, as ADC's transforms make them."""
    image = crop(48, 64, rng)
    pil = Image.fromarray(image)
    boxes = [[3, 5, 40, 30], [50, 20, 64, 48], [10, 10, 13, 12]]
    tensor_aa = T.Compose([T.ToTensor(), T.Resize((8, 8), antialias=True), T.Normalize(*IMAGENET)])
    pil_bilinear = T.Compose([T.Resize((8, 8)), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])
    hwc = lambda t: [round(float(v), 6) for v in t.permute(1, 2, 0).reshape(-1)]
    return {
        "image": [48, 64],
        "pixels": image.reshape(-1).tolist(),
        "size": [8, 8],
        "boxes": boxes,
        "bilinear-antialias": {"mean": IMAGENET[0], "std": IMAGENET[1], "inputs": [hwc(tensor_aa(pil.crop(b))) for b in boxes]},
        "pil-bilinear": {"mean": [0.5] * 3, "std": [0.5] * 3, "inputs": [hwc(pil_bilinear(pil.crop(b))) for b in boxes]},
    }


def main():
    rng = np.random.default_rng(20261207)
    out = {"pillow": PIL.__version__, "torch": torch.__version__, "cases": []}
    for (h, w), (oh, ow) in CASES:
        pixels = crop(h, w, rng)
        pil = np.asarray(Image.fromarray(pixels).resize((ow, oh), Image.BILINEAR))
        t = torch.from_numpy(pixels.astype(np.float32)).permute(2, 0, 1)[None]
        aa = F.interpolate(t, size=(oh, ow), mode="bilinear", align_corners=False, antialias=True)
        aa = aa[0].permute(1, 2, 0).numpy()
        out["cases"].append(
            {
                "in": [h, w],
                "out": [oh, ow],
                "pixels": pixels.reshape(-1).tolist(),
                "pil-bilinear": pil.reshape(-1).tolist(),
                "bilinear-antialias": [round(float(v), 4) for v in aa.reshape(-1)],
            }
        )
    out["pipeline"] = pipeline_crops(rng)
    path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "resample", "reference.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(path)} (Pillow {PIL.__version__}, torch {torch.__version__})")


if __name__ == "__main__":
    main()
