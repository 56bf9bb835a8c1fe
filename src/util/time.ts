/** Clock helpers. */

/** Seconds since `start` (from `performance.now()`), as a float. */
export function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/**
 * ISO 8601 local time with microseconds and the UTC offset, e.g. `2026-11-26T14:58:14.365000+00:00`. The
 * reference emits naive local time; an explicit offset is also accepted by Antenna
 * (docs/antenna-protocol.md#transport) and is unambiguous whatever the server time zones are.
 */
export function isoTimestamp(date: Date = new Date()): string {
  const offsetMin = -date.getTimezoneOffset();
  const sign = offsetMin >= 0 ? '+' : '-';
  const abs = Math.abs(offsetMin);
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}000` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}
