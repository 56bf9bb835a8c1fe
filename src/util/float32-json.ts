/**
 * JSON text for float32 vectors. Classifier scores and logits are float32 in the model; printed as doubles
 * (`JSON.stringify`) each carries up to 17 significant digits of which at most 9 mean anything. Printing the
 * shortest decimal that reads back as the same float32 keeps every bit of information and cuts a 29,176-class
 * response by about half (docs/benchmarks.md).
 */

/** Keys whose arrays are written as float32 (`ClassificationResponse.scores` and `.logits`). */
export const FLOAT32_KEYS: ReadonlySet<string> = new Set(['scores', 'logits']);

/** 10^0 .. 10^22: every power of ten a double holds exactly. */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/** `sign · m · 10^-k` as JSON, in the notation `Number#toString` would use (fixed down to 1e-6). */
function decimalText(sign: string, m: number, k: number): string {
  let digits = String(m);
  // Trailing zeros carry nothing (they only appear when m was rounded up to a power of ten).
  while (k > 0 && digits.length > 1 && digits.charCodeAt(digits.length - 1) === 48) {
    digits = digits.slice(0, -1);
    k--;
  }
  const len = digits.length;
  const exp = len - 1 - k; // value = d.ddd · 10^exp
  if (k <= 0) return `${sign}${digits}${'0'.repeat(-k)}`;
  if (exp >= 0) return `${sign}${digits.slice(0, len - k)}.${digits.slice(len - k)}`;
  if (exp >= -6) return `${sign}0.${'0'.repeat(k - len)}${digits}`;
  return `${sign}${digits[0]}${len > 1 ? `.${digits.slice(1)}` : ''}e${exp}`;
}

/** The string search, for magnitudes the integer search does not cover (below ~1e-14 or above 1e9). */
function slowFormat(f: number): string {
  for (let p = 1; p < 9; p++) {
    const text = f.toPrecision(p);
    if (Math.fround(Number(text)) === f) return String(Number(text));
  }
  return String(Number(f.toPrecision(9)));
}

/**
 * The shortest decimal that `Math.fround(Number(text))` maps back to `Math.fround(x)`; non-finite values become
 * `null`, as `JSON.stringify` writes them.
 *
 * Why it is fast (about 20× `toPrecision` in a loop): for p significant digits the candidate is the integer
 * m = round(|f| · 10^k), k = p - 1 - floor(log10 |f|). When 10^|k| is exact (|k| ≤ 22), `m / 10^k` is the
 * correctly rounded double of the decimal m·10^-k, which is exactly what `Number(text)` returns, so the round-trip check is
 * pure arithmetic and only the winning candidate is turned into text. Rounding to p + 1 digits is never farther
 * from f than rounding to p (a p-digit number is also a (p + 1)-digit one), so "round-trips" is monotonic in p:
 * the search starts at 8 digits (two thirds of softmax scores need exactly 8) and walks down or up. 9 digits
 * always suffice for float32.
 */
export function formatFloat32(x: number): string {
  const f = Math.fround(x);
  if (f === 0) return '0';
  if (!Number.isFinite(f)) return 'null';
  const a = Math.abs(f);
  const sign = f < 0 ? '-' : '';
  const e10 = Math.floor(Math.log10(a));
  const kAt = (p: number): number => p - 1 - e10;
  // Magnitudes 1e-14..1e9: every score and logit. Beyond them 10^k is not exact (or the text would be long).
  if (kAt(1) < -8 || kAt(9) > 22) return slowFormat(f);
  const fits = (p: number): number => {
    const k = kAt(p);
    // m · 10^-k with both factors exact: one correctly rounded operation, the same double Number(text) gives.
    const m = k >= 0 ? Math.round(a * POW10[k]) : Math.round(a / POW10[-k]);
    const back = k >= 0 ? m / POW10[k] : m * POW10[-k];
    return Math.fround(back) === a ? m : -1;
  };
  let p = 8;
  let m = fits(p);
  if (m >= 0) {
    for (let q = p - 1; q >= 1; q--) {
      const mq = fits(q);
      if (mq < 0) break;
      p = q;
      m = mq;
    }
  } else {
    p = 9;
    m = fits(p);
    // log10 rounding or a product rounded across .5 can make every integer candidate miss; the string search
    // is exact.
    if (m < 0) return slowFormat(f);
  }
  return decimalText(sign, m, kAt(p));
}

