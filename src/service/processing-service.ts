/**
 * Turns a validated PipelineRequest into a PipelineResultsResponse: download, run the pipeline on the
 * inference engine, assemble. Shared by POST /process and the pull-mode worker.
 *
 * Per-image problems never fail the request (docs/antenna-protocol.md#partial-failures): the image is left
 * out of `source_images` and described in `errors`, so Antenna sends it again later. STRICT_IMAGE_ERRORS
 * restores the reference's 500.
 */
import type {
  DetectionRequest,
  DetectionResponse,
  ImageError as ImageErrorBody,
  PipelineRequest,
  PipelineResultsResponse,
  SourceImage,
} from '../contract/types';
import { ImageError, ServiceError, type ImageErrorCode } from '../errors';
import type { ImageBytes } from '../images/bytes-image';
import type { ImageFetcher } from '../images/fetch-image';
import type { GivenDetection } from '../pipelines/pipeline';
import { PipelineUnavailableError, type ImageDone, type InferenceEngine } from '../runtime/engine';
import { mapLimit } from '../util/concurrency';
import { secondsSince } from '../util/time';

export interface ProcessingOptions {
  engine: InferenceEngine;
  fetcher: ImageFetcher;
  downloadConcurrency: number;
  strictImageErrors: boolean;
}

/** Seconds per stage for one request, for logs, metrics and the benchmark. */
export interface ProcessTimings {
  download: number;
  queue: number;
  decode: number;
  detect: number;
  classify: number;
  /** The pipeline run as reported in `total_time` (downloads excluded). */
  pipeline: number;
}

export interface ProcessOutcome {
  response: PipelineResultsResponse;
  timings: ProcessTimings;
  /** Images in the inference batch that served this request (0 when nothing reached the engine). */
  batchImages: number;
}

/**
 * One source image of a request, as soon as it is done: its detections, or its error (download, decode,
 * size, inference). `seconds` is the pipeline time (downloads excluded) from the engine call to this image.
 */
export type ImageOutcome =
  | { image: SourceImage; detections: DetectionResponse[]; seconds: number }
  | { image: SourceImage; error: ImageErrorBody };

/** Hears each image of a request once, as soon as it is done; see `ProcessingService.process`. */
export type ImageOutcomeListener = (outcome: ImageOutcome) => void;

const isHttpUrl = (url: string | null | undefined): url is string =>
  !!url && /^(https?:|data:image\/)/i.test(url);

function imageErrorBody(image: SourceImage, code: ImageErrorCode, message: string): ImageErrorBody {
  return { image_id: image.id, url: image.url, code, error: `image ${image.id}: ${message}` };
}

export class ProcessingService {
  constructor(private readonly options: ProcessingOptions) {}

