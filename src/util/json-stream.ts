/**
 * Writes a JSON object as a stream of text chunks, one element of one big array at a time, so that a response
 * with 29,176-class score vectors is never one giant string (V8 caps strings at ~512 MB, and a 21-image
 * request to a 29,176-class classifier failed with `RangeError: Invalid string length` as one string) and
 * never blocks the event loop for longer than one element takes.
 */
import { Readable } from 'stream';
import { stringifyFloat32Sliced, TimeSlicer } from './float32-json';

/** Chunks smaller than this are joined before they are handed on, so small elements do not cost a turn each. */
const CHUNK_BYTES = 64 * 1024;
/** Longest stretch of text work between two turns of the event loop (health checks answer within ~this). */
const SLICE_MS = 10;

export interface JsonStreamOptions {
  /** The key whose array is written element by element (e.g. `detections`); other keys are written whole. */
  streamed: string;
  /** Called once with the seconds spent turning values into text (not waiting for the reader). */
  onSerialized?: (seconds: number) => void;
}

/**
 * Yields `JSON.stringify(value)` (with float32 vectors printed by formatFloat32) in chunks. Between chunks, and
 * whenever SLICE_MS of text work have passed, it gives the event loop a turn, so health checks are answered
 * while a large response is written.
 */
export async function* jsonChunks(value: object, options: JsonStreamOptions): AsyncGenerator<string> {
  const slicer = new TimeSlicer(SLICE_MS);
  let pending = '';
  try {
    let first = true;
    for (const [key, v] of Object.entries(value)) {
      if (v === undefined || typeof v === 'function') continue;
      pending += `${first ? '{' : ','}${JSON.stringify(key)}:`;
      first = false;
      if (key !== options.streamed || !Array.isArray(v)) {
        pending += await stringifyFloat32Sliced(v, slicer);
        continue;
      }
      pending += '[';
      const items = v as unknown[];
      for (let i = 0; i < items.length; i++) {
        pending += `${i > 0 ? ',' : ''}${await stringifyFloat32Sliced(items[i], slicer)}`;
        if (pending.length >= CHUNK_BYTES) {
          // The reader's time is not ours: stop counting while it holds the chunk.
          slicer.stop();
          yield pending;
          pending = '';
          slicer.start();
          await slicer.pause();
        }
      }
      pending += ']';
    }
    pending += first ? '{}' : '}';
    slicer.stop();
    yield pending;
  } finally {
    slicer.stop();
    options.onSerialized?.(slicer.busyMs / 1000);
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
