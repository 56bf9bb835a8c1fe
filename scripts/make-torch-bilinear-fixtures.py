#!/usr/bin/env python3
"""Writes test/fixtures/resample/torch-bilinear-torch<major>.json: PyTorch's plain bilinear interpolate, the
reference for src/algorithms/torch-bilinear.ts (the `shorter-side` detector resize). PyTorch 1.x computes the
source positions in float64 and 2.x in float32, so the script runs under both and writes one file each.

torchvision's detection transform resizes with
`interpolate(x[None], scale_factor=s, mode="bilinear", recompute_scale_factor=True, align_corners=False)`, which
computes the output size and then interpolates with scale = input size / output size; `size=` gives the same.
Strips keep the files small while covering every source index of a 4K resize: 2160 → 702 rows and 4096 → 1333
columns (4096×2160 → 1333×702), 768 → 800 (an enlargement, 1024×768 → 1066×800), and a small 2-D case.

Per case: the input bytes (HWC, base64), PyTorch's output on the 0..255 float tensor (HWC float32, base64), and
the output of what torchvision really does: ToTensor (÷255), Normalize (ImageNet mean/std), then interpolate,
so a test can measure how far resize-then-normalise lands from it.
Run with Debian's python3 (python3-torch 1.13) and with a Python that has a CPU build of PyTorch 2:
/usr/bin/python3 scripts/make-torch-bilinear-fixtures.py; <venv>/bin/python scripts/make-torch-bilinear-fixtures.py
"""
import base64
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
CASES = [  # (height, width) in, (height, width) out
    ((2160, 1), (702, 1)),
    ((1, 4096), (1, 1333)),
    ((768, 1), (800, 1)),
    ((27, 50), (9, 16)),
]


def b64(array):
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode()


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(20261207)
    out = {"torch": torch.__version__, "mean": MEAN, "std": STD, "cases": []}
    for (h, w), (oh, ow) in CASES:
        # Smooth values plus noise, as in a photo: neighbours differ, so every weight shows.
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([(x * 7 + y * 3) % 256, (x * 2 + y * 11 + 40) % 256, (x * y) % 256], axis=-1)
        pixels = np.clip(base + rng.integers(-40, 41, size=(h, w, 3)), 0, 255).astype(np.uint8)
        # Contiguous CHW, as ToTensor makes it: a channels-last tensor takes another ATen kernel that sums
        # the four weighted pixels in a different order.
        t = torch.from_numpy(pixels.astype(np.float32)).permute(2, 0, 1).contiguous()[None]
        plain = F.interpolate(t, size=(oh, ow), mode="bilinear", align_corners=False)
        mean = torch.tensor(MEAN)[:, None, None]
        std = torch.tensor(STD)[:, None, None]
        normalised = F.interpolate(
            ((t[0] / 255 - mean) / std)[None], size=(oh, ow), mode="bilinear", align_corners=False
        )
        hwc = lambda r: r[0].permute(1, 2, 0).numpy().astype("<f4")
        out["cases"].append(
            {
                "in": [h, w],
                "out": [oh, ow],
                "pixels": b64(pixels),
                "resized": b64(hwc(plain)),
                "normalised_then_resized": b64(hwc(normalised)),
            }
        )
    path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "resample", f"torch-bilinear-torch{torch.__version__.split('.')[0]}.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(path)} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
