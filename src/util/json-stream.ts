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

/** A piece of a JSON text: the text before the streamed array's elements, one element, or the text after. */
interface JsonPiece {
  part: 'head' | 'element' | 'tail';
  text: string;
}

/**
 * `JSON.stringify(value)` (float32 vectors printed by formatFloat32) in pieces, each element of the `streamed`
 * array one piece, without the commas between elements. The one walk over `value` that jsonChunks and
 * jsonParts share, so the streamed response and the cut one are the same text.
 */
async function* jsonPieces(value: object, streamed: string, slicer: TimeSlicer): AsyncGenerator<JsonPiece> {
  let part: 'head' | 'tail' = 'head';
  let first = true;
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined || typeof v === 'function') continue;
    const name = `${first ? '{' : ','}${JSON.stringify(key)}:`;
    first = false;
    if (key !== streamed || !Array.isArray(v)) {
      yield { part, text: name + (await stringifyFloat32Sliced(v, slicer)) };
      continue;
    }
    yield { part: 'head', text: `${name}[` };
    for (const item of v as unknown[])
      yield { part: 'element', text: await stringifyFloat32Sliced(item, slicer) };
    part = 'tail';
    yield { part, text: ']' };
  }
  yield { part, text: first ? '{}' : '}' };
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
    let elements = 0;
    for await (const { part, text } of jsonPieces(value, options.streamed, slicer)) {
      if (part !== 'element') {
        pending += text;
        continue;
      }
      pending += `${elements++ > 0 ? ',' : ''}${text}`;
      if (pending.length >= CHUNK_BYTES) {
        // The reader's time is not ours: stop counting while it holds the chunk.
        slicer.stop();
        yield pending;
        pending = '';
        slicer.start();
        await slicer.pause();
      }
    }
    slicer.stop();
    yield pending;
  } finally {
    slicer.stop();
    options.onSerialized?.(slicer.busyMs / 1000);
  }
}

/**
 * The JSON text of `value` cut around its `streamed` array, for a body that must be one string and may have to
 * be split by that array's elements: `jsonPartsText(parts)` is the text jsonChunks streams, and each element's
 * size is known without serialising it again.
 */
export interface JsonParts {
  /** The text before the array's first element, its `[` included (the whole text when there is no array). */
  head: string;
  /** Each element's text. */
  elements: string[];
  /** The text after its last element, its `]` included. */
  tail: string;
}

/** `value` as JsonParts, giving the event loop a turn whenever SLICE_MS of text work have passed. */
export async function jsonParts(value: object, streamed: string): Promise<JsonParts> {
  const slicer = new TimeSlicer(SLICE_MS);
  const parts: JsonParts = { head: '', elements: [], tail: '' };
  for await (const { part, text } of jsonPieces(value, streamed, slicer)) {
    if (part !== 'element') {
      parts[part] += text;
      continue;
    }
    parts.elements.push(text);
    if (slicer.due()) await slicer.pause();
  }
  return parts;
}

/** The text `parts` were cut from; with `elements`, the same text holding only those elements. */
export function jsonPartsText(parts: JsonParts, elements: readonly string[] = parts.elements): string {
  return `${parts.head}${elements.join(',')}${parts.tail}`;
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
