#!/usr/bin/env python3
"""Regenerates the SavedModel fixtures in test/fixtures/saved-model/ (committed; CI does not need TF-Python).

Run with the TensorFlow wheel the native backend is built from (tensorflow-cpu 2.21, Keras 3):

    /work/pyenv/bin/python scripts/make-saved-model-fixtures.py [--out test/fixtures/saved-model]

Writes
- od-api-detector/: a small detector whose **serving signature reproduces the TF2 Object Detection API's**
  (`exporter_lib_v2.DetectionFromImageModule`): input `input_tensor` uint8 [1, H, W, 3] of any size; outputs
  `detection_boxes` [1, 20, 4] (ymin, xmin, ymax, xmax normalised to the image), `detection_scores` [1, 20],
  `detection_classes` [1, 20] (float, 1-based: the OD API adds its label_id_offset of 1),
  `detection_multiclass_scores` [1, 20, 3] (background first), `detection_anchor_indices` [1, 20],
  `num_detections` [1] (float; rows past it are zero padding, classes 1.0 there as in the OD API) and
  `raw_detection_boxes` / `raw_detection_scores` over all anchors; every output float32, exactly as the exporter
  casts them. It does NOT come from the OD API: neither `object-detection` nor `tf-models-official` can be
  installed here, so the model is written by hand as a tf.Module and saved the way the exporter saves
  (`tf.saved_model.save(module, dir, signatures=concrete_function)`). Inside: a fixed-shape resize to 64x64
  (the OD API's fixed_shape_resizer, so normalised boxes are fractions of the source image), SSD's [-1, 1]
  scaling, a seeded random conv backbone, 128 anchors on an 8x8 grid, the Faster R-CNN box coder (scales
  10, 10, 5, 5), sigmoid class scores and class-agnostic NMS padded to 20 rows. The "insect" logit is biased by
  how dark an anchor's cell is, so that insects on the light sheet of samples/ score high and boxes mean
  something in the worked example. Labels: labels.json, ["insect", "other"] (ids 1 and 2).
- keras-classifier/: a real Keras 3 model exported with `model.export()`, with its preprocessing inside:
  input [N, H, W, 3] float32 of any size (0..255), Resizing(32, 32) bilinear, Rescaling(1/255), Normalization
  (ImageNet mean and variance), two seeded random convolutions, global average pooling and a softmax Dense over
  three classes (labels.json: moth, beetle, other). Weights are random but seeded.
- images/: two PNG crops of samples/ at odd sizes (lossless, so any decoder gives the same pixels), and a black
  160x90 picture.
- reference.json: TF-Python's outputs. For the detector: every output on samples/trap-1024x768.jpg,
  samples/trap-1600x1200.jpg (decoded with tf.io.decode_jpeg and the accurate DCT, as the service decodes them) and
  the PNGs. For the classifier: the probabilities of whole-pixel crops image[y1:y2, x1:x2] fed at their own size.
"""
import argparse
import json
import os
import shutil

import numpy as np
import tensorflow as tf
import keras
from keras import layers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, 'samples')

GRID = 8  # anchor cells per side of the 64x64 resized input (stride 8)
RESIZED = 64
ANCHOR_SIZES = (0.125, 0.25)  # square anchors, fractions of the image
NUM_CLASSES = 2  # insect, other (ids 1 and 2; 0 is the background)
MAX_DETECTIONS = 20
NMS_IOU = 0.5
NMS_SCORE = 0.5  # in-graph score threshold: most images have fewer than MAX_DETECTIONS rows, so padding shows


def anchors():
    """[A, 4] ymin, xmin, ymax, xmax normalised: ANCHOR_SIZES at every cell centre, row-major, sizes innermost."""
    rows = []
    for i in range(GRID):
        for j in range(GRID):
            cy, cx = (i + 0.5) / GRID, (j + 0.5) / GRID
            for s in ANCHOR_SIZES:
                rows.append([cy - s / 2, cx - s / 2, cy + s / 2, cx + s / 2])
    return np.array(rows, np.float32)


