/**
 * Chooses how many tasks to reserve. Every reserved task must be finished and posted well inside Antenna's
 * visibility timeout (docs/antenna-protocol.md#delivery-and-redelivery), or it is handed out again. The sizer
 * keeps a moving average of the seconds per task and shrinks the batch at once when a batch would take more
 * than half the timeout; it grows back by one task per fast batch, never above the configured size.
 */

export interface BatchSizerOptions {
  /** WORKER_BATCH_SIZE: the starting and largest batch. */
  maxSize: number;
  /** WORKER_VISIBILITY_TIMEOUT_S, in seconds. */
  visibilityTimeoutS: number;
  /** Fraction of the timeout a batch may use (default 0.5). */
  budgetFraction?: number;
}

export interface BatchObservation {
  /** Seconds the batch took, reservation to results queued. */
  seconds: number;
  /** Tasks in the batch. */
  tasks: number;
  /** Predicted batch seconds at the new size. */
  predictedSeconds: number;
  previousSize: number;
  size: number;
  /** The batch itself used more than the budget. */
  overBudget: boolean;
}

/** Weight of the newest batch in the moving average of seconds per task. */
const SMOOTHING = 0.5;
/** Grow only while a batch one task larger would stay under this share of the budget. */
const GROW_BELOW = 0.5;

export class BatchSizer {
  private current: number;
  private secondsPerTask: number | null = null;

  constructor(private readonly options: BatchSizerOptions) {
    this.current = options.maxSize;
  }

  get size(): number {
    return this.current;
  }

  /** Seconds a batch may take. */
  get budgetSeconds(): number {
    return this.options.visibilityTimeoutS * (this.options.budgetFraction ?? 0.5);
  }

  /** Records a finished batch and adapts the size. */
  record(tasks: number, seconds: number): BatchObservation {
    const previousSize = this.current;
    if (tasks > 0) {
      const perTask = seconds / tasks;
      this.secondsPerTask =
        this.secondsPerTask === null ? perTask : SMOOTHING * perTask + (1 - SMOOTHING) * this.secondsPerTask;
      // Shrink on the worse of the average and this batch, so one slow batch is enough to react.
      const pessimistic = Math.max(this.secondsPerTask, perTask);
      const budget = this.budgetSeconds;
      if (pessimistic * this.current > budget) {
        this.current = Math.max(1, Math.floor((budget * 0.8) / pessimistic));
      } else if (
        this.current < this.options.maxSize &&
        this.secondsPerTask * (this.current + 1) < budget * GROW_BELOW
      ) {
        this.current++;
      }
    }
    return {
      seconds,
      tasks,
      predictedSeconds: (this.secondsPerTask ?? 0) * this.current,
      previousSize,
      size: this.current,
      overBudget: seconds > this.budgetSeconds,
    };
  }
}
