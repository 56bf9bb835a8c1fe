/**
 * Nesting depth of parsed JSON, measured without recursion. `JSON.parse` accepts any depth, but nearly
 * everything downstream (`JSON.stringify`, ajv, loggers, structured clone) recurses and overflows the stack
 * somewhere between 5,000 and 10,000 levels; checking first keeps those paths safe.
 */

/** Where a value first nests deeper than allowed: its path from the root (object keys and array indices). */
export interface TooDeep {
  path: (string | number)[];
  depth: number;
}

/**
 * Returns the path of the first container that sits deeper than `maxDepth` (the root object is depth 1), or
 * null when the whole value fits. Visits each container once with an explicit stack, and stops at the first
 * problem, so a hostile body costs at most one walk.
 */
export function findTooDeep(value: unknown, maxDepth: number): TooDeep | null {
  if (value === null || typeof value !== 'object') return null;
  // Each frame keeps its parent so the path is only built for the one container that is too deep.
  interface Frame {
    value: object;
    depth: number;
    key: string | number | null;
    parent: Frame | null;
  }
  const stack: Frame[] = [{ value, depth: 1, key: null, parent: null }];
  while (stack.length > 0) {
    const frame = stack.pop() as Frame;
    if (frame.depth > maxDepth) {
      const path: (string | number)[] = [];
      for (let f: Frame | null = frame; f && f.key !== null; f = f.parent) path.push(f.key);
      return { path: path.reverse(), depth: frame.depth };
    }
    const entries: [string | number, unknown][] = Array.isArray(frame.value)
      ? frame.value.map((v: unknown, i) => [i, v])
      : Object.entries(frame.value);
    // Pushed in reverse so the first key is visited first and the reported path is the earliest one.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i];
      if (child !== null && typeof child === 'object') {
        stack.push({ value: child, depth: frame.depth + 1, key, parent: frame });
      }
    }
  }
  return null;
}
