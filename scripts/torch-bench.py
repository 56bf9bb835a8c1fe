#!/usr/bin/env python3
"""PyTorch CPU column of bench/classifier-stage.ts: torchvision ResNet-50, random weights, NCHW float32.

Run with Debian's interpreter, which sees python3-torch and python3-torchvision (pyenv's `python3` on PATH
does not): /usr/bin/python3 scripts/torch-bench.py --threads 2 --batch 32 --size 128 --seconds 6

Prints one JSON line: {"cropsPerSecond": ..., "batches": ...}, or {"skipped": "<why>"} when torch or
torchvision cannot be imported. Weights are torchvision's random init, not the bench's ONNX weights: the
layout (Bottleneck [3, 4, 6, 3]) and the arithmetic are the same, and speed does not depend on the values.
"""
import argparse
import json
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--seconds", type=float, default=6.0)
    a = p.parse_args()
    try:
        import torch
        import torchvision
    except ImportError as e:  # the column is optional
        print(json.dumps({"skipped": f"torch/torchvision not importable ({e}); apt-get install python3-torch python3-torchvision"}))
        return
    # Debian's torch 1.13 starts with one intra-op thread whatever the core count.
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = torchvision.models.resnet50(num_classes=1000).eval()
    x = torch.rand(a.batch, 3, a.size, a.size)
    with torch.inference_mode():
        model(x)  # warm-up, untimed
        batches = 0
        t0 = time.perf_counter()
        while batches < 3 or time.perf_counter() - t0 < a.seconds:
            model(x)
            batches += 1
        elapsed = time.perf_counter() - t0
    print(json.dumps({"cropsPerSecond": batches * a.batch / elapsed, "batches": batches, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
