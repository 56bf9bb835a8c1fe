/**
 * The results of one reserved batch, answered task by task as its images finish (so the first results reach
 * Antenna while the rest of the batch still runs): each task gets exactly one result, whether it came from a
 * per-image report, from the whole response, or from an error.
 */
import type { PipelineResultsResponse } from '../contract/types';
import { splitResponse } from './results';
import type { PullTask, ResultItem } from './types';

/** A task and the result it gets. */
export interface Answer {
  task: PullTask;
  item: ResultItem;
}

export class BatchResults {
  /** Results handed on so far, in the order they were handed on (after `send` checked them). */
  readonly items: ResultItem[] = [];
  private readonly done = new Set<PullTask>();

  /** `send` hands answers on (validates and queues them) and returns the items as queued. */
  constructor(
    private readonly tasks: readonly PullTask[],
    private readonly send: (answers: Answer[]) => ResultItem[],
  ) {}

  answered(task: PullTask): boolean {
    return this.done.has(task);
  }

  /** Tasks without a result yet, in batch order. */
  unanswered(): PullTask[] {
    return this.tasks.filter((t) => !this.done.has(t));
  }

  /**
   * Answers every open task of `imageId` (a batch may hold one image twice) from a response about that image
   * alone: a success when the image is in its `source_images`, else an error with the reason from `errors`.
   */
  answerImage(imageId: string, response: PipelineResultsResponse): void {
    this.answerFrom(
      this.tasks.filter((t) => t.image_id === imageId),
      response,
    );
  }

  /**
   * Answers those of `tasks` still open from `response`: each a success when its image is in `source_images`,
   * else an error with the reason from `errors` (splitResponse).
   */
  answerFrom(tasks: readonly PullTask[], response: PipelineResultsResponse): void {
    const open = tasks.filter((t) => !this.done.has(t));
    if (open.length === 0) return;
    const items = splitResponse(open, response);
    this.answer(open.map((task, i) => ({ task, item: items[i] })));
  }

  /** Hands on the answers of tasks not answered yet; the others are ignored (each task gets one result). */
  answer(answers: Answer[]): void {
    const fresh = answers.filter((a) => !this.done.has(a.task));
    if (fresh.length === 0) return;
    for (const a of fresh) this.done.add(a.task);
    this.items.push(...this.send(fresh));
  }
}
