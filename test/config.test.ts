import { loadConfig, settings } from '../src/config';

describe('configuration', () => {
  test('defaults: port 2000 on all interfaces, auto backend', () => {
    const c = loadConfig({});
    expect(c.port).toBe(2000);
    expect(c.host).toBe('0.0.0.0');
    expect(c.tfjsBackend).toBe('auto');
    expect(c.enabledPipelines).toEqual([]);
  });

  test('values are parsed into their types', () => {
    const c = loadConfig({
      PORT: '8080',
      STRICT_IMAGE_ERRORS: 'true',
      ENABLED_PIPELINES: ' constant , x ',
      TFJS_BACKEND: 'wasm',
    });
    expect(c).toMatchObject({
      port: 8080,
      strictImageErrors: true,
      enabledPipelines: ['constant', 'x'],
      tfjsBackend: 'wasm',
    });
  });

  test('bad values stop startup with a message naming each variable', () => {
    expect(() => loadConfig({ PORT: 'eighty', TFJS_BACKEND: 'cuda', STRICT_IMAGE_ERRORS: 'maybe' })).toThrow(
      [
        'invalid configuration:',
        '  PORT: expected an integer, got "eighty"',
        '  STRICT_IMAGE_ERRORS: expected true/false (or 1/0), got "maybe"',
        '  TFJS_BACKEND: expected one of auto, tensorflow, wasm, cpu, got "cuda"',
      ].join('\n'),
    );
  });

  test('every variable name is unique and upper-case', () => {
    const names = Object.values(settings).map((s) => s.env);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^[A-Z][A-Z0-9_]*$/);
  });
});
