/**
 * Float32 printing and the streamed JSON writer (docs/benchmarks.md#29176-class-responses): every value reads
 * back as the same float32, in the fewest significant digits, and the streamed text parses to the same value
 * as JSON.stringify's.
 */
import { Writable } from 'stream';
import { pipeline } from 'stream/promises';
import {
  float32ArrayJson,
  formatFloat32,
  stringifyFloat32Sliced,
  TimeSlicer,
} from '../../src/util/float32-json';
import { jsonChunks, jsonParts, jsonPartsText, jsonReadable } from '../../src/util/json-stream';

/** Independent reference: the fewest significant digits (1..9) whose toPrecision text round-trips. */
function shortestDigits(f: number): number {
  for (let p = 1; p <= 9; p++) if (Math.fround(Number(f.toPrecision(p))) === f) return p;
  throw new Error(`no round trip for ${f}`);
}
const significantDigits = (text: string): number =>
  text.replace(/e.*$/, '').replace(/[-.]/g, '').replace(/^0+/, '').replace(/0+$/, '').length || 1;

describe('formatFloat32', () => {
  test('random float32 bit patterns round-trip, as valid JSON, in the fewest digits', () => {
    const bits = new Uint32Array(1);
    const view = new Float32Array(bits.buffer);
    let seed = 12345;
    const wrong: [number, string][] = [];
    const long: [number, string][] = [];
    for (let i = 0; i < 20_000; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      bits[0] = seed;
      const f = view[0];
      if (!Number.isFinite(f)) continue;
      const text = formatFloat32(f);
      if (Math.fround(JSON.parse(text) as number) !== f) wrong.push([f, text]);
      // Magnitudes in 1e-14..1e9 (every score and logit) are checked for shortness; integers above 1e9 may be
      // printed with trailing zeros, which the digit count ignores.
      if (Math.abs(f) > 1e-14 && Math.abs(f) < 1e9 && significantDigits(text) !== shortestDigits(f))
        long.push([f, text]);
    }
    expect(wrong).toEqual([]);
    expect(long).toEqual([]);
  });

  test('known values', () => {
    expect(
      [0.1, -0.1, 0.5, 1, 100, 1e-7, 2.5e-6, 3.4028234663852886e38, 1e-45, 0, -0, NaN, Infinity].map(
        formatFloat32,
      ),
    ).toEqual([
      '0.1',
      '-0.1',
      '0.5',
      '1',
      '100',
      '1e-7',
      '0.0000025',
      '3.4028235e+38',
      '1e-45',
      '0',
      '0',
      'null',
      'null',
    ]);
  });

  test('a 29,176-wide softmax vector is about 40% smaller than JSON.stringify writes it', () => {
    const logits = Float32Array.from({ length: 29_176 }, (_, i) => Math.sin(i * 12.9898) * 8);
    const max = Math.max(...logits);
    const ex = Array.from(logits, (l) => Math.exp(l - max));
    const sum = ex.reduce((a, b) => a + b, 0);
    const scores = Array.from(Float32Array.from(ex, (e) => e / sum));
    const text = float32ArrayJson(scores);
    expect((JSON.parse(text) as number[]).map(Math.fround)).toEqual(scores);
    expect(text.length).toBeLessThan(0.7 * JSON.stringify(scores).length);
  });
});

describe('stringifyFloat32Sliced and the streamed writer', () => {
  const response = {
    pipeline: 'p',
    total_time: 0.123456789,
    algorithms: {},
    source_images: [{ id: 'a', url: 'http://x/a.jpg' }],
    detections: Array.from({ length: 50 }, (_, i) => ({
      source_image_id: 'a',
      bbox: { x1: i, y1: 0.5, x2: i + 10, y2: 20 },
      skipped: undefined,
      classifications: [
        {
          classification: `label "${i}" ü`,
          labels: null,
          scores: Array.from({ length: 3000 }, (_, k) => Math.fround(1 / (k + i + 3))),
          logits: Array.from({ length: 3000 }, (_, k) => Math.fround(-Math.log(k + i + 3))),
          terminal: true,
        },
      ],
    })),
    errors: null,
  };

  /** The parsed text with its vectors read back as float32, re-serialised: compared as strings (no huge diffs). */
  const normalised = (text: string): string =>
    JSON.stringify(JSON.parse(text), (key, v: unknown) =>
      (key === 'scores' || key === 'logits') && Array.isArray(v) ? v.map((x: number) => Math.fround(x)) : v,
    );

  /** The streamed writer's chunks, joined. */
  const streamedText = async (value: object, streamed: string): Promise<string> => {
    let text = '';
    for await (const chunk of jsonChunks(value, { streamed })) text += chunk;
    return text;
  };

  test('parses to what JSON.stringify gives, vectors as the same float32 values', async () => {
    const expected = JSON.stringify(response);
    expect(normalised(await stringifyFloat32Sliced(response, new TimeSlicer(10)))).toBe(expected);
    expect(normalised(await streamedText(response, 'detections'))).toBe(expected);
    expect(JSON.parse(await streamedText({}, 'x'))).toEqual({});
    expect(JSON.parse(await streamedText({ detections: [] }, 'detections'))).toEqual({ detections: [] });
  });

  test('jsonParts cuts the streamed text around the array: one element each, head and tail around them', async () => {
    const few = { ...response, detections: response.detections.slice(0, 5) };
    const parts = await jsonParts(few, 'detections');
    expect(jsonPartsText(parts)).toBe(await streamedText(few, 'detections'));
    expect(parts.elements.map((e) => normalised(e))).toEqual(few.detections.map((d) => JSON.stringify(d)));
    expect([parts.head.endsWith('"detections":['), parts.tail]).toEqual([true, '],"errors":null}']);
    // Two of the elements, with the same head and tail: what the result outbox posts for one part of a split.
    expect(JSON.parse(jsonPartsText(parts, parts.elements.slice(3, 5))).detections).toHaveLength(2);
    expect(await jsonParts({ detections: [] }, 'detections')).toEqual({
      head: '{"detections":[',
      elements: [],
      tail: ']}',
    });
    expect(await jsonParts({ a: 1 }, 'detections')).toEqual({ head: '{"a":1}', elements: [], tail: '' });
  });

  test('yields one bounded chunk at a time and reports its serialisation time once', async () => {
    const times: number[] = [];
    const sizes: number[] = [];
    for await (const chunk of jsonChunks(response, {
      streamed: 'detections',
      onSerialized: (s) => times.push(s),
    }))
      sizes.push(chunk.length);
    expect(sizes.length).toBeGreaterThan(10);
    // One detection here is ~60 KB of text: a chunk never holds more than two of them.
    expect(Math.max(...sizes)).toBeLessThan(200_000);
    expect(times).toHaveLength(1);
    expect(times[0]).toBeGreaterThan(0);
  });

  test('the readable respects backpressure: a slow reader holds the writer back', async () => {
    let produced = 0;
    const counting = {
      ...response,
      get detections() {
        return response.detections.map((d) => ({
          ...d,
          get source_image_id() {
            produced++;
            return d.source_image_id;
          },
        }));
      },
    };
    const stream = jsonReadable(counting, { streamed: 'detections' });
    let read = 0;
    const reader = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, done) {
        read += chunk.length;
        // After the first chunk, the writer has produced only a few detections ahead of the reader.
        if (read < 70_000) expect(produced).toBeLessThan(10);
        setTimeout(done, 1);
      },
    });
    await pipeline(stream, reader);
    expect(produced).toBe(50);
  });
});
