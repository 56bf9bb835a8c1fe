import { boxArea } from '../../src/algorithms/geometry/box-area';
import { clampBox } from '../../src/algorithms/geometry/clamp-box';
import { cropBoxToNormalized } from '../../src/algorithms/geometry/crop-box';
import { decodeBox } from '../../src/algorithms/geometry/decode-box';
import { iou } from '../../src/algorithms/geometry/iou';
import { mapBoxToSource } from '../../src/algorithms/geometry/map-box-to-source';
import {
  computeResizeGeometry,
  roundHalfEven,
  shorterSideSize,
} from '../../src/algorithms/geometry/resize-geometry';
import { wholePixelCrop } from '../../src/algorithms/geometry/whole-pixel-crop';

const box = (x1: number, y1: number, x2: number, y2: number) => ({ x1, y1, x2, y2 });

describe('computeResizeGeometry', () => {
  it('letterboxes a 4096x2160 image into 1024x576 as 1024x540 content', () => {
    expect(computeResizeGeometry(4096, 2160, 1024, 576, 'letterbox')).toEqual({
      sourceWidth: 4096,
      sourceHeight: 2160,
      inputWidth: 1024,
      inputHeight: 576,
      contentWidth: 1024,
      contentHeight: 540,
      offsetX: 0,
      offsetY: 0,
      scaleX: 0.25,
      scaleY: 0.25,
      boxOffsetX: 0,
      boxOffsetY: 0,
    });
  });

  it('letterboxes a portrait-ish 1024x768 image by height', () => {
    const g = computeResizeGeometry(1024, 768, 1024, 576, 'letterbox');
    expect([g.contentWidth, g.contentHeight]).toEqual([768, 576]);
    expect(g.scaleX).toBeCloseTo(0.75, 12);
    expect(g.scaleY).toBeCloseTo(0.75, 12);
  });

  it('stretch fills the input with independent scales', () => {
    const g = computeResizeGeometry(1000, 500, 100, 100, 'stretch');
    expect([g.contentWidth, g.contentHeight, g.scaleX, g.scaleY]).toEqual([100, 100, 0.1, 0.2]);
  });

  it('keeps at least one content pixel for extreme aspect ratios', () => {
    const g = computeResizeGeometry(10000, 1, 100, 100, 'letterbox');
    expect([g.contentWidth, g.contentHeight]).toEqual([100, 1]);
  });

  it('letterbox-center splits the padding as ultralytics does: round(pad / 2 - 0.1) before', () => {
    // 4096x2160 into 640x640: r = 0.15625, content 640x337.5 → 338 rows; pad 302 → 151 above, 151 below.
    const g = computeResizeGeometry(4096, 2160, 640, 640, 'letterbox-center');
    expect([g.contentWidth, g.contentHeight, g.offsetX, g.offsetY]).toEqual([640, 338, 0, 151]);
    // An odd pad of 3 columns: round(1.4) = 1 before, 2 after.
    const odd = computeResizeGeometry(637, 640, 640, 640, 'letterbox-center');
    expect([odd.contentWidth, odd.offsetX, odd.offsetY]).toEqual([637, 1, 0]);
  });

  it("letterbox-center rounds as Python does and maps boxes back as ultralytics' scale_boxes does", () => {
    // 721 · 0.5 = 360.5 rows: Python's round gives 360 (half to even); pad 280 → 140 above.
    const half = computeResizeGeometry(1280, 721, 640, 640, 'letterbox-center');
    expect([half.contentHeight, half.offsetY, half.boxOffsetY, half.scaleY]).toEqual([360, 140, 140, 0.5]);
    // 501 · 0.64 = 320.64 → 321 rows, 159 above; scale_boxes recomputes round(159.68 − 0.1) = 160.
    const off = computeResizeGeometry(1000, 501, 640, 640, 'letterbox-center');
    expect([off.contentHeight, off.offsetY, off.boxOffsetY, off.scaleX, off.scaleY]).toEqual([
      321, 159, 160, 0.64, 0.64,
    ]);
    expect(roundHalfEven(2.5)).toBe(2);
    expect(roundHalfEven(3.5)).toBe(4);
    expect(roundHalfEven(-1.5)).toBe(-2);
  });

  it('none feeds the source at its own size', () => {
    const g = computeResizeGeometry(1234, 567, 640, 640, 'none');
    expect(g).toMatchObject({
      inputWidth: 1234,
      inputHeight: 567,
      contentWidth: 1234,
      offsetX: 0,
      scaleX: 1,
      scaleY: 1,
    });
  });

  // Sizes PyTorch 1.13 / torchvision 0.14's _resize_image_and_masks(image, 800.0, 1333.0) gave for these images.
  it.each([
    [4096, 2160, 1333, 702],
    [1024, 768, 1066, 800],
    [1600, 1200, 1066, 800],
    [4000, 3000, 1066, 799],
    [500, 500, 800, 800],
    [1333, 999, 1067, 799],
  ])('shorter-side resizes %ix%i to %ix%i, as torchvision does', (w, h, iw, ih) => {
    expect(shorterSideSize(w, h, { minSize: 800, maxSize: 1333 })).toEqual([iw, ih]);
    const g = computeResizeGeometry(w, h, 0, 0, 'shorter-side', { minSize: 800, maxSize: 1333 });
    expect(g).toMatchObject({
      inputWidth: iw,
      inputHeight: ih,
      contentWidth: iw,
      contentHeight: ih,
      offsetX: 0,
      offsetY: 0,
    });
    expect(g.scaleX).toBeCloseTo(iw / w, 12);
  });

  it('rejects non-positive sizes', () => {
    expect(() => computeResizeGeometry(0, 10, 10, 10, 'stretch')).toThrow(RangeError);
  });
});

