import { describe, expect, it } from 'vitest'
import * as api from './index.js'

// Pins the public API (STYLE.md §1.6): adding or removing an export is a deliberate change.
const EXPECTED_EXPORTS = [
  'appendAudit',
  'applyRetention',
  'createBackupFile',
  'deleteBackup',
  'findBackup',
  'fullBackup',
  'fullRestore',
  'verifyFullBackup',
  'listBackups',
  'openBackupStream',
  'planPrune',
  'prune',
  'readAudit',
  'readPassphrase',
  'resolveBackupPath',
  'verifyAudit',
  'verifyBackupFile',
  'BackupWriter',
  'AuthenticationError',
  'BusyError',
  'ConnectionError',
  'DatabaseError',
  'ForbiddenError',
  'FormatError',
  'IntegrityError',
  'InternalError',
  'MergeRefusedError',
  'MergebackError',
  'NotFoundError',
  'TooLargeError',
  'UsageError',
  'analyze',
  'asMergebackError',
  'backup',
  'inspect',
  'loadAdapter',
  'merge',
  'parseDatabaseUrl',
  'readBackup',
  'redactUrl',
  'restore',
  'stats',
  'verify',
]

describe('public API', () => {
  it('exports exactly the documented names', () => {
    expect(Object.keys(api).sort()).toEqual([...EXPECTED_EXPORTS].sort())
  })
})
