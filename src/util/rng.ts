/**
 * A small seeded PRNG (mulberry32) so that random pipelines and synthetic data are reproducible.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [lo, hi], both inclusive (Python's `random.randint`). */
  int(lo: number, hi: number): number;
}

/** Returns a generator seeded with `seed` (any 32-bit integer). */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)) };
}

/** A generator seeded from the clock, for requests without a seed. */
export function unseededRng(): Rng {
  return seededRng((Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) >>> 0);
}
