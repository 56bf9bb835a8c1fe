/**
 * The rules `npm run native` applies to a TensorFlow wheel before it touches anything: which wheels fit this
 * machine, which members it takes, and what it says when pip finds nothing.
 */
import {
  cacheKey,
  checkWheel,
  isNeededHeader,
  parseWheelName,
  pipFailureMessage,
  wheelArch,
} from '../../src/cli/native-wheel';

const CPU_WHEEL = 'tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl';

describe('parseWheelName', () => {
  it('reads the five tags of a wheel file name (PEP 427), with or without a build tag or a directory', () => {
    expect(parseWheelName(`/tmp/x/${CPU_WHEEL}`)).toEqual({
      dist: 'tensorflow_cpu',
      version: '2.21.0',
      python: 'cp311',
      abi: 'cp311',
      platform: 'manylinux_2_27_x86_64',
    });
    expect(parseWheelName('tensorflow-2.21.0-1-cp312-cp312-manylinux_2_27_aarch64.whl')).toMatchObject({
      dist: 'tensorflow',
      python: 'cp312',
      platform: 'manylinux_2_27_aarch64',
    });
    expect(parseWheelName('tensorflow-2.21.0.tar.gz')).toBeNull();
  });
});

describe('checkWheel', () => {
  it('accepts a TensorFlow wheel for this CPU whatever its Python tag', () => {
    expect(checkWheel(CPU_WHEEL, 'linux', 'x64').version).toBe('2.21.0');
    expect(checkWheel('tensorflow-2.21.0-cp39-cp39-manylinux_2_27_x86_64.whl', 'linux', 'x64').dist).toBe(
      'tensorflow',
    );
  });

  it('refuses another CPU, another OS, another package and a name that is no wheel, saying which', () => {
    expect(() => checkWheel(CPU_WHEEL, 'linux', 'arm64')).toThrow(
      /built for manylinux_2_27_x86_64, but this machine is linux aarch64/,
    );
    expect(() => checkWheel(CPU_WHEEL, 'darwin', 'x64')).toThrow(/builds for Linux .* this is darwin on x64/);
    expect(() => checkWheel('torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl', 'linux', 'x64')).toThrow(
      /is a torch wheel; npm run native needs a TensorFlow wheel/,
    );
    expect(() => checkWheel('libtensorflow.tar.gz', 'linux', 'x64')).toThrow(/is not a wheel file name/);
  });

  it('maps Node architectures to wheel platforms, and nothing else', () => {
    expect([wheelArch('x64'), wheelArch('arm64'), wheelArch('ia32')]).toEqual(['x86_64', 'aarch64', null]);
  });
});

describe('isNeededHeader', () => {
  it.each([
    ['tensorflow/c/c_api.h', true],
    ['tensorflow/c/eager/c_api.h', true],
    ['tensorflow/core/platform/ctstring_internal.h', true],
    ['tsl/platform/ctstring.h', true],
    ['xla/tsl/c/tsl_status.h', true],
    ['tensorflow/core/framework/tensor.h', false],
    ['tensorflow/c/c_api.cc', false],
    ['xla/tsl/c/sub/deeper.h', false],
  ])('%s → %s', (member, needed) => {
    expect(isNeededHeader(member)).toBe(needed);
  });
});

describe('pip failures', () => {
  it('names the Python version and the three ways out when no wheel matches its tag', () => {
    const stderr =
      'ERROR: Could not find a version that satisfies the requirement tensorflow-cpu==2.21.0 (from versions: none)\n' +
      'ERROR: No matching distribution found for tensorflow-cpu==2.21.0';
    const message = pipFailureMessage('tensorflow-cpu==2.21.0', stderr, '3.13', 'file:///opt/pypi/simple');
    expect(message).toMatch(
      /no tensorflow-cpu==2.21.0 wheel for Python 3.13 .* in the index file:\/\/\/opt\/pypi\/simple/,
    );
    expect(message).toMatch(/TF_PYTHON_VERSION=3.11/);
    expect(message).toMatch(/TF_PIP_SPEC/);
    expect(message).toMatch(/TF_WHEEL=/);
  });

  it('quotes the end of any other failure', () => {
    expect(pipFailureMessage('tensorflow-cpu==2.21.0', 'a\nb\nc\nConnection refused', '3.11', null)).toMatch(
      /from pip's configured indexes: b \| c \| Connection refused/,
    );
  });
});

describe('cacheKey', () => {
  it('is the wheel file name without its extension, whatever directory it is in', () => {
    expect(cacheKey(`/root/.cache/w/${CPU_WHEEL}`)).toBe(
      'tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64',
    );
  });
});
