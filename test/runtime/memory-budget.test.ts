/**
 * Admission of images into pipeline runs by pixel count (docs/memory.md).
 */
import { batchCost, budgetBytes, defaultBudgetBytes, planBatches } from '../../src/runtime/memory-budget';

const MIB = 1024 * 1024;

describe('memory budget', () => {
  test('a run costs 12 B/px for every image plus a 12 B/px float32 working copy of the largest', () => {
    expect(batchCost([])).toBe(0);
    expect(batchCost([100])).toBe(2400);
    expect(batchCost([100, 300])).toBe(12 * 400 + 12 * 300);
    // Two 10000×10000 images: 3.6 GB, more than wasm's 4 GiB heap can give after the models; one is 2.4 GB.
    expect(batchCost([1e8, 1e8])).toBeGreaterThan(defaultBudgetBytes('wasm'));
    expect(batchCost([1e8])).toBeLessThan(defaultBudgetBytes('wasm'));
  });

  test('the budget is the setting when set, else sized from the backend', () => {
    expect(budgetBytes(100, 'wasm')).toBe(100 * MIB);
    expect(budgetBytes(0, 'wasm')).toBe(3072 * MIB);
    expect(defaultBudgetBytes('tensorflow', 64 * 1024 * MIB)).toBe(16 * 1024 * MIB);
    expect(defaultBudgetBytes('cpu', 8 * 1024 * MIB)).toBe(2 * 1024 * MIB);
  });

  test('images are admitted in order while the run fits; one that cannot fit alone is set aside', () => {
    const items = [
      { id: 'a', px: 1000 },
      { id: 'huge', px: 10_000 },
      { id: 'b', px: 1000 },
      { id: 'c', px: 1000 },
      { id: 'd', px: 100 },
    ];
    // Budget 40 000 B: a+b = 36 000 fits, a+b+c = 48 000 does not; c+d = 25 200 fits; huge alone = 240 000.
    const plan = planBatches(items, (i) => i.px, 8, 40_000);
    expect(plan.batches.map((b) => b.map((i) => i.id))).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    expect(plan.tooLarge).toEqual([{ item: items[1], bytes: 240_000 }]);
  });

  test('the image-count limit still applies under a large budget', () => {
    const plan = planBatches([1, 2, 3, 4, 5], (n) => n, 2, Infinity);
    expect(plan.batches).toEqual([[1, 2], [3, 4], [5]]);
    expect(plan.tooLarge).toEqual([]);
  });
});
