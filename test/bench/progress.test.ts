/** The progress line of long scripts: counts, rate, ETA from the rate so far, throttled off a terminal. */
import { PassThrough } from 'stream';
import { Progress, formatDuration } from '../../bench/progress';

function output(isTTY: boolean): { stream: PassThrough & { isTTY?: boolean }; text: () => string } {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean };
  stream.isTTY = isTTY;
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
  return { stream, text: () => chunks.join('') };
}

test('formatDuration', () => {
  expect([0, 59.4, 75, 3599, 4000].map(formatDuration)).toEqual(['0s', '59s', '1m 15s', '59m 59s', '1h 6m']);
  expect(formatDuration(NaN)).toBe('?');
});

test('ETA is the time per step so far times the steps left', () => {
  let t = 0;
  const out = output(false);
  const p = new Progress('requests', 100, { stream: out.stream, now: () => t, everyMs: 0 });
  expect(p.line()).toBe('requests: 0/100 (0%), 0.00/s, elapsed 0s, ETA ?');
  t = 10_000;
  p.tick(25);
  expect(p.eta()).toBe(30);
  expect(out.text()).toBe('requests: 25/100 (25%), 2.50/s, elapsed 10s, ETA 30s\n');
  t = 40_000;
  p.tick(75);
  expect(p.done()).toBe(40);
  expect(out.text().split('\n').slice(1)).toEqual([
    'requests: 100/100 (100%), 2.50/s, elapsed 40s, ETA 0s',
    'requests: 100/100 in 40s',
    '',
  ]);
});

test('without a terminal, at most one line per interval', () => {
  let t = 0;
  const out = output(false);
  const p = new Progress('steps', 1000, { stream: out.stream, now: () => t, everyMs: 10_000 });
  for (let i = 0; i < 1000; i++) {
    t += 100; // 100 s in all: a line at the first step, then every 10 s
    p.tick();
  }
  expect(out.text().trimEnd().split('\n')).toHaveLength(10);
});

test('on a terminal the line is rewritten in place', () => {
  let t = 0;
  const out = output(true);
  const p = new Progress('steps', 3, { stream: out.stream, now: () => t });
  for (let i = 0; i < 3; i++) {
    t += 1000;
    p.tick();
  }
  p.done();
  expect(out.text().split('\r').filter(Boolean)).toHaveLength(4);
  expect(out.text().endsWith('steps: 3/3 in 3s\x1b[K\n')).toBe(true);
});
