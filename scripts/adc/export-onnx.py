#!/usr/bin/env python3
"""Exports the AMI Data Companion's models (ADC: RolnickLab/ami-data-companion, read at a33746a2) from their
PyTorch checkpoints to ONNX, for `npm run import-adc`, which converts the ONNX files with the service's converter.
ADC's code is not imported: each architecture is built here from torchvision and timm as ADC builds it, and each
checkpoint is read as ADC reads it.

    python scripts/adc/export-onnx.py --versions     prints torch, torchvision and timm versions as JSON
    python scripts/adc/export-onnx.py JOBS.json      exports the jobs, one JSON line per event on stdout

JOBS.json is a list of {"key", "arch", "weights", "classes", "size", "out"}: arch is one of ARCHITECTURES below,
classes the category map's length (ADC's num_classes = len(category_map)), size the classifier's input side and out
the ONNX file to write. Events: {"event": "loaded" | "exported" | "mismatch" | "failed", "key", ...}. A checkpoint
that does not fit its architecture is reported (missing and unexpected keys, shape differences) and nothing more is
exported after it, but the remaining checkpoints are still checked so that every bad file is named in one run.
Exit status: 0 all exported, 3 some checkpoint did not fit or could not be read, 2 bad usage.

Checkpoints are read as ADC reads them, `checkpoint.get("model_state_dict") or checkpoint` then a strict
load_state_dict (trapdata/ml/models/classification.py:147-151, :198-202, :292-294, :308-310; localization.py:
266-268), taking only tensors, numbers, strings and containers, as torch.load(weights_only=True) does in the torch
ADC pins (2.10): with that call on torch >= 2.6, else with a restricted unpickler (torch 1.13's weights-only reader
rejects Python floats, such as the learning rate beside the weights in ADC's wrapped checkpoints).

The detector is exported with its transform's normalisation and resize replaced by identities: the service resizes
each image as torchvision does (manifest resize "shorter-side", 800/1333) and normalises it with ImageNet's mean and
std, so the graph receives the image ADC's model would have after those two steps (up to float rounding: ADC
normalises, then resizes; both are linear, so the order does not change the result). torchvision's own in-graph
resize is deliberately not exported: traced to ONNX it computes the scale differently and at 4096x2160 loses half the
boxes. The graph keeps the zero padding to a multiple of 32, and its postprocess maps boxes by a ratio of 1, so the
boxes come out in pixels of the resized image and the service maps them back to the source.
"""
import codecs
import collections
import inspect
import io
import json
import pickle
import sys
import time
import types
import warnings

import timm
import torch
import torch.nn as nn
import torchvision
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops.misc import FrozenBatchNorm2d

# Opsets as the repository's other exports use them (scripts/export-torchvision.py, export-onnx-fixtures.py):
# 13 for ResNets, 17 for ConvNeXt (LayerNormalization), 11 for torchvision's detection models.
CLASSIFIER_OPSET = 13
CONVNEXT_OPSET = 17
DETECTOR_OPSET = 11
SHOWN = 5  # how many of each kind of mismatch a message lists


class TuringResNet50(nn.Module):
    """ADC's `Resnet50` module, used by its Turing classifiers (trapdata/ml/models/classification.py:110-131):
    torchvision resnet50's children but avgpool and fc as a Sequential `backbone`, then a bias-less `classifier`."""

    def __init__(self, classes):
        super().__init__()
        self.backbone = nn.Sequential(*list(torchvision.models.resnet50(weights=None).children())[:-2])
        self.avgpool = nn.AdaptiveAvgPool2d(output_size=(1, 1))
        self.classifier = nn.Linear(2048, classes, bias=False)

    def forward(self, x):
        # ADC writes x.view(N, -1); flatten is the same reshape and exports as one Flatten node.
        return self.classifier(torch.flatten(self.avgpool(self.backbone(x)), 1))


def torchvision_resnet50(classes):
    """Resnet50ClassifierLowRes.get_model (classification.py:283-297): a new fc with bias."""
    model = torchvision.models.resnet50(weights=None)
    model.fc = nn.Linear(model.fc.in_features, classes)
    return model


def fasterrcnn_resnet50_fpn(_classes):
    """MothObjectDetector_FasterRCNN_2023.get_model (localization.py:257-265): torchvision's get_model(
    "fasterrcnn_resnet50_fpn", num_classes=2, weights=None, box_detections_per_img=500). weights_backbone keeps its
    ImageNet default there, which makes torchvision build the backbone with FrozenBatchNorm2d (3 trainable layers);
    the same modules are built here without downloading the ImageNet weights, which ADC's checkpoint replaces."""
    body = torchvision.models.resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    return FasterRCNN(_resnet_fpn_extractor(body, 3), num_classes=2, box_detections_per_img=500)


