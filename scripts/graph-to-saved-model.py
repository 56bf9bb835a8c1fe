#!/usr/bin/env python3
"""Writes a TF.js graph model (model.json and its weight shards) as a TensorFlow SavedModel.

Why: tfjs-node runs a graph model op by op, one libtensorflow call per node, so TensorFlow never sees the graph.
Loaded as a SavedModel, the same graph runs as one TensorFlow session: Grappler folds constants and fuses ops, and
the executor runs it without a round trip through JavaScript per op. On our 2-core VM this made ADC's ResNet-50
Faster R-CNN about 25% faster per 4K image and its ResNet-50 classifiers about 20% (docs/benchmarks.md).

The model.json topology is a GraphDef in protobuf's JSON mapping, so it parses as one; what is left to do is what
TF.js tolerates and TensorFlow does not:
  - weights: the shards hold the Const values, in manifest order;
  - int64: TF.js has no int64 and keeps such tensors as int32, so every int64 type becomes int32, and `Where`
    (int64 indices in TensorFlow) is followed by a cast to int32;
  - type attributes: TF.js reads dtypes from its tensors, not from attributes, so converters leave some missing or
    stale; each node's are set again from its inputs' dtypes, using TensorFlow's op registry;
  - TF.js's `FusedDepthwiseConv2dNative` (TensorFlow's internal fused op has no plain CPU kernel) is split into
    `DepthwiseConv2dNative`, `BiasAdd` and the activation;
  - `ConcatV2` of one tensor (TF.js accepts N=1, TensorFlow wants N>=2) becomes `Identity`;
  - `RealDiv` of int32 (TF.js divides integers by flooring; TensorFlow has no int32 kernel) becomes `FloorDiv`;
  - attributes TensorFlow's op does not declare are dropped, declared ones it lacks get their defaults;
  - function bodies (If branches) name their inputs `node:output_arg:index`, as FunctionDef requires.
The SavedModel's signature `serving_default` has the graph model's own input and output keys, so a manifest's
names resolve the same way in either form. Every weight is a Const in the graph: no variables, no checkpoint.

Usage: graph-to-saved-model.py <model.json> <out dir>          (prints one JSON line: ops, nodes, bytes)
       graph-to-saved-model.py --versions                       (prints {"python": ..., "tensorflow": ...})
"""
import json
import os
import platform
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if len(sys.argv) == 2 and sys.argv[1] == "--versions":
    import tensorflow as tf

    print(json.dumps({"python": platform.python_version(), "tensorflow": tf.__version__}))
    sys.exit(0)

import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.framework import graph_pb2, types_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry

I32, I64 = types_pb2.DT_INT32, types_pb2.DT_INT64
NUMPY = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "float16": np.float16, "uint8": np.uint8}


class GraphError(Exception):
    pass


def read_weights(model_dir, manifest):
    """name -> numpy array, from the shards in manifest order (dequantising as TF.js does)."""
    values = {}
    for group in manifest:
        data = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = w["shape"]
            count = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q:
                qtype = np.dtype(q["dtype"])
                raw = np.frombuffer(data, qtype, count, offset)
                offset += count * qtype.itemsize
                if q["dtype"] == "float16":
                    arr = raw.astype(np.float32)
                else:
                    arr = raw.astype(np.float32) * q["scale"] + q["min"]
                arr = arr.astype(NUMPY[w["dtype"]])
            else:
                if w["dtype"] not in NUMPY:
                    raise GraphError(f"weight {w['name']} has dtype {w['dtype']}, which this writer does not handle")
                dt = np.dtype(NUMPY[w["dtype"]])
                arr = np.frombuffer(data, dt, count, offset)
                offset += count * dt.itemsize
            values[w["name"]] = arr.reshape(shape)
    return values


def parse_ref(ref):
    """'node', 'node:1' -> (node, index); control inputs are handled by the caller."""
    if ":" in ref:
        name, idx = ref.rsplit(":", 1)
        if idx.isdigit():
            return name, int(idx)
    return ref, 0


def opdef(node):
    od = op_def_registry.get(node.op)
    if od is None:
        raise GraphError(f"node {node.name}: TensorFlow has no op {node.op}")
    return od


def no_int64(nodes):
    for n in nodes:
        for v in n.attr.values():
            kind = v.WhichOneof("value")
            if kind == "type" and v.type == I64:
                v.type = I32
            elif kind == "list" and I64 in v.list.type:
                types = [I32 if t == I64 else t for t in v.list.type]
                del v.list.type[:]
                v.list.type.extend(types)


