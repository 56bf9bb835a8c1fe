/**
 * A jest reporter that says, after jest's own summary, which tests were skipped and why. Jest's default
 * output shows only a count ("3 skipped") once more than one file runs, so a skip that hides a missing tool
 * or a missing GPU went unseen. Our convention: a conditional skip carries its reason in its title,
 * `name (SKIPPED: reason)`. A skip without a reason is listed too, so that it gets one.
 * Plain CommonJS: jest loads reporters without transforming them.
 */
const path = require('path');

const REASON = /\(SKIPPED: (.*)\)\s*$/;

class SkipReasonsReporter {
  constructor(globalConfig) {
    // With -t, jest reports the tests it filtered out as skipped; only reasoned skips are real then.
    this.filtered = Boolean(globalConfig.testNamePattern);
    this.rootDir = globalConfig.rootDir;
  }

  onRunComplete(_contexts, results) {
    /** file -> reason -> titles */
    const byFile = new Map();
    for (const file of results.testResults) {
      for (const test of file.testResults) {
        if (test.status !== 'pending' && test.status !== 'skipped' && test.status !== 'todo') continue;
        const reason = REASON.exec(test.title)?.[1] ?? null;
        if (reason === null && this.filtered) continue;
        const rel = path.relative(this.rootDir, file.testFilePath);
        const reasons = byFile.get(rel) ?? new Map();
        const key = reason ?? (test.status === 'todo' ? 'todo' : 'no reason given in the title');
        reasons.set(key, [...(reasons.get(key) ?? []), test.fullName.replace(REASON, '').trim()]);
        byFile.set(rel, reasons);
      }
    }
    if (byFile.size === 0) return;
    const lines = ['', 'Skipped tests, and why:'];
    for (const [file, reasons] of byFile) {
      for (const [reason, titles] of reasons) {
        const what = titles.length === 1 ? titles[0] : `${titles.length} tests (${titles[0]}, ...)`;
        lines.push(`  ${file}: ${what}: ${reason}`);
      }
    }
    process.stderr.write(`${lines.join('\n')}\n`);
  }
}

module.exports = SkipReasonsReporter;
