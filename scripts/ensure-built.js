#!/usr/bin/env node
// `npm start` and friends call this first: it compiles TypeScript when dist/ is missing or older than src/,
// so a fresh clone starts with one command and a built tree starts instantly.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const marker = path.join(root, 'dist', 'src', 'server.js');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

const sources = ['src', 'bench'].map((d) => path.join(root, d)).filter((d) => fs.existsSync(d));
const stale = !fs.existsSync(marker) || Math.max(...sources.map(newestMtime)) > fs.statSync(marker).mtimeMs;
if (stale) {
  process.stderr.write('building TypeScript (dist/ is missing or stale)...\n');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
}
