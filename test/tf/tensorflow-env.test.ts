/**
 * libtensorflow's environment as the service sets it before tfjs-node loads: thread pools sized to the cores
 * the process may use and the pooling CPU allocator unless the operator chose, and its INFO logging off unless
 * asked for.
 */
import { applyTensorFlowEnv } from '../../src/tf/tensorflow-env';

const cores = (): number => 3;

describe('applyTensorFlowEnv', () => {
  it('sizes both thread pools to the available cores when nothing is set', () => {
    const env: NodeJS.ProcessEnv = {};
    applyTensorFlowEnv({ tfForceGpuAllowGrowth: null }, env, cores);
    expect(env.TF_NUM_INTRAOP_THREADS).toBe('3');
    expect(env.TF_NUM_INTEROP_THREADS).toBe('3');
    expect(env.TF_CPP_MIN_LOG_LEVEL).toBe('1');
    expect(env.TF_CPU_ALLOCATOR_USE_BFC).toBe('true');
    expect(env.TF_ENABLE_ONEDNN_OPTS).toBe('false');
  });

  it("keeps the operator's allocator and oneDNN choices from the environment, and writes configured ones", () => {
    const env: NodeJS.ProcessEnv = { TF_CPU_ALLOCATOR_USE_BFC: 'false', TF_ENABLE_ONEDNN_OPTS: '1' };
    applyTensorFlowEnv({ tfForceGpuAllowGrowth: null }, env, cores);
    expect(env.TF_CPU_ALLOCATOR_USE_BFC).toBe('false');
    expect(env.TF_ENABLE_ONEDNN_OPTS).toBe('1');
    applyTensorFlowEnv(
      { tfForceGpuAllowGrowth: null, tfCpuAllocatorUseBfc: true, tfEnableOnednnOpts: true },
      env,
      cores,
    );
    expect(env.TF_CPU_ALLOCATOR_USE_BFC).toBe('true');
    expect(env.TF_ENABLE_ONEDNN_OPTS).toBe('true');
  });

  it('keeps numbers the operator put in the environment, and replaces `auto` there by the core count', () => {
    const env: NodeJS.ProcessEnv = { TF_NUM_INTRAOP_THREADS: '6', TF_NUM_INTEROP_THREADS: 'auto' };
    applyTensorFlowEnv({ tfForceGpuAllowGrowth: null }, env, cores);
    expect(env.TF_NUM_INTRAOP_THREADS).toBe('6');
    expect(env.TF_NUM_INTEROP_THREADS).toBe('3');
  });

  it('writes the configured numbers, which win over the environment', () => {
    const env: NodeJS.ProcessEnv = { TF_NUM_INTRAOP_THREADS: '6' };
    applyTensorFlowEnv(
      { tfForceGpuAllowGrowth: 'true', tfIntraOpThreads: 2, tfInterOpThreads: 1 },
      env,
      cores,
    );
    expect(env).toMatchObject({
      TF_NUM_INTRAOP_THREADS: '2',
      TF_NUM_INTEROP_THREADS: '1',
      TF_FORCE_GPU_ALLOW_GROWTH: 'true',
    });
  });
});
