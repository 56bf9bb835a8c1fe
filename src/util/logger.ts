/** Structured JSON logs (pino). One root logger per process; requests get children with their id. */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/** `json` for log collectors; `pretty` (LOG_FORMAT=pretty) for a person at a terminal. */
export type LogFormat = 'json' | 'pretty';

/** `destination` defaults to stdout; tests pass a stream to read the lines back. */
export function createLogger(
  level: string,
  name = 'antenna-tfjs',
  format: LogFormat = 'json',
  destination?: NodeJS.WritableStream,
): Logger {
  const options: pino.LoggerOptions = {
    name,
    level,
    // Never log credentials, even if a caller passes headers or config objects.
    redact: ['headers.authorization', 'authorization', 'token', 'config.apiToken', '*.apiToken'],
  };
  if (format === 'json') return destination ? pino(options, destination) : pino(options);
  // A synchronous stream in this thread, not a pino transport: transports run in a worker thread that
  // resolves pino-pretty at run time, which ts-node and bundled builds do not always allow, and a
  // development log has no throughput to protect.
  return pino(
    options,
    pretty({
      colorize: destination === undefined && process.stdout.isTTY,
      ...(destination ? { destination } : {}),
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,name,summary',
      // A line may carry a `summary` for people (the /process line does); `msg` stays a stable key for
      // log queries in JSON, and the pretty line shows the summary in its place.
      messageFormat: (log, messageKey) =>
        typeof log.summary === 'string' ? log.summary : String(log[messageKey] as string),
      singleLine: true,
      sync: true,
    }),
  );
}
