/**
 * `kill -INT` on a script that started a child server (npm run bench) stops the child too. A real process
 * tree: this test starts a parent script (ts-node) that starts a child which would run forever.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const root = path.join(__dirname, '..', '..');

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

test.each(['SIGINT', 'SIGTERM'] as const)(
  '%s on the parent stops its child and exits 130',
  async (signal) => {
    // The parent: starts `node -e setInterval` (a stand-in for the server) and waits forever.
    const parentCode = `
      const { spawn } = require('child_process');
      const { stopChildOnExit } = require(${JSON.stringify(path.join(root, 'bench', 'child-cleanup.ts'))});
      const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      stopChildOnExit(child, 'the test child');
      process.stdout.write(String(child.pid) + '\\n');
      setInterval(() => {}, 1000);
    `;
    const parent = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', parentCode], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    parent.stdout.on('data', (d: Buffer) => (out += d.toString()));
    parent.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => parent.on('exit', (code) => r(code)));
    expect(await until(() => /^\d+\n/.test(out), 30_000)).toBe(true);
    const childPid = Number(out.trim());
    expect(alive(childPid)).toBe(true);

    parent.kill(signal);
    expect(await exited).toBe(130);
    expect(err).toContain(`${signal}: stopping the test child (pid ${childPid})`);
    // The child got SIGTERM and exited: gone, or a zombie until init reaps it (it never exits by itself).
    expect(await until(() => !alive(childPid) || isZombie(childPid), 5_000)).toBe(true);
  },
  60_000,
);

/** Whether `pid` has exited but is not reaped yet (Linux /proc; elsewhere a missing entry counts as gone). */
function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.split(') ')[1]?.startsWith('Z') ?? false;
  } catch {
    return true;
  }
}
