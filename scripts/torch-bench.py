#!/usr/bin/env python3
"""PyTorch CPU columns of the benches, with Debian's torch (random weights, float32):

- bench/classifier-stage.ts: torchvision ResNet-50, NCHW batches;
    /usr/bin/python3 scripts/torch-bench.py --threads 2 --batch 32 --size 128 --seconds 6
  prints {"cropsPerSecond": ..., "batches": ...}. Weights are torchvision's random init, not the bench's ONNX
  weights: the layout (Bottleneck [3, 4, 6, 3]) and the arithmetic are the same, and speed does not depend on
  the values.
- bench/backends.ts: a Faster R-CNN of scripts/export-bench-detector.py (the same seeded weights as its ONNX
  file) on 4K photos, one image per call as the service runs it, the first call untimed;
    /usr/bin/python3 scripts/torch-bench.py --detector mobilenet --threads 2 --images a.jpg,b.jpg --runs 3
  prints {"msPerImage": ..., "cpuMsPerImage": ..., "detections": [...]} (medians; CPU is the process's).

Run with Debian's interpreter, which sees python3-torch and python3-torchvision (pyenv's `python3` on PATH
does not). Prints {"skipped": "<why>"} instead when torch or torchvision cannot be imported.
"""
import argparse
import importlib.util
import json
import os
import statistics
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--detector", choices=["mobilenet", "resnet50"], help="time a Faster R-CNN instead")
    p.add_argument("--images", default="", help="comma-separated JPEGs for --detector")
    p.add_argument("--runs", type=int, default=3, help="timed images for --detector")
    a = p.parse_args()
    try:
        import torch
        import torchvision
    except ImportError as e:  # the column is optional
        print(json.dumps({"skipped": f"torch/torchvision not importable ({e}); apt-get install python3-torch python3-torchvision"}))
        return
    # Debian's torch 1.13 starts with one intra-op thread whatever the core count.
    torch.set_num_threads(a.threads)
    if a.detector:
        detector(a, torch)
        return
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
    print(json.dumps({"cropsPerSecond": batches * a.batch / elapsed, "batches": batches, "torch": torch.__version__, "blas": blas()}))


def blas() -> str:
    """The BLAS library this process loaded. Debian's torch is built against the generic libblas.so.3 interface
    (`torch.__config__.show()` says BLAS_INFO=generic whatever is installed); which library answers is decided at
    run time by Debian's libblas.so.3 alternative: OpenBLAS where libopenblas0-pthread is installed, else the
    reference BLAS, which makes a Faster R-CNN's box head alone take tens of seconds per image."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line and ".so" in line}
    return ",".join(sorted(os.path.basename(l) for l in libs)) or "none"


def detector(a, torch):
    """Times the export script's Faster R-CNN on the images, one per call, as [3, H, W] floats in [0, 1]."""
    from torchvision.io import read_image

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "export-bench-detector.py")
    spec = importlib.util.spec_from_file_location("export_bench_detector", path)
    export = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(export)
    model = export.ARCHS[a.detector][0]()
    images = [read_image(f).float() / 255 for f in a.images.split(",") if f]
    ms, cpu, found = [], [], []
    with torch.inference_mode():
        for run in range(a.runs + 1):
            x = images[run % len(images)]
            c0, t0 = time.process_time(), time.perf_counter()
            out = model([x])[0]
            if run > 0:  # the first call warms up
                ms.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
                found.append(len(out["scores"]))
    print(json.dumps({
        "msPerImage": statistics.median(ms),
        "cpuMsPerImage": statistics.median(cpu),
        "runs": ms,
        "detections": found,
        "torch": torch.__version__,
        "blas": blas(),
    }))


if __name__ == "__main__":
    main()
