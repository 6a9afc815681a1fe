import { defineConfig } from 'vitest/config'

// One config, two projects (STYLE.md §1.6): unit tests sit next to the code and never
// touch a database; integration tests talk to the real servers on this machine.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['src/**/*.test.ts'], testTimeout: 30_000, sequence: { groupOrder: 0 } } },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          // Fails the run if a test wrote into the repository's own ./backups.
          globalSetup: ['test/helpers/working-directory-guard.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          // Each file makes its own databases; two files at a time keeps the 2-core machine responsive.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
})
