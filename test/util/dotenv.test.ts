/**
 * `.env` loading for `npm start` and `npm run worker`: the file fills in what the environment does not set.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadDotEnv } from '../../src/util/dotenv';

function writeEnv(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dotenv-'));
  const file = path.join(dir, '.env');
  fs.writeFileSync(file, text);
  return file;
}

describe('loadDotEnv', () => {
  test('sets what the environment lacks; the environment wins over the file', () => {
    const file = writeEnv('# a comment\nPORT=3000\nLOG_LEVEL="debug"\nHOST=127.0.0.1\n');
    const env: NodeJS.ProcessEnv = { PORT: '4000' };
    const result = loadDotEnv(file, env);
    expect(env).toEqual({ PORT: '4000', LOG_LEVEL: 'debug', HOST: '127.0.0.1' });
    expect(result).toEqual({ file, applied: ['HOST', 'LOG_LEVEL'], shadowed: ['PORT'] });
  });

  test('an empty value in the environment still wins (it is set)', () => {
    const env: NodeJS.ProcessEnv = { ENABLED_PIPELINES: '' };
    loadDotEnv(writeEnv('ENABLED_PIPELINES=constant\n'), env);
    expect(env.ENABLED_PIPELINES).toBe('');
  });

  test('.env.example parses and sets nothing (every setting is commented out at its default)', () => {
    const env: NodeJS.ProcessEnv = {};
    const result = loadDotEnv(path.join(__dirname, '..', '..', '.env.example'), env);
    expect(result?.applied).toEqual([]);
    expect(env).toEqual({});
  });

  test('no file: null and nothing changes', () => {
    const env: NodeJS.ProcessEnv = { A: '1' };
    expect(loadDotEnv(path.join(os.tmpdir(), 'no-such-dir-dotenv', '.env'), env)).toBeNull();
    expect(env).toEqual({ A: '1' });
  });

  test('a .env that exists but cannot be read is an error, not silently ignored', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dotenv-'));
    expect(() => loadDotEnv(dir)).toThrow(/^cannot read .*: EISDIR/);
  });
});
