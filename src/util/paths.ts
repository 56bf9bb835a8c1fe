/** Paths that work from sources (ts-node, jest) and from the compiled dist/ tree alike. */
import * as fs from 'fs';
import * as path from 'path';

let root: string | null = null;

/** The directory holding this project's package.json. */
export function projectRoot(): string {
  if (root) return root;
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('package.json not found above ' + __dirname);
    dir = parent;
  }
  root = dir;
  return dir;
}

/** The package version, for /openapi.json and logs. */
export function packageVersion(): string {
  return (
    JSON.parse(fs.readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as { version: string }
  ).version;
}