/** `[a,b,...]` with each element printed by formatFloat32 (anything that is not a number as JSON.stringify does). */
export function float32ArrayJson(values: ArrayLike<unknown>): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    parts[i] = typeof v === 'number' ? formatFloat32(v) : (JSON.stringify(v) ?? 'null');
  }
  return `[${parts.join(',')}]`;
}

const isPlainContainer = (v: unknown): v is object =>
  v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON !== 'function';

/**
 * Cooperative time slicing for long serialisation on the main thread: work calls `due()` often (cheap) and
 * `await pause()` when it is true, which gives the event loop a turn. Counts busy time, not time spent waiting.
 */
export class TimeSlicer {
  private since = performance.now();
  private busy = 0;

  constructor(private readonly sliceMs: number) {}

  /** True once the current slice has run for `sliceMs`. */
  due(): boolean {
    return performance.now() - this.since >= this.sliceMs;
  }

  /** Ends the slice: one event-loop turn (timers, I/O, health checks), then a new slice. */
  async pause(): Promise<void> {
    this.stop();
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.start();
  }

  /** Stops counting (e.g. while a consumer holds the result). */
  stop(): void {
    if (!Number.isFinite(this.since)) return;
    this.busy += performance.now() - this.since;
    this.since = Number.POSITIVE_INFINITY;
  }

  /** Starts counting again. */
  start(): void {
    this.since = performance.now();
  }

  /** Milliseconds of work counted so far. */
  get busyMs(): number {
    return this.busy + (Number.isFinite(this.since) ? performance.now() - this.since : 0);
  }
}

/** Values printed between two `due()` checks: ~0.2 ms of work, so a slice overruns by little. */
const BLOCK = 1024;

/**
 * `JSON.stringify(value)`, except that arrays under a key in `keys` are printed as float32, cut into slices of
 * `slicer`'s length: float32 vectors are printed in blocks, and the event loop gets a turn whenever a slice is
 * used up. Only descends through containers that hold containers; everything else goes to `JSON.stringify` in
 * one piece. Meant for our own response objects (a few levels deep), not for untrusted input. One 29,176-class
 * classification is ~40 ms of text work on a busy core; this keeps each turn of the loop near the slice length
 * instead.
 */
export async function stringifyFloat32Sliced(
  value: unknown,
  slicer: TimeSlicer,
  keys: ReadonlySet<string> = FLOAT32_KEYS,
): Promise<string> {
  if (!isPlainContainer(value)) return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    if (!value.some((v) => v !== null && typeof v === 'object')) return JSON.stringify(value);
    const parts: string[] = [];
    for (const v of value as unknown[])
      parts.push(
        v === undefined || typeof v === 'function' ? 'null' : await stringifyFloat32Sliced(v, slicer, keys),
      );
    return `[${parts.join(',')}]`;
  }
  const parts: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    let text: string;
    if (keys.has(k) && Array.isArray(v)) {
      const blocks: string[] = [];
      for (let i = 0; i < v.length; i += BLOCK) {
        const block = float32ArrayJson((v as unknown[]).slice(i, i + BLOCK));
        blocks.push(block.slice(1, -1));
        if (slicer.due()) await slicer.pause();
      }
      text = `[${blocks.filter((b) => b !== '').join(',')}]`;
    } else {
      text = await stringifyFloat32Sliced(v, slicer, keys);
    }
    parts.push(`${JSON.stringify(k)}:${text}`);
  }
  return `{${parts.join(',')}}`;
}