def split_fused_depthwise(nodes, n):
    """TF.js's FusedDepthwiseConv2dNative (conv, BiasAdd, activation in one op) as TensorFlow's separate ops, which
    Grappler's remapper fuses again where TensorFlow has a kernel for the fusion."""
    fused = [f.decode() for f in n.attr["fused_ops"].list.s]
    if not fused or fused[0] != "BiasAdd" or len(fused) > 2:
        raise GraphError(f"node {n.name}: FusedDepthwiseConv2dNative with fused_ops {fused} is not handled")
    data = [i for i in n.input if not i.startswith("^")]
    controls = [i for i in n.input if i.startswith("^")]
    name = n.name
    conv = nodes.add()
    conv.name, conv.op = name + "/split_depthwise", "DepthwiseConv2dNative"
    conv.input.extend(data[:2] + controls)
    for key in ("strides", "padding", "data_format", "dilations", "explicit_paddings"):
        if key in n.attr:
            conv.attr[key].CopyFrom(n.attr[key])
    bias = nodes.add()
    bias.name, bias.op = (name + "/split_bias_add" if len(fused) == 2 else name), "BiasAdd"
    bias.input.extend([conv.name, data[2]])
    if "data_format" in n.attr:
        bias.attr["data_format"].CopyFrom(n.attr["data_format"])
    if len(fused) == 2:
        act = nodes.add()
        act.name, act.op = name, fused[1]
        act.input.append(bias.name)
        if fused[1] == "LeakyRelu":
            act.attr["alpha"].f = n.attr["leakyrelu_alpha"].f
    n.name, n.op = name + "/split_unused", "NoOp"  # stands in for the removed node; removed below
    del n.input[:]
    n.attr.clear()


def rewrite(nodes):
    for n in list(nodes):
        data = [i for i in n.input if not i.startswith("^")]
        if n.op == "Where":
            name = n.name
            n.name = name + "/int64"
            cast = nodes.add()
            cast.name, cast.op = name, "Cast"
            cast.input.append(n.name)
            cast.attr["SrcT"].type, cast.attr["DstT"].type = I64, I32
        elif n.op == "FusedDepthwiseConv2dNative":
            split_fused_depthwise(nodes, n)
        elif n.op == "ConcatV2" and len(data) == 2:
            controls = [i for i in n.input if i.startswith("^")]
            del n.input[:]
            n.input.extend([data[0]] + controls)
            n.op = "Identity"
            for k in list(n.attr):
                if k != "T":
                    del n.attr[k]
    kept = [n for n in nodes if not (n.op == "NoOp" and n.name.endswith("/split_unused"))]
    if len(kept) != len(nodes):
        copies = [type(k)() for k in kept]
        for c, k in zip(copies, kept):
            c.CopyFrom(k)
        del nodes[:]
        nodes.extend(copies)


def declared_count(node, od, arg):
    """The input count a variadic arg's attribute gives (the node's own value, else the op's default), or None."""
    if arg.number_attr:
        attr = arg.number_attr
        if attr in node.attr:
            return node.attr[attr].i
    else:
        attr = arg.type_list_attr
        if attr in node.attr:
            return len(node.attr[attr].list.type)
    default = next((a.default_value for a in od.attr if a.name == attr and a.HasField("default_value")), None)
    if default is None:
        return None
    return default.i if arg.number_attr else len(default.list.type)


def arg_counts(node, od, n_inputs):
    """How many inputs each input arg takes. The first variadic arg takes what the others leave: its attribute may
    be missing or stale, while the later ones (e.g. _FusedConv2D's host_args) keep their declared counts."""
    variadic = [a for a in od.input_arg if a.number_attr or a.type_list_attr]
    counts = {a.name: 1 for a in od.input_arg if a not in variadic}
    for a in variadic[1:]:
        counts[a.name] = declared_count(node, od, a) or 0
    if variadic:
        counts[variadic[0].name] = n_inputs - sum(counts.values())
    return [counts[a.name] for a in od.input_arg]


def output_types(node, od):
    types = []
    for a in od.output_arg:
        if a.type_list_attr:
            types += list(node.attr[a.type_list_attr].list.type)
        else:
            t = a.type or node.attr[a.type_attr].type
            types += [t] * (node.attr[a.number_attr].i if a.number_attr else 1)
    return types


def output_names(node, od):
    names = []
    for a in od.output_arg:
        if a.type_list_attr:
            k = len(node.attr[a.type_list_attr].list.type)
        elif a.number_attr:
            k = node.attr[a.number_attr].i
        else:
            k = 1
        names += [(a.name, i) for i in range(k)]
    return names


def topological(nodes):
    by_name = {n.name: n for n in nodes}
    seen, order = set(), []
    for root in nodes:
        stack = [(root, False)]
        while stack:
            n, expanded = stack.pop()
            if expanded:
                order.append(n)
                continue
            if n.name in seen:
                continue
            seen.add(n.name)
            stack.append((n, True))
            for i in n.input:
                name = parse_ref(i.lstrip("^"))[0]
                if name in by_name and name not in seen:
                    stack.append((by_name[name], False))
    return order


