/**
 * Writes a JSON object as a stream of text chunks, one element of one big array at a time, so that a response
 * with 29,176-class score vectors is never one giant string (V8 caps strings at ~512 MB: issue 10 §2 saw
 * `RangeError: Invalid string length`) and never blocks the event loop for longer than one element takes.
 */
import { Readable } from 'stream';
import { setImmediate as nextTurn } from 'timers/promises';
import { stringifyFloat32 } from './float32-json';

/** Chunks smaller than this are joined before they are handed on, so small elements do not cost a turn each. */
const CHUNK_BYTES = 64 * 1024;

export interface JsonStreamOptions {
  /** The key whose array is written element by element (e.g. `detections`); other keys are written whole. */
  streamed: string;
  /** Called once with the seconds spent turning values into text (not waiting for the reader). */
  onSerialized?: (seconds: number) => void;
}

/**
 * Yields `JSON.stringify(value)` (with float32 vectors printed by formatFloat32) in chunks. Between chunks it
 * yields to the event loop, so health checks are answered while a large response is written.
 */
export async function* jsonChunks(value: object, options: JsonStreamOptions): AsyncGenerator<string> {
  let spent = 0;
  let pending = '';
  let t0 = performance.now();
  try {
    let first = true;
    for (const [key, v] of Object.entries(value)) {
      if (v === undefined || typeof v === 'function') continue;
      pending += `${first ? '{' : ','}${JSON.stringify(key)}:`;
      first = false;
      if (key !== options.streamed || !Array.isArray(v)) {
        pending += stringifyFloat32(v);
        continue;
      }
      pending += '[';
      const items = v as unknown[];
      for (let i = 0; i < items.length; i++) {
        pending += `${i > 0 ? ',' : ''}${stringifyFloat32(items[i])}`;
        if (pending.length >= CHUNK_BYTES) {
          spent += performance.now() - t0;
          yield pending;
          pending = '';
          await nextTurn();
          t0 = performance.now();
        }
      }
      pending += ']';
    }
    pending += first ? '{}' : '}';
    spent += performance.now() - t0;
    yield pending;
  } finally {
    options.onSerialized?.(spent / 1000);
  }
}

/** Joins the chunks (for bodies that must be one string, e.g. a POST that may be re-sent with the same bytes). */
export async function jsonText(value: object, options: JsonStreamOptions): Promise<string> {
  let out = '';
  for await (const chunk of jsonChunks(value, options)) out += chunk;
  return out;
}

/**
 * A byte stream of `value` as JSON. Pull-based: the next element is only serialised when the reader (the socket,
 * or gzip in front of it) asks for more, so backpressure holds memory to about one element plus the buffers.
 */
export function jsonReadable(value: object, options: JsonStreamOptions): Readable {
  async function* bytes(): AsyncGenerator<Buffer> {
    for await (const chunk of jsonChunks(value, options)) yield Buffer.from(chunk, 'utf8');
  }
  return Readable.from(bytes(), { objectMode: false, highWaterMark: CHUNK_BYTES });
}