ARCHITECTURES = {
    "torchvision-resnet50": torchvision_resnet50,
    # Resnet50TimmClassifier.get_model (classification.py:300-313); same state-dict keys as torchvision's.
    "timm-resnet50": lambda classes: timm.create_model("resnet50", num_classes=classes),
    "turing-resnet50": TuringResNet50,
    # ConvNeXtOrderClassifier.get_model (classification.py:139-153); timm maps the name to convnext_tiny.fb_in22k.
    "timm-convnext-tiny-in22k": lambda classes: timm.create_model("convnext_tiny_in22k", num_classes=classes),
    "fasterrcnn-resnet50-fpn": fasterrcnn_resnet50_fpn,
}


def allowed_globals():
    """What a checkpoint may reference: the allowlist of torch.load(weights_only=True)."""
    allowed = {
        "collections.OrderedDict": collections.OrderedDict,
        "torch.Size": torch.Size,
        "torch.Tensor": torch.Tensor,
        "torch.nn.parameter.Parameter": torch.nn.Parameter,
        "torch.serialization._get_layout": getattr(torch.serialization, "_get_layout", None),
    }
    for dtype in ("float16", "bfloat16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64", "bool"):
        allowed[f"torch.{dtype}"] = getattr(torch, dtype)
    for cls in [*torch._tensor_classes, *torch._storage_classes]:
        allowed[f"{cls.__module__}.{cls.__name__}"] = cls
    for name in ("_rebuild_parameter", "_rebuild_parameter_with_state", "_rebuild_tensor", "_rebuild_tensor_v2",
                 "_rebuild_tensor_v3"):
        if hasattr(torch._utils, name):
            allowed[f"torch._utils.{name}"] = getattr(torch._utils, name)
    # Training scripts often keep numpy numbers beside the weights (a best accuracy); newer torch reads them weights-
    # only too. These only rebuild arrays, scalars and dtypes; an object array's items pass through this unpickler.
    for builtins in ("builtins", "__builtin__"):  # protocol 2 pickles name Python 2's module
        allowed.update({f"{builtins}.set": set, f"{builtins}.frozenset": frozenset})
    allowed["_codecs.encode"] = codecs.encode
    try:
        import numpy
        multiarray = getattr(numpy, "_core", None) or numpy.core  # numpy 2 renamed it; pickles name either
        for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            allowed[f"{module}._reconstruct"] = multiarray.multiarray._reconstruct
            allowed[f"{module}.scalar"] = multiarray.multiarray.scalar
        allowed["numpy.ndarray"] = numpy.ndarray
        allowed["numpy.dtype"] = numpy.dtype
        for name in dir(getattr(numpy, "dtypes", None)):
            if name.endswith("DType"):
                allowed[f"numpy.dtypes.{name}"] = getattr(numpy.dtypes, name)
    except ImportError:
        pass
    return {k: v for k, v in allowed.items() if v is not None}


class CheckpointRefused(Exception):
    pass


def restricted_pickle_module():
    """A pickle module for torch's checkpoint readers whose Unpickler resolves only allowed globals."""
    allowed = allowed_globals()

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            found = allowed.get(f"{module}.{name}")
            if found is None:
                raise CheckpointRefused(
                    f"it references {module}.{name}; only tensors, numbers, strings, lists and dicts are read "
                    "(as torch.load(weights_only=True) reads them)")
            return found

    module = types.ModuleType("adc_restricted_pickle")
    module.Unpickler = Unpickler
    module.load = lambda f, **kw: Unpickler(f, **kw).load()
    module.loads = lambda b, **kw: Unpickler(io.BytesIO(b), **kw).load()
    return module


def torch_version():
    return tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])


def load_checkpoint(path):
    """torch.load(weights_only=True), as ADC's torch (2.10) loads by default. Older torch cannot be asked: its
    weights-only reader rejects Python floats, and torch 1.13's load ignores a pickle_module whenever weights_only is
    false, so there the file goes through torch's own readers with the restricted unpickler."""
    if torch_version() >= (2, 6):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            raise CheckpointRefused(str(err).split("WeightsUnpickler error:")[-1].strip()) from None
    module = restricted_pickle_module()
    serialization = torch.serialization
    with open(path, "rb") as f:
        if serialization._is_zipfile(f):
            with serialization._open_zipfile_reader(f) as archive:
                return serialization._load(archive, "cpu", module, encoding="utf-8")
        return serialization._legacy_load(f, "cpu", module, encoding="utf-8")


