/**
 * detectionsFromImages: when a result's detections are exactly those already sent per image, the thread sends
 * the result without them (one copy of large score vectors across the thread boundary, not two).
 */
import { detectionsFromImages } from '../../src/runtime/worker-protocol';

const det = (...ids: string[]): { source_image_id: string }[] => ids.map((id) => ({ source_image_id: id }));

test('contiguous runs that match the counts sent per image give the image order', () => {
  const reported = new Map([
    ['a', 2],
    ['b', 0],
    ['c', 1],
  ]);
  expect(detectionsFromImages(det('c', 'a', 'a'), reported)).toEqual(['c', 'a']);
  expect(detectionsFromImages([], reported)).toEqual([]);
});

test('anything else is sent whole', () => {
  const reported = new Map([
    ['a', 2],
    ['c', 1],
  ]);
  expect(detectionsFromImages(det('a', 'c', 'a'), reported)).toBeNull(); // not contiguous
  expect(detectionsFromImages(det('a'), reported)).toBeNull(); // fewer than sent
  expect(detectionsFromImages(det('a', 'a', 'a'), reported)).toBeNull(); // more than sent
  expect(detectionsFromImages(det('a', 'a', 'x'), reported)).toBeNull(); // an image never sent
});
