/** Jest runs the TypeScript tests directly through ts-jest (type errors are caught by `tsc --noEmit`). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 30000,
  maxWorkers: 2,
  // Stops a run that needs Chromium with one line when it is not installed.
  globalSetup: '<rootDir>/test/global-setup.ts',
};