  /**
   * Runs `request`. `onImage` hears of each image as soon as it is done, before the whole response is ready
   * (pull mode posts each result from there). Each image is heard once, unless `process` throws: then the
   * images not heard of yet were not finished. With STRICT_IMAGE_ERRORS a failed image is not reported (it
   * fails the whole call instead).
   */
  async process(request: PipelineRequest, onImage?: ImageOutcomeListener): Promise<ProcessOutcome> {
    const { engine } = this.options;
    const strict = this.options.strictImageErrors;
    const config = request.config ?? {};
    const detections = (request.detections ?? []).filter(
      (d): d is DetectionRequest & { bbox: NonNullable<DetectionRequest['bbox']> } =>
        d.bbox !== null && d.bbox !== undefined,
    );
    // Each id once, as Antenna echoes it once: the first occurrence wins.
    const byId = new Map<string, SourceImage>();
    for (const img of request.source_images) if (!byId.has(img.id)) byId.set(img.id, img);
    const images = [...byId.values()];
    const strays = [...new Set(detections.map((d) => d.source_image.id).filter((id) => !byId.has(id)))];
    if (strays.length > 0) {
      throw new ServiceError(
        'DETECTION_IMAGE_NOT_IN_REQUEST',
        `detections refer to source image ids not in source_images: ${strays.slice(0, 10).join(', ')}`,
      );
    }
    const state = engine.pipelineState(request.pipeline);
    if (state?.state === 'failed') {
      throw new ServiceError(
        'PIPELINE_UNAVAILABLE',
        `pipeline ${request.pipeline} failed to load: ${state.error}`,
      );
    }

    // Download every image and every crop that Antenna already stored.
    const t0 = performance.now();
    const errors: ImageErrorBody[] = [];
    const fetched = await mapLimit(images, this.options.downloadConcurrency, async (img) => {
      try {
        return await this.options.fetcher.fetch(img.id, img.url);
      } catch (err) {
        const code = err instanceof ImageError ? err.code : 'IMAGE_DOWNLOAD_FAILED';
        const error = imageErrorBody(img, code, (err as Error).message);
        errors.push(error);
        if (!strict) onImage?.({ image: img, error });
        return null;
      }
    });
    const ok = new Map(fetched.filter((f): f is ImageBytes => f !== null).map((f) => [f.id, f]));
    const given: GivenDetection<ImageBytes>[] = await mapLimit(
      detections.filter((d) => ok.has(d.source_image.id)),
      this.options.downloadConcurrency,
      async (d) => ({
        imageId: d.source_image.id,
        bbox: d.bbox,
        algorithm: { name: d.algorithm.name, key: d.algorithm.key },
        // A crop that cannot be downloaded is cut from the source image instead
        // (docs/antenna-protocol.md#post-process-request).
        crop: isHttpUrl(d.crop_image_url)
          ? await this.options.fetcher.fetch(`${d.source_image.id}:crop`, d.crop_image_url).catch(() => null)
          : null,
      }),
    );
    const download = secondsSince(t0);

    const t1 = performance.now();
    const imageDone = (done: ImageDone): void => {
      const image = byId.get(done.imageId);
      if (!image || !onImage) return;
      if (!done.failure) onImage({ image, detections: done.detections, seconds: secondsSince(t1) });
      else if (!strict)
        onImage({ image, error: imageErrorBody(image, done.failure.code, done.failure.message) });
    };
    let result;
    try {
      result =
        ok.size === 0
          ? null
          : await engine.run(
              { pipeline: request.pipeline, images: [...ok.values()], given, config },
              onImage ? imageDone : undefined,
            );
    } catch (err) {
      if (err instanceof PipelineUnavailableError)
        throw new ServiceError('PIPELINE_UNAVAILABLE', err.message);
      throw new ServiceError(
        'PIPELINE_FAILED',
        `pipeline ${request.pipeline} failed: ${(err as Error).message}`,
      );
    }
    const pipelineSeconds = secondsSince(t1);

    const failed = new Set(errors.map((e) => e.image_id));
    for (const f of result?.failures ?? []) {
      const img = byId.get(f.imageId);
      if (img && !failed.has(img.id)) {
        failed.add(img.id);
        errors.push(imageErrorBody(img, f.code, f.message));
      }
    }
    const order = new Map(images.map((img, i) => [img.id, i]));
    errors.sort((a, b) => (order.get(a.image_id) ?? 0) - (order.get(b.image_id) ?? 0));
    if (errors.length > 0 && strict) {
      throw new ServiceError('IMAGE_FAILED', errors.map((e) => e.error).join('; '));
    }
    const response: PipelineResultsResponse = {
      pipeline: request.pipeline,
      total_time: pipelineSeconds,
      algorithms: {},
      source_images: images.filter((img) => !failed.has(img.id)).map(({ id, url }) => ({ id, url })),
      detections: (result?.detections ?? []).filter((d) => !failed.has(d.source_image_id)),
      errors: errors.length > 0 ? errors : null,
    };
    const t = result?.timings ?? {};
    return {
      response,
      timings: {
        download,
        queue: t.queue ?? 0,
        decode: t.decode ?? 0,
        detect: t.detect ?? 0,
        classify: t.classify ?? 0,
        pipeline: pipelineSeconds,
      },
      batchImages: result?.batchImages ?? 0,
    };
  }
}