class OdApiStyleDetector(tf.Module):
    """A tiny SSD-like detector behind the TF2 OD API's serving signature (see the module docstring)."""

    def __init__(self, seed=7):
        super().__init__()
        rng = np.random.default_rng(seed)
        w = lambda *shape, s=0.3: tf.Variable(rng.normal(0, s, shape).astype(np.float32))
        self.conv1 = w(3, 3, 3, 8)
        self.conv2 = w(3, 3, 8, 16, s=0.15)
        self.conv3 = w(3, 3, 16, 16, s=0.1)
        per_cell = len(ANCHOR_SIZES)
        self.box_head = w(1, 1, 16, per_cell * 4, s=0.05)
        self.class_head = w(1, 1, 16, per_cell * (NUM_CLASSES + 1), s=0.2)
        self.anchors = tf.constant(anchors())

    @tf.function(input_signature=[tf.TensorSpec(shape=[1, None, None, 3], dtype=tf.uint8)])
    def __call__(self, input_tensor):
        x = tf.image.resize(tf.cast(input_tensor, tf.float32), [RESIZED, RESIZED])  # [1, 64, 64, 3], 0..255
        ink = 1.0 - tf.reduce_mean(x, axis=-1, keepdims=True) / 255.0  # [1, 64, 64, 1], dark = 1
        x = x * (2.0 / 255.0) - 1.0  # SSD's [-1, 1]
        x = tf.nn.relu(tf.nn.conv2d(x, self.conv1, 2, 'SAME'))  # [1, 32, 32, 8]
        x = tf.nn.relu(tf.nn.conv2d(x, self.conv2, 2, 'SAME'))  # [1, 16, 16, 16]
        x = tf.nn.relu(tf.nn.conv2d(x, self.conv3, 2, 'SAME'))  # [1, 8, 8, 16]
        per_cell = len(ANCHOR_SIZES)
        deltas = tf.reshape(tf.nn.conv2d(x, self.box_head, 1, 'SAME'), [1, -1, 4])  # [1, A, 4] ty, tx, th, tw
        logits = tf.reshape(tf.nn.conv2d(x, self.class_head, 1, 'SAME'), [1, GRID, GRID, per_cell, NUM_CLASSES + 1])
        # The darkest 2x2 block of each cell (max over the cell) raises "insect" and lowers the background: a
        # moth darkens part of a cell, the white sheet none of it. A cell dark all over (a leaf, a large moth)
        # leans to "other".
        dark = tf.nn.max_pool2d(tf.nn.avg_pool2d(ink, 2, 2, 'VALID'), 4, 4, 'VALID')  # [1, 8, 8, 1]
        mean = tf.nn.avg_pool2d(ink, 8, 8, 'VALID')  # [1, 8, 8, 1]
        bias = tf.concat([-8.0 * dark, 24.0 * (dark - 0.35), 24.0 * (dark - 0.35) + 40.0 * (mean - 0.3)], -1)
        bias = tf.reshape(bias, [1, GRID, GRID, 1, 3])
        logits = tf.reshape(logits + bias, [1, -1, NUM_CLASSES + 1])  # [1, A, 3]

        # Faster R-CNN box coder, as the OD API's SSD configs use it.
        a = self.anchors
        ha, wa = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
        cya, cxa = a[:, 0] + ha / 2, a[:, 1] + wa / 2
        ty, tx, th, tw = tf.unstack(deltas[0], axis=-1)
        cy, cx = ty / 10.0 * ha + cya, tx / 10.0 * wa + cxa
        h, w = tf.exp(th / 5.0) * ha, tf.exp(tw / 5.0) * wa
        boxes = tf.clip_by_value(tf.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], -1), 0.0, 1.0)  # [A, 4]

        scores = tf.sigmoid(logits)  # [1, A, 3], background first
        best = tf.reduce_max(scores[0, :, 1:], axis=-1)  # [A]
        cls = tf.argmax(scores[0, :, 1:], axis=-1, output_type=tf.int32)  # [A], 0-based
        # One NonMaxSuppressionV4 op, padded to MAX_DETECTIONS rows (tf.image.non_max_suppression_padded would
        # write a large graph of Python-level ops).
        selected, valid = tf.raw_ops.NonMaxSuppressionV4(
            boxes=boxes, scores=best, max_output_size=MAX_DETECTIONS, iou_threshold=NMS_IOU,
            score_threshold=NMS_SCORE, pad_to_max_output_size=True)
        live = tf.range(MAX_DETECTIONS) < valid  # [20]: rows past num_detections are padding

        def pick(t):
            rows = tf.gather(t, selected)
            return tf.where(tf.reshape(live, [-1] + [1] * (len(rows.shape) - 1)), rows, tf.zeros_like(rows))

        detection_classes = tf.cast(pick(cls), tf.float32) + 1.0  # label_id_offset: padding rows read 1.0
        out = {
            'detection_boxes': pick(boxes)[None],
            'detection_scores': pick(best)[None],
            'detection_classes': detection_classes[None],
            'detection_multiclass_scores': pick(scores[0])[None],
            'detection_anchor_indices': tf.cast(pick(tf.range(tf.shape(best)[0])), tf.float32)[None],
            'num_detections': tf.cast(valid, tf.float32)[None],
            'raw_detection_boxes': boxes[None],
            'raw_detection_scores': scores,
        }
        return {k: tf.cast(v, tf.float32) for k, v in out.items()}