def read_state_dict(path):
    """The state dict as ADC takes it from a checkpoint file."""
    checkpoint = load_checkpoint(path)
    if not isinstance(checkpoint, dict):
        raise CheckpointRefused(f"it holds a {type(checkpoint).__name__}, not a state dict or a dict with "
                                "\"model_state_dict\"")
    state = checkpoint.get("model_state_dict") or checkpoint
    if not isinstance(state, dict):
        raise CheckpointRefused(f"its model_state_dict is a {type(state).__name__}, not a state dict")
    return state


def load_strict(model, state):
    """load_state_dict(strict=True) as ADC calls it, but returning every difference instead of raising the first
    message: (missing keys, unexpected keys, [(key, checkpoint shape, model shape)]). Keys are compared after the
    modules' own load hooks, so old spellings the modules still accept (torchvision < 0.13's FPN and RPN keys,
    FrozenBatchNorm2d's dropped num_batches_tracked) are not reported."""
    expected = model.state_dict()
    shapes = [(k, list(v.shape), list(expected[k].shape)) for k, v in state.items()
              if k in expected and torch.is_tensor(v) and v.shape != expected[k].shape]
    if shapes:  # load_state_dict would stop at them; the key sets are compared as they are
        return (sorted(set(expected) - set(state)), sorted(set(state) - set(expected)), shapes)
    result = model.load_state_dict(state, strict=False)
    return list(result.missing_keys), list(result.unexpected_keys), []


def identity_normalize(image):
    return image


def identity_resize(image, target=None):
    return image, target


def export_kwargs():
    """torch >= 2.9 exports through dynamo by default; these graphs are written by the TorchScript exporter."""
    return {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}


def export(model, job):
    model.eval()
    if job["arch"] == "fasterrcnn-resnet50-fpn":
        model.transform.normalize = identity_normalize
        model.transform.resize = identity_resize
        # Tracing input only (H and W are dynamic): a normalised 4096x2160 image after the service's resize.
        image = torch.randn(3, 702, 1333, generator=torch.Generator().manual_seed(0))
        torch.onnx.export(model, ([image],), job["out"], opset_version=DETECTOR_OPSET, input_names=["images"],
                          output_names=["boxes", "labels", "scores"],
                          dynamic_axes={"images": [1, 2], "boxes": [0], "labels": [0], "scores": [0]},
                          **export_kwargs())
        return
    size = job["size"]
    opset = CONVNEXT_OPSET if job["arch"] == "timm-convnext-tiny-in22k" else CLASSIFIER_OPSET
    torch.onnx.export(model, torch.zeros(1, 3, size, size), job["out"], opset_version=opset, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      **export_kwargs())


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def run_job(job, export_it):
    """Checks one checkpoint against its architecture and, when asked, exports it; True when it fits."""
    started = time.time()
    try:
        state = read_state_dict(job["weights"])
    except CheckpointRefused as err:
        emit("failed", key=job["key"], file=job["weights"], message=f"cannot be read as ADC reads it: {err}")
        return False
    except Exception as err:  # a truncated or foreign file: torch's own message says which
        emit("failed", key=job["key"], file=job["weights"], message=f"cannot be read by torch.load: {err}")
        return False
    model = ARCHITECTURES[job["arch"]](job["classes"])
    try:
        missing, unexpected, shapes = load_strict(model, state)
    except RuntimeError as err:
        emit("failed", key=job["key"], file=job["weights"], message=str(err).strip())
        return False
    if missing or unexpected or shapes:
        emit("mismatch", key=job["key"], file=job["weights"], arch=job["arch"],
             missing=missing[:SHOWN], missing_count=len(missing),
             unexpected=unexpected[:SHOWN], unexpected_count=len(unexpected),
             shapes=[{"key": k, "checkpoint": c, "model": m} for k, c, m in shapes[:SHOWN]],
             shapes_count=len(shapes))
        return False
    emit("loaded", key=job["key"], file=job["weights"], tensors=len(state), seconds=round(time.time() - started, 1))
    if export_it:
        started = time.time()
        with torch.no_grad():
            export(model, job)
        emit("exported", key=job["key"], out=job["out"], seconds=round(time.time() - started, 1))
    return True


def main():
    if sys.argv[1:] == ["--versions"]:
        print(json.dumps({"python": sys.version.split()[0], "torch": torch.__version__,
                          "torchvision": torchvision.__version__, "timm": timm.__version__}))
        return 0
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        jobs = json.load(f)
    warnings.filterwarnings("ignore")  # timm's deprecated-name notice, tracer warnings of the detection code
    torch.set_grad_enabled(False)
    ok = True
    for job in jobs:
        ok = run_job(job, export_it=ok) and ok
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())
