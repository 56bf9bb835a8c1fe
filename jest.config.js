/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 60000,
  // Suites that start worker threads or servers run in their own processes; two cores, so two workers.
  maxWorkers: 2,
  // After jest's summary, list every skipped test with the reason from its title (`... (SKIPPED: why)`).
  reporters: ['default', '<rootDir>/test/reporters/skip-reasons.js'],
};