def make_classifier(seed=11):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(None, None, 3), name='image')
    x = layers.Resizing(32, 32, interpolation='bilinear')(inputs)
    x = layers.Rescaling(1.0 / 255)(x)
    x = layers.Normalization(mean=[0.485, 0.456, 0.406], variance=[0.229**2, 0.224**2, 0.225**2])(x)
    x = layers.Conv2D(8, 3, strides=2, activation='relu')(x)
    x = layers.Conv2D(16, 3, strides=2, activation='relu')(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(3, activation='softmax', name='probabilities')(x)
    return keras.Model(inputs, outputs, name='tiny_insect_classifier')


def decode(path):
    data = tf.io.read_file(path)
    if path.endswith('.png'):
        return tf.io.decode_png(data, channels=3).numpy()
    img = tf.io.decode_jpeg(data, channels=3, dct_method='INTEGER_ACCURATE')
    return img.numpy()


def floats(a, digits=None):
    return [float(v) for v in np.asarray(a, np.float64).reshape(-1)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=os.path.join(ROOT, 'test', 'fixtures', 'saved-model'))
    out = parser.parse_args().out
    os.makedirs(os.path.join(out, 'images'), exist_ok=True)

    # PNG crops of a sample at odd sizes, one portrait, one wide.
    sample = decode(os.path.join(SAMPLES, 'trap-1600x1200.jpg'))
    # And a black picture with nothing on it.
    pngs = {
        'crop-131x97.png': sample[300:397, 200:331],
        'crop-77x203.png': sample[500:703, 900:977],
        'blank-160x90.png': np.zeros((90, 160, 3), np.uint8),
    }
    for name, pixels in pngs.items():
        tf.io.write_file(os.path.join(out, 'images', name), tf.io.encode_png(pixels))
    images = {
        'trap-1024x768.jpg': os.path.join(SAMPLES, 'trap-1024x768.jpg'),
        'trap-1600x1200.jpg': os.path.join(SAMPLES, 'trap-1600x1200.jpg'),
        **{name: os.path.join(out, 'images', name) for name in pngs},
    }

    det_dir = os.path.join(out, 'od-api-detector')
    shutil.rmtree(det_dir, ignore_errors=True)
    detector = OdApiStyleDetector()
    concrete = detector.__call__.get_concrete_function()
    tf.saved_model.save(detector, os.path.join(det_dir, 'saved_model'), signatures=concrete)
    with open(os.path.join(det_dir, 'labels.json'), 'w') as f:
        json.dump(['insect', 'other'], f)
        f.write('\n')

    cls_dir = os.path.join(out, 'keras-classifier')
    shutil.rmtree(cls_dir, ignore_errors=True)
    classifier = make_classifier()
    classifier.export(os.path.join(cls_dir, 'saved_model'), format='tf_saved_model', verbose=False)
    with open(os.path.join(cls_dir, 'labels.json'), 'w') as f:
        json.dump(['moth', 'beetle', 'other'], f)
        f.write('\n')

    # The references come from the reloaded SavedModels, exactly what is committed.
    served_det = tf.saved_model.load(os.path.join(det_dir, 'saved_model')).signatures['serving_default']
    served_cls = tf.saved_model.load(os.path.join(cls_dir, 'saved_model')).signatures['serving_default']
    cls_key = list(served_cls.structured_input_signature[1].keys())[0]
    reference = {
        'tensorflow': tf.__version__,
        'keras': keras.__version__,
        'detector': {},
        'classifier': {},
    }
    for name, path in images.items():
        pixels = decode(path)
        h, w = pixels.shape[:2]
        outs = served_det(input_tensor=tf.constant(pixels[None]))
        reference['detector'][name] = {
            'width': w,
            'height': h,
            **{k: {'shape': list(v.shape), 'values': floats(v.numpy())} for k, v in sorted(outs.items())
               if not k.startswith('raw_')},
        }
        # Whole-pixel boxes x1, y1, x2, y2 of assorted sizes (two of one size, to share a batch), inside the image.
        boxes = [
            [w // 8, h // 8, w // 8 + 40, h // 8 + 30],
            [w // 2, h // 3, w // 2 + 40, h // 3 + 30],
            [0, 0, min(w, 57), min(h, 23)],
            [w // 3, h // 2, w - 1, h - 2],
        ]
        crops = []
        for x1, y1, x2, y2 in boxes:
            crop = pixels[y1:y2, x1:x2].astype(np.float32)[None]
            probs = served_cls(**{cls_key: tf.constant(crop)})
            (key, value), = probs.items()
            crops.append({'bbox': [x1, y1, x2, y2], 'output': key, 'scores': floats(value.numpy())})
        reference['classifier'][name] = crops
    with open(os.path.join(out, 'reference.json'), 'w') as f:
        json.dump(reference, f, indent=1)
        f.write('\n')
    for name, r in reference['detector'].items():
        n = int(r['num_detections']['values'][0])
        top = r['detection_scores']['values'][:3]
        print(f'{name}: {n} detections, top scores {[round(s, 4) for s in top]}')
    print(f'classifier input key "{cls_key}"; wrote {out}')


if __name__ == '__main__':
    main()
