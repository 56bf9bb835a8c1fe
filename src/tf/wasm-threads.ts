/**
 * tfjs-backend-wasm's threaded SIMD build inside Node (WASM_THREADS > 1; experimental).
 *
 * tfjs 4.22 never selects its threaded build in Node (tensorflow/tfjs#3830: the `WASM_HAS_MULTITHREAD_SUPPORT`
 * flag is hard-wired to false there), although the emscripten runtime inside it does support Node's
 * worker_threads. Three things stand in the way, and this module bridges each:
 *   1. the flag: set to true before the backend initialises;
 *   2. the pthread workers: emscripten creates them with `new Worker(<blob: URL>)`, which Node's Worker cannot
 *      load. A `Worker` shim starts them from the worker script's source (the bundle's `wasmWorkerContents`)
 *      with `eval: true`, and hands them the emscripten module (posted as a Blob) as a file they can read;
 *   3. the thread count: XNNPACK's pool takes `setThreadsCount(n)` but at most half the logical cores that
 *      `os.cpus()` reports (it assumes two hyperthreads per core); this thread's `os.cpus` is widened so that
 *      the count asked for is the count used. Built-in modules are per thread, so nothing else sees it.
 * Messages to a pthread worker are posted synchronously once it has loaded: the main thread may block in
 * wasm right after (pthreadpool waits for its threads), and a deferred post would then deadlock.
 *
 * Call `enableWasmThreads` in the thread that will own the wasm backend, before `tf.setBackend('wasm')`.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Worker as NodeWorker, type TransferListItem } from 'worker_threads';

/** The tfjs-backend-wasm bundle that `require('@tensorflow/tfjs-backend-wasm')` loads in Node. */
const bundlePath = (): string =>
  require.resolve('@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.node.js');

/** The pthread worker script embedded in the bundle, as the bundle itself would put it in a Blob. */
function workerSource(bundle: string): string {
  const m = /var wasmWorkerContents = ("(?:[^"\\]|\\.)*");/.exec(fs.readFileSync(bundle, 'utf8'));
  if (!m)
    throw new Error(`no wasmWorkerContents in ${bundle}: this tfjs-backend-wasm version is not supported`);
  // The bundle escapes newlines the same way before it makes the Blob (they sit inside string literals).
  return (JSON.parse(m[1]) as string).replace(/\n/g, '\\n');
}

/**
 * Identifiers the emscripten module's source refers to from the bundle's scope (its `require`s of fs, path,
 * perf_hooks, os, and rollup's global alias); a pthread evaluates that source alone, so they must be globals.
 */
function prelude(bundle: string): string {
  return [
    "globalThis.require$$0 = require('fs');",
    "globalThis.require$$1 = require('path');",
    "globalThis.require$$3 = require('perf_hooks');",
    "globalThis.require$$4 = require('os');",
    'globalThis.commonjsGlobal = globalThis;',
    `globalThis._scriptDir = ${JSON.stringify(bundle)};`,
    '',
  ].join('\n');
}

let enabled: number | null = null;

/**
 * Makes the next `tf.setBackend('wasm')` in this thread load the threaded SIMD build with `threads` XNNPACK
 * threads. Throws when the installed tfjs-backend-wasm does not have the parts this relies on.
 */
export function enableWasmThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 2)
    throw new Error(`enableWasmThreads needs ≥ 2 threads, got ${threads}`);
  if (enabled !== null) return;
  const bundle = bundlePath();
  const source = prelude(bundle) + workerSource(bundle);
  // The emscripten module source, posted to each pthread as a Blob; written once to a file it can import.
  let mainScript: Promise<string> | null = null;
  const mainScriptFile = (blob: Blob): Promise<string> =>
    (mainScript ??= blob.text().then((text) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-wasm-threads-'));
      const file = path.join(dir, 'module.js');
      fs.writeFileSync(file, text);
      process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
      return file;
    }));

  class PthreadWorker extends NodeWorker {
    private queue: Promise<void> = Promise.resolve();
    private deferred = 0;

    constructor() {
      super(source, { eval: true });
    }

    override postMessage(message: unknown, transfer?: readonly TransferListItem[]): void {
      const load = message as { cmd?: string; urlOrBlob?: unknown };
      const blob = load?.cmd === 'load' && load.urlOrBlob instanceof Blob ? load.urlOrBlob : null;
      if (!blob && this.deferred === 0) return super.postMessage(message, transfer);
      this.deferred++;
      this.queue = this.queue.then(async () => {
        const out = blob ? { ...load, urlOrBlob: await mainScriptFile(blob) } : message;
        super.postMessage(out, transfer);
        this.deferred--;
      });
    }
  }

  // emscripten assigns `global.Worker = require('worker_threads').Worker` when it starts; keep the shim.
  Object.defineProperty(globalThis, 'Worker', {
    configurable: true,
    get: () => PthreadWorker,
    set: () => undefined,
  });
  // The module object itself (the one the bundle's `require('os')` holds), not an import's copy of it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const osModule = require('os') as typeof os;
  const cpus = osModule.cpus();
  if (cpus.length < 2 * threads)
    osModule.cpus = () => Array.from({ length: 2 * threads }, (_, i) => cpus[i % cpus.length]);

  /* eslint-disable @typescript-eslint/no-require-imports */
  const tf = require('@tensorflow/tfjs') as typeof import('@tensorflow/tfjs');
  const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  /* eslint-enable @typescript-eslint/no-require-imports */
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  enabled = threads;
}

/** XNNPACK threads of the wasm backend in this thread (1 for the single-threaded build); null before init. */
export function wasmThreadsInUse(): number | null {
  try {
    /* eslint-disable-next-line @typescript-eslint/no-require-imports */
    const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
    return wasm.getThreadsCount();
  } catch {
    return null;
  }
}
