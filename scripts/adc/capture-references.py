#!/usr/bin/env python3
"""Captures ADC's own /process answers as the references of test/adc/fidelity.test.ts.

    scripts/adc/capture-references.py ADC_SOURCE CHECKPOINTS [--out test/fixtures/adc/references.json]

ADC_SOURCE is a checkout of RolnickLab/ami-data-companion (never committed here); CHECKPOINTS the folder that
`scripts/adc/make-checkpoints.py --out CHECKPOINTS --classes 10` writes. The script starts ADC with
scripts/adc/run-adc.sh (set ADC_STATE as for that script), serves samples/ over HTTP on 127.0.0.1, and posts each
of samples/trap-4k-{1,2,3}.jpg alone (ADC fails on images of different sizes in one request) to each pipeline below.

It keeps what the comparison reads (bench/adc-compare.ts): per detection the box and, per classification, the
algorithm key, `terminal`, the top-1 label and the full score vector; timings, timestamps and logits are dropped.
make-checkpoints.py is deterministic and ADC's answers are too, so the file stays valid for anyone who makes the
same checkpoints. Standard library only.
"""
import argparse
import functools
import hashlib
import http.server
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
PIPELINES = ["moth_binary", "quebec_vermont_moths_2023", "costa_rica_moths_turing_2024", "insect_orders_2025"]
IMAGES = ["trap-4k-1.jpg", "trap-4k-2.jpg", "trap-4k-3.jpg"]


def trim(answer):
    """The fields the comparison reads, scores rounded to 7 significant digits (float32 holds about 7)."""
    return [
        {
            "bbox": d["bbox"],
            "classifications": [
                {
                    "key": c["algorithm"]["key"],
                    "terminal": c["terminal"],
                    "classification": c["classification"],
                    "scores": [float(f"{s:.7g}") for s in c["scores"]],
                }
                for c in d["classifications"]
            ],
        }
        for d in answer["detections"]
    ]


def post(url, body, timeout=1800):
    request = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def wait_ready(base, adc, limit=900):
    start = time.time()
    while time.time() - start < limit:
        if adc.poll() is not None:
            sys.exit(f"capture: ADC exited with {adc.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/livez", timeout=5):
                return
        except OSError:
            time.sleep(3)
    sys.exit("capture: ADC did not answer /livez")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("adc_source")
    parser.add_argument("checkpoints")
    parser.add_argument("--out", default=str(ROOT / "test/fixtures/adc/references.json"))
    parser.add_argument("--adc-port", type=int, default=2101)
    parser.add_argument("--image-port", type=int, default=8101)
    args = parser.parse_args()

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(ROOT / "samples"))
    handler.log_message = lambda *a: None
    images = http.server.ThreadingHTTPServer(("127.0.0.1", args.image_port), handler)
    threading.Thread(target=images.serve_forever, daemon=True).start()

    adc = subprocess.Popen(
        [str(ROOT / "scripts/adc/run-adc.sh"), args.adc_source, args.checkpoints, str(args.adc_port)],
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{args.adc_port}"
        wait_ready(base, adc)
        checkpoints = pathlib.Path(args.checkpoints)
        out = {
            "about": "ADC's /process answers (trimmed) on make-checkpoints.py --classes 10; see scripts/adc/capture-references.py",
            "detector_sha256": hashlib.sha256((checkpoints / "fasterrcnn_resnet50_fpn_tz53qv9v.pt").read_bytes()).hexdigest(),
            "images": {name: hashlib.sha256((ROOT / "samples" / name).read_bytes()).hexdigest() for name in IMAGES},
            "answers": {},
        }
        for pipeline in PIPELINES:
            out["answers"][pipeline] = {}
            for name in IMAGES:
                start = time.time()
                answer = post(
                    f"{base}/process",
                    {
                        "pipeline": pipeline,
                        "source_images": [{"id": "1", "url": f"http://127.0.0.1:{args.image_port}/{name}"}],
                        "config": {},
                    },
                )
                out["answers"][pipeline][name] = trim(answer)
                print(f"capture: {pipeline} {name}: {len(answer['detections'])} detections, "
                      f"{time.time() - start:.1f} s", file=sys.stderr)
        pathlib.Path(args.out).write_text(json.dumps(out, separators=(",", ":")) + "\n")
        print(f"capture: wrote {args.out}", file=sys.stderr)
    finally:
        os.killpg(adc.pid, signal.SIGTERM)
        adc.wait()
        images.shutdown()


if __name__ == "__main__":
    main()