describe('decodeBox', () => {
  it('reads yxyx pixels', () => {
    expect(decodeBox([10, 20, 30, 40], 'yxyx', 'pixels', 100, 100)).toEqual(box(20, 10, 40, 30));
  });
  it('reads xyxy normalised against the input size', () => {
    expect(decodeBox([0.1, 0.5, 0.2, 1], 'xyxy', 'normalized', 200, 100)).toEqual(box(20, 50, 40, 100));
  });
  it('reads xywh as top-left plus size', () => {
    expect(decodeBox([5, 6, 10, 20], 'xywh', 'pixels', 100, 100)).toEqual(box(5, 6, 15, 26));
  });
  it('reads cxcywh as centre plus size', () => {
    expect(decodeBox([50, 40, 20, 10], 'cxcywh', 'pixels', 100, 100)).toEqual(box(40, 35, 60, 45));
  });
  it('reorders swapped corners', () => {
    expect(decodeBox([30, 40, 10, 20], 'yxyx', 'pixels', 100, 100)).toEqual(box(20, 10, 40, 30));
  });
});

describe('mapBoxToSource', () => {
  it('undoes a letterbox: input pixels divided by the content scale, no offset', () => {
    const g = computeResizeGeometry(4096, 2160, 1024, 576, 'letterbox');
    expect(mapBoxToSource(box(100, 50, 200, 150), g)).toEqual(box(400, 200, 800, 600));
  });
  it('undoes a stretch per axis', () => {
    const g = computeResizeGeometry(1000, 500, 100, 100, 'stretch');
    expect(mapBoxToSource(box(10, 10, 20, 20), g)).toEqual(box(100, 50, 200, 100));
  });
});

describe('clampBox', () => {
  it('clamps each coordinate to the image', () => {
    expect(clampBox(box(-5, -1, 120, 90), 100, 80)).toEqual(box(0, 0, 100, 80));
  });
  it('undoes a centred letterbox: offset removed before scaling', () => {
    const g = computeResizeGeometry(4096, 2160, 640, 640, 'letterbox-center');
    // Source box (400, 200)-(800, 600) lands at x 62.5..125 and y 151 + its rows scaled by 338/2160.
    const mapped = mapBoxToSource(box(62.5, 151 + 200 * g.scaleY, 125, 151 + 600 * g.scaleY), g);
    expect(mapped.x1).toBeCloseTo(400, 9);
    expect(mapped.y1).toBeCloseTo(200, 9);
    expect(mapped.x2).toBeCloseTo(800, 9);
    expect(mapped.y2).toBeCloseTo(600, 9);
  });

  it('turns a box in the letterbox padding into a zero-area box', () => {
    const clamped = clampBox(box(10, 2200, 50, 2300), 4096, 2160);
    expect(boxArea(clamped)).toBe(0);
  });
});

describe('boxArea and iou', () => {
  it('area is zero for inverted boxes', () => {
    expect(boxArea(box(10, 10, 5, 20))).toBe(0);
  });
  it('iou of identical boxes is 1 and of disjoint boxes 0', () => {
    expect(iou(box(0, 0, 10, 10), box(0, 0, 10, 10))).toBe(1);
    expect(iou(box(0, 0, 10, 10), box(20, 20, 30, 30))).toBe(0);
  });
  it('iou of half-overlapping squares is 1/3', () => {
    expect(iou(box(0, 0, 10, 10), box(5, 0, 15, 10))).toBeCloseTo(1 / 3, 12);
  });
});

describe('cropBoxToNormalized', () => {
  it('maps bin centres of a pixel box onto cropAndResize sample indices', () => {
    // 8 pixels wide box [2, 10) cropped to 4 samples: centres at 3, 5, 7, 9 → indices 2.5 … 8.5.
    const [, x1, , x2] = cropBoxToNormalized(box(2, 0, 10, 4), 11, 5, 4, 2);
    expect(x1 * 10).toBeCloseTo(2.5, 12);
    expect(x2 * 10).toBeCloseTo(8.5, 12);
  });
  it('clamps sample indices to the image so edge pixels repeat instead of black', () => {
    const [y1, x1, y2, x2] = cropBoxToNormalized(box(0, 0, 2, 2), 100, 100, 8, 8);
    expect(Math.min(y1, x1, y2, x2)).toBeGreaterThanOrEqual(0);
  });
  it('maps a one-pixel axis to 0', () => {
    expect(cropBoxToNormalized(box(0, 0, 1, 1), 1, 1, 4, 4)).toEqual([0, 0, 0, 0]);
  });
});

describe('wholePixelCrop', () => {
  it('is image[trunc(y1):trunc(y2), trunc(x1):trunc(x2)], as Antenna cuts crops', () => {
    expect(wholePixelCrop(box(128, 96, 168, 126), 1024, 768)).toEqual({
      y: 96,
      x: 128,
      height: 30,
      width: 40,
    });
    expect(wholePixelCrop(box(10.9, 5.2, 20.7, 9.99), 100, 100)).toEqual({
      y: 5,
      x: 10,
      height: 4,
      width: 10,
    });
  });

  it('clamps to the image, orders the corners and keeps at least one pixel', () => {
    expect(wholePixelCrop(box(-5, 90, 120, -3), 100, 80)).toEqual({ y: 0, x: 0, height: 80, width: 100 });
    expect(wholePixelCrop(box(10.2, 10.1, 10.8, 10.6), 100, 100)).toEqual({
      y: 10,
      x: 10,
      height: 1,
      width: 1,
    });
    expect(wholePixelCrop(box(100, 50, 100, 50), 100, 100)).toEqual({ y: 50, x: 99, height: 1, width: 1 });
  });
});
