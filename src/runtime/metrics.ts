/**
 * Prometheus metrics (prom-client). One Metrics object per process (tests make their own), with its own
 * registry so that apps built in tests never collide.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { InferenceEngine } from './engine';
import type { ThreadStats } from './engine-pool';

const STAGES = ['download', 'queue', 'decode', 'detect', 'classify', 'serialize', 'pipeline'] as const;
export type MetricStage = (typeof STAGES)[number];

export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'],
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route, method and status',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly images = new Counter({
    name: 'images_processed_total',
    help: 'Source images by pipeline and outcome (ok, failed)',
    labelNames: ['pipeline', 'outcome'],
    registers: [this.registry],
  });
  readonly detections = new Counter({
    name: 'detections_total',
    help: 'Detections returned, by pipeline',
    labelNames: ['pipeline'],
    registers: [this.registry],
  });
  readonly stageDuration = new Histogram({
    name: 'pipeline_stage_duration_seconds',
    help: 'Seconds per request spent in each stage',
    labelNames: ['stage'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'inference_batch_images',
    help: 'Images per pipeline run, requests batched together included (the effective detector batch size)',
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [this.registry],
  });
  readonly downloadFailures = new Counter({
    name: 'image_download_failures_total',
    help: 'Images that could not be used, by reason code',
    labelNames: ['reason'],
    registers: [this.registry],
  });

  /**
   * `threads`: the inference threads' own load (INFERENCE_THREADS), for the inference_thread_* series; none
   * when the service runs without inference threads (INFERENCE_THREAD=main, or only model-free pipelines).
   */
  constructor(engine: InferenceEngine, collectDefaults = true, threads: () => ThreadStats[] = () => []) {
    const registers = [this.registry];
    new Gauge({
      name: 'inference_queue_depth',
      help: 'Jobs waiting for or running on the inference engine',
      registers,
      collect() {
        this.set(engine.stats().queueDepth);
      },
    });
    // INFERENCE_THREADS: how the scheduler spreads the load.
    new Gauge({
      name: 'inference_thread_queue_depth',
      help: 'Jobs handed to each inference thread and not yet answered (running or queued there)',
      labelNames: ['thread'],
      registers,
      collect() {
        this.reset();
        for (const t of threads()) this.set({ thread: String(t.thread) }, t.queueDepth);
      },
    });
    new Gauge({
      name: 'inference_thread_pipelines_ready',
      help: 'Pipelines compiled and warmed in each inference thread',
      labelNames: ['thread'],
      registers,
      collect() {
        this.reset();
        for (const t of threads()) this.set({ thread: String(t.thread) }, t.readyPipelines);
      },
    });
    new Counter({
      name: 'inference_thread_busy_seconds_total',
      help: 'Seconds each inference thread has had at least one job in flight (rate() / 1 s = utilisation)',
      labelNames: ['thread'],
      registers,
      collect() {
        this.reset();
        for (const t of threads()) this.inc({ thread: String(t.thread) }, t.busySeconds);
      },
    });
    new Gauge({
      name: 'tfjs_num_tensors',
      help: 'Tensors alive in the inference threads, summed (each after its last job)',
      registers,
      collect() {
        this.set(engine.stats().numTensors);
      },
    });
    new Gauge({
      name: 'tfjs_num_bytes',
      help: 'Bytes held by tensors in the inference threads, summed (each after its last job)',
      registers,
      collect() {
        this.set(engine.stats().numBytes);
      },
    });
    new Gauge({
      name: 'tfjs_backend_info',
      help: "The active TensorFlow.js backend (value 1); tensorflow is libtensorflow's version on the native backend",
      labelNames: ['backend', 'package', 'gpu', 'tensorflow'],
      registers,
      collect() {
        this.reset();
        const b = engine.backend();
        if (b) {
          const labels = { backend: b.backend, package: b.package, gpu: String(b.gpu) };
          this.set({ ...labels, tensorflow: b.tensorflow ?? '' }, 1);
        }
      },
    });
    // process_resident_memory_bytes, event-loop lag, GC: prom-client's defaults.
    if (collectDefaults) collectDefaultMetrics({ register: this.registry });
  }

  observeStages(timings: Partial<Record<MetricStage, number>>): void {
    for (const stage of STAGES) {
      const v = timings[stage];
      if (v !== undefined) this.stageDuration.observe({ stage }, v);
    }
  }
}