def retype(nodes, known):
    """Sets each node's type attributes from its inputs' dtypes; fills `known` (name -> output dtypes)."""
    for n in topological(nodes):
        od = opdef(n)
        data = [i for i in n.input if not i.startswith("^")]
        types = []
        for i in data:
            name, k = parse_ref(i)
            if name not in known or k >= len(known[name]):
                raise GraphError(f"node {n.name}: input {i} is not produced by any node")
            types.append(known[name][k])
        pos = 0
        for a, k in zip(od.input_arg, arg_counts(n, od, len(data))):
            if a.type_list_attr:
                n.attr[a.type_list_attr].list.Clear()
                n.attr[a.type_list_attr].list.type.extend(types[pos : pos + k])
            else:
                if a.number_attr:
                    n.attr[a.number_attr].i = k
                if a.type_attr and k > 0:
                    n.attr[a.type_attr].type = types[pos]
            pos += k
        declared = {a.name for a in od.attr}
        for key in list(n.attr):
            if key not in declared and not key.startswith("_"):
                del n.attr[key]
        for a in od.attr:
            if a.name not in n.attr and a.HasField("default_value"):
                n.attr[a.name].CopyFrom(a.default_value)
        if n.op == "RealDiv" and n.attr["T"].type == I32:
            n.op = "FloorDiv"
        known[n.name] = output_types(n, od)


def fix_function(f):
    known = {a.name: [a.type] for a in f.signature.input_arg}
    retype(f.node_def, known)
    nodes = {n.name: n for n in f.node_def}

    def ref(i):
        control = i.startswith("^")
        name, k = parse_ref(i.lstrip("^"))
        if name not in nodes:
            return i if control else name  # an argument of the function
        if control:
            return "^" + name
        arg, idx = output_names(nodes[name], opdef(nodes[name]))[k]
        return f"{name}:{arg}:{idx}"

    for n in f.node_def:
        inputs = [ref(i) for i in n.input]
        del n.input[:]
        n.input.extend(inputs)
    for key in list(f.ret):
        f.ret[key] = ref(f.ret[key])


def graph_def(model_json, model_dir):
    gd = json_format.ParseDict(model_json["modelTopology"], graph_pb2.GraphDef(), ignore_unknown_fields=True)
    values = read_weights(model_dir, model_json["weightsManifest"])
    functions = list(gd.library.function)
    for n in list(gd.node) + [n for f in functions for n in f.node_def]:
        if n.op == "Const" and n.name in values:
            n.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(values[n.name]))
    no_int64(gd.node)
    rewrite(gd.node)
    for f in functions:
        no_int64(f.node_def)
        for a in list(f.signature.input_arg) + list(f.signature.output_arg):
            if a.type == I64:
                a.type = I32
        rewrite(f.node_def)
    retype(gd.node, {})
    for f in functions:
        fix_function(f)
    return gd


def dtype_of(name):
    t = types_pb2.DataType.Value(name)
    return I32 if t == I64 else t


def main(model_path, out_dir):
    model_json = json.load(open(model_path))
    if model_json.get("format") not in (None, "graph-model"):
        raise GraphError(f"{model_path} is a {model_json.get('format')} model, not a graph model")
    sig = model_json.get("signature") or {}
    if not sig.get("inputs") or not sig.get("outputs"):
        raise GraphError(f"{model_path} has no signature naming its inputs and outputs")
    gd = graph_def(model_json, os.path.dirname(model_path))

    sm = saved_model_pb2.SavedModel(saved_model_schema_version=1)
    meta = sm.meta_graphs.add()
    meta.meta_info_def.tags.append("serve")
    meta.meta_info_def.tensorflow_version = tf.__version__
    meta.graph_def.CopyFrom(gd)
    signature = meta.signature_def["serving_default"]
    signature.method_name = "tensorflow/serving/predict"
    for side, target in (("inputs", signature.inputs), ("outputs", signature.outputs)):
        for key, info in sig[side].items():
            target[key].name = info["name"]
            target[key].dtype = dtype_of(info.get("dtype", "DT_FLOAT"))
            shape = info.get("tensorShape")
            if shape and "dim" in shape:  # the graph model's own (-1 for a dynamic dimension): batch mode reads it
                for d in shape["dim"]:
                    target[key].tensor_shape.dim.add().size = int(d.get("size", -1))
            else:
                target[key].tensor_shape.unknown_rank = True

    tmp = out_dir + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "variables"))
    with open(os.path.join(tmp, "saved_model.pb"), "wb") as f:
        f.write(sm.SerializeToString())
    shutil.rmtree(out_dir, ignore_errors=True)
    os.rename(tmp, out_dir)
    ops = sorted({n.op for n in gd.node} | {n.op for f in gd.library.function for n in f.node_def})
    print(json.dumps({
        "tensorflow": tf.__version__,
        "nodes": len(gd.node),
        "functions": len(gd.library.function),
        "ops": ops,
        "bytes": os.path.getsize(os.path.join(out_dir, "saved_model.pb")),
    }))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        sys.exit(2)
    try:
        main(sys.argv[1], sys.argv[2])
    except GraphError as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(1)
