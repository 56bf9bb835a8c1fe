/** Batch sizing against the visibility timeout (docs/antenna-protocol.md#delivery-and-redelivery). */
import { BatchSizer } from '../../src/worker/batch-sizer';

test('starts at the configured size and keeps it while batches are fast', () => {
  const sizer = new BatchSizer({ maxSize: 24, visibilityTimeoutS: 300 });
  expect(sizer.size).toBe(24);
  expect(sizer.record(24, 12).size).toBe(24);
});

test('shrinks at once when a batch would use more than half the timeout, and says the batch ran over', () => {
  const sizer = new BatchSizer({ maxSize: 24, visibilityTimeoutS: 300 });
  const obs = sizer.record(24, 240); // 10 s per task: 24 tasks would take 240 s > 150 s budget
  expect(obs.overBudget).toBe(true);
  expect(obs.previousSize).toBe(24);
  expect(obs.size).toBe(12); // floor(0.8 · 150 / 10)
  expect(obs.size * 10).toBeLessThanOrEqual(150);
});

test('grows back one task per fast batch, never past the configured size', () => {
  const sizer = new BatchSizer({ maxSize: 8, visibilityTimeoutS: 300 });
  sizer.record(8, 8 * 60); // 60 s per task
  expect(sizer.size).toBe(2);
  const sizes: number[] = [];
  for (let i = 0; i < 30; i++) sizes.push(sizer.record(sizer.size, sizer.size * 0.5).size);
  expect(sizes.slice(0, 3)).toEqual([2, 3, 4]); // the moving average first forgets the slow batch
  expect(sizes.at(-1)).toBe(8);
  expect(Math.max(...sizes)).toBe(8);
});

test('never goes below one task', () => {
  const sizer = new BatchSizer({ maxSize: 4, visibilityTimeoutS: 10 });
  expect(sizer.record(1, 100).size).toBe(1);
});
