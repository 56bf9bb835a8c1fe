/**
 * Readiness, decided in one place for LocalEngine and WorkerEngine, so /readyz means the same whichever
 * engine runs a pipeline.
 */
import { PipelineUnavailableError, Readiness } from '../../src/runtime/readiness';

describe('Readiness', () => {
  test('requests wait while loading and go ahead once ready; /readyz lists ready slugs in registry order', async () => {
    const r = new Readiness(['a', 'b']);
    expect(r.ready()).toEqual([]);
    let resolved = false;
    const waiting = r.wait('b').then(() => (resolved = true));
    await Promise.resolve();
    expect(resolved).toBe(false);
    r.set('b', { state: 'ready' });
    r.set('a', { state: 'ready' });
    await waiting;
    expect(r.ready()).toEqual(['a', 'b']);
  });

  test('a failed load rejects waiters and later requests with the load error', async () => {
    const r = new Readiness(['a']);
    const waiting = r.wait('a');
    r.set('a', { state: 'failed', error: 'no model.json' });
    await expect(waiting).rejects.toThrow(
      new PipelineUnavailableError('pipeline a failed to load: no model.json'),
    );
    await expect(r.wait('a')).rejects.toThrow('pipeline a failed to load: no model.json');
    await expect(r.wait('zzz')).rejects.toThrow('pipeline zzz is not enabled');
  });

  test('a rebuild takes a ready pipeline back to loading: it leaves /readyz and new requests wait again', async () => {
    const r = new Readiness(['a']);
    r.set('a', { state: 'ready' });
    r.setAll({ state: 'loading' });
    expect(r.ready()).toEqual([]);
    const waiting = r.wait('a');
    r.set('a', { state: 'ready' });
    await expect(waiting).resolves.toBeUndefined();
    expect(r.ready()).toEqual(['a']);
  });
});
