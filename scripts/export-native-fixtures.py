#!/usr/bin/env python3
"""Regenerates the native-tier fixtures in test/fixtures/native/ with TF-Python (committed; CI does not need Python).

Run with the TensorFlow that `npm run native` builds against (tensorflow-cpu 2.21 from the same wheel):

    /work/pyenv/bin/python scripts/export-native-fixtures.py [--out test/fixtures/native]

Writes
- decode.json: TF-Python's `tf.io.decode_jpeg(channels=3, dct_method="INTEGER_ACCURATE")` of
  samples/trap-1024x768.jpg, as the SHA-256 of its uint8 pixels and their shape: the reference for the service's
  native decode, `tf.node.decodeJpeg` with the same attributes (the accurate DCT, as PIL and sharp decode).
- saved-model-runner/one-input: a `tf.Module` whose serving signature takes key `input_1` (float32 [N, H, W, 3];
  tensor `serving_default_input_1:0`) and returns `logits`, the per-image channel means [N, 3], and `features`, the
  channel maxima then minima [N, 6]: values a test can compute on its own.
- saved-model-runner/batch-one: one-input with its batch dimension fixed at 1 ([1, H, W, 3], as TF2 Object
  Detection API exports have it).
- saved-model-runner/two-inputs: the same with a second input `mask` [N, H, W, 1] that multiplies the image.
- saved-model-runner/gpu-tags: one-input with its meta graph tagged [serve, gpu] instead of [serve].
"""
import argparse
import hashlib
import json
import os
import shutil

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def decode_reference(out: str) -> None:
    sample = os.path.join(ROOT, 'samples', 'trap-1024x768.jpg')
    with open(sample, 'rb') as f:
        pixels = tf.io.decode_jpeg(f.read(), channels=3, dct_method='INTEGER_ACCURATE').numpy()
    record = {
        'image': 'samples/trap-1024x768.jpg',
        'tensorflow': tf.__version__,
        'op': "tf.io.decode_jpeg(contents, channels=3, dct_method='INTEGER_ACCURATE')",
        'shape': list(pixels.shape),
        'sha256': hashlib.sha256(pixels.tobytes()).hexdigest(),
    }
    with open(os.path.join(out, 'decode.json'), 'w') as f:
        json.dump(record, f, indent=2)
        f.write('\n')


def one_input(batch):
    """The one-input module with the batch dimension `batch` (None: any)."""

    class OneInput(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([batch, None, None, 3], tf.float32, name='input_1')])
        def serve(self, input_1):
            return {
                'logits': tf.reduce_mean(input_1, axis=[1, 2]),
                'features': tf.concat(
                    [tf.reduce_max(input_1, axis=[1, 2]), tf.reduce_min(input_1, axis=[1, 2])], axis=1
                ),
            }

    return OneInput()


class TwoInputs(tf.Module):
    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, None, 3], tf.float32, name='input_1'),
            tf.TensorSpec([None, None, None, 1], tf.float32, name='mask'),
        ]
    )
    def serve(self, input_1, mask):
        return {'logits': tf.reduce_mean(input_1 * mask, axis=[1, 2])}


def save(module: tf.Module, path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
    tf.saved_model.save(module, path, signatures={'serving_default': module.serve})


def retag(src: str, dst: str, tags: list) -> None:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(dst, 'saved_model.pb'), 'rb') as f:
        proto.ParseFromString(f.read())
    for graph in proto.meta_graphs:
        del graph.meta_info_def.tags[:]
        graph.meta_info_def.tags.extend(tags)
    with open(os.path.join(dst, 'saved_model.pb'), 'wb') as f:
        f.write(proto.SerializeToString())
    fingerprint = os.path.join(dst, 'fingerprint.pb')
    if os.path.exists(fingerprint):
        os.remove(fingerprint)  # it hashes the old graph


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--out', default=os.path.join(ROOT, 'test', 'fixtures', 'native'))
    out = parser.parse_args().out
    os.makedirs(out, exist_ok=True)
    decode_reference(out)
    runner = os.path.join(out, 'saved-model-runner')
    os.makedirs(runner, exist_ok=True)
    save(one_input(None), os.path.join(runner, 'one-input'))
    save(one_input(1), os.path.join(runner, 'batch-one'))
    save(TwoInputs(), os.path.join(runner, 'two-inputs'))
    retag(os.path.join(runner, 'one-input'), os.path.join(runner, 'gpu-tags'), ['serve', 'gpu'])


if __name__ == '__main__':
    main()
