/**
 * The pull worker's settings, derived from the service configuration (the pull-mode group of src/config.ts).
 * Times are in milliseconds here so that tests can run the whole loop in a fraction of a second.
 */
import * as os from 'os';
import { ConfigError, type Config } from '../config';
import { packageVersion } from '../util/paths';
import type { BackoffOptions } from './backoff';
import type { ClientInfo } from './types';

export interface PullWorkerOptions {
  /** ANTENNA_API_URL, e.g. `https://antenna.example.org/api/v2`. */
  apiUrl: string;
  token: string;
  authScheme: string;
  projectIds: string[];
  /** `processing_service_name` of the registration. */
  serviceName: string;
  /** WORKER_PIPELINES; empty: every pipeline of /info that loads. */
  pipelines: string[];
  /** Largest (and first) number of tasks reserved per `/tasks/` call. */
  batchSize: number;
  /**
   * Sleep between polls that found no work: at most 30 s, as Antenna asks
   * (docs/antenna-protocol.md#heartbeat).
   */
  pollIntervalMs: number;
  visibilityTimeoutS: number;
  /** Retry delays after failed Antenna calls. */
  backoff: BackoffOptions;
  /** Whole-call limit of one Antenna API call (result POSTs excepted). */
  requestTimeoutMs: number;
  /** Whole-call limit of one result POST: bodies of wide classifiers are many MB (WORKER_RESULT_TIMEOUT_S). */
  resultTimeoutMs: number;
  /** Largest result POST body in bytes; results are packed up to it and split past it (WORKER_RESULT_MAX_MB). */
  resultMaxBytes: number;
  /** On stop, how long unposted results are retried before giving up. */
  shutdownGraceMs: number;
  userAgent: string;
  clientInfo: ClientInfo;
}

const SOFTWARE = 'antenna-tfjs-service';

/**
 * Free-form description of this worker for `client_info` (docs/antenna-protocol.md#forward-compatibility).
 */
export function defaultClientInfo(): ClientInfo {
  return {
    hostname: os.hostname(),
    software: SOFTWARE,
    version: packageVersion(),
    platform: `${process.platform}-${process.arch} node ${process.version}`,
  };
}

/** Builds the worker options; throws ConfigError naming the variable when pull mode is not configured. */
export function pullWorkerOptions(config: Config): PullWorkerOptions {
  if (config.antennaApiUrl === null) throw new ConfigError('ANTENNA_API_URL: required for the pull worker');
  if (config.antennaApiToken === null)
    throw new ConfigError('ANTENNA_API_TOKEN: required for the pull worker');
  let url: URL;
  try {
    url = new URL(config.antennaApiUrl);
  } catch {
    throw new ConfigError(`ANTENNA_API_URL: not a valid URL: "${config.antennaApiUrl}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`ANTENNA_API_URL: expected an http(s) URL, got "${config.antennaApiUrl}"`);
  }
  return {
    apiUrl: config.antennaApiUrl,
    token: config.antennaApiToken,
    authScheme: config.antennaAuthScheme,
    projectIds: config.antennaProjectIds,
    serviceName: config.antennaServiceName ?? `${config.serviceName} (${os.hostname()})`,
    pipelines: config.workerPipelines,
    batchSize: config.workerBatchSize,
    pollIntervalMs: config.workerPollIntervalS * 1000,
    visibilityTimeoutS: config.workerVisibilityTimeoutS,
    backoff: { baseMs: 1000, capMs: 60_000 },
    requestTimeoutMs: 60_000,
    resultTimeoutMs: config.workerResultTimeoutS * 1000,
    resultMaxBytes: config.workerResultMaxMb * 1024 * 1024,
    shutdownGraceMs: config.shutdownGraceMs,
    userAgent: `${SOFTWARE}/${packageVersion()} (pull worker)`,
    clientInfo: defaultClientInfo(),
  };
}
