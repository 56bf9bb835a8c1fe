/** Structured JSON logs (pino). One root logger per process; requests get children with their id. */
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, name = 'antenna-tfjs'): Logger {
  return pino({
    name,
    level,
    // Never log credentials, even if a caller passes headers or config objects.
    redact: ['headers.authorization', 'authorization', 'token', 'config.apiToken', '*.apiToken'],
  });
}
