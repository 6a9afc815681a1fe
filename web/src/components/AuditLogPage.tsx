/**
 * The audit log: time, actor, action, outcome (newest first, paged), and the hash chain's
 * verification state, checked by the server on request.
 */
import { useEffect, useState } from 'preact/hooks'
import { readAudit, verifyAuditChain, type AuditEntry } from '../api/api'
import { Badge, Button, Card, ErrorNote, Notice, formatCount, formatTime } from './base/ui'

const LIMIT = 25

type ChainState = { ok: boolean; entries?: number; problems?: readonly { line: number; problem: string }[] }

export function AuditLogPage() {
  const [offset, setOffset] = useState(0)
  const [data, setData] = useState<{ total: number; entries: AuditEntry[]; damagedLines?: number } | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [chain, setChain] = useState<ChainState | null>(null)
  const [chainError, setChainError] = useState<string | null>(null)
  const [checking, setChecking] = useState(false)

  useEffect(() => {
    readAudit(offset, LIMIT)
      .then((d) => {
        setData(d)
        setError(null)
      })
      .catch((e: Error) => setError(e.message))
  }, [offset])

  const check = () => {
    setChecking(true)
    setChainError(null)
    verifyAuditChain()
      .then((r) => setChain(r as unknown as ChainState))
      .catch((e: Error) => setChainError(e.message))
      .finally(() => setChecking(false))
  }
  useEffect(check, [])

  return (
    <>
      <div class="page-head">
        <div>
          <h1>Audit log</h1>
          <p class="muted">Every backup, restore, merge, upload, download, delete and refusal, hash-chained so that editing or removing an entry is detected.</p>
        </div>
      </div>
      <Card
        title="Chain"
        id="chain"
        actions={
          <Button class="btn-small" onClick={check} busy={checking}>
            Verify again
          </Button>
        }
      >
        {chainError && <ErrorNote>{chainError}</ErrorNote>}
        {chain?.ok && (
          <Notice kind="success">
            <strong>✓ Intact.</strong> All {formatCount(chain.entries)} entries are linked and unedited.
          </Notice>
        )}
        {chain && !chain.ok && (
          <Notice kind="warning" role="alert">
            <strong>✗ The log has been tampered with or damaged.</strong>
            <ul>
              {chain.problems?.slice(0, 10).map((p) => (
                <li key={p.line}>
                  line {p.line}: {p.problem}
                </li>
              ))}
            </ul>
          </Notice>
        )}
        {!chain && !chainError && <p class="muted">Checking the chain…</p>}
      </Card>
      <Card title="Entries" id="entries">
        {error && <ErrorNote>{error}</ErrorNote>}
        {data && data.entries.length === 0 && <p class="empty">Nothing recorded yet.</p>}
        {data && data.entries.length > 0 && (
          <div class="table-wrap">
            <table class="data stack" aria-label="Audit entries">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Action</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">What</th>
                </tr>
              </thead>
              <tbody>
                {data.entries.map((e, i) => (
                  <tr key={e.seq ?? i}>
                    <td data-label="Time" class="nowrap">
                      {formatTime(e.time)}
                    </td>
                    <td data-label="Actor">{e.actor ?? '—'}</td>
                    <td data-label="Action">{e.action}</td>
                    <td data-label="Outcome">
                      <Badge kind={e.outcome === 'success' ? 'good' : e.outcome === 'failure' ? 'bad' : 'warn'}>{e.outcome}</Badge>
                    </td>
                    <td data-label="What" class="small">
                      {describe(e)}
                      {e.error && <div class="error-text">{e.error}</div>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {data && data.total > LIMIT && (
          <nav class="pager" aria-label="Audit pages">
            <Button class="btn-small" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - LIMIT))}>
              ← Newer
            </Button>
            <span>
              {formatCount(offset + 1)}–{formatCount(Math.min(offset + LIMIT, data.total))} of {formatCount(data.total)}
            </span>
            <Button class="btn-small" disabled={offset + LIMIT >= data.total} onClick={() => setOffset(offset + LIMIT)}>
              Older →
            </Button>
          </nav>
        )}
      </Card>
    </>
  )
}

function describe(e: AuditEntry): string {
  const parts: string[] = []
  if (typeof e.file === 'string') parts.push(e.file)
  if (typeof e.target === 'string' && e.target !== e.file && !e.target.endsWith(`/${e.file}`)) parts.push(`→ ${e.target}`)
  if (e.counts && typeof e.counts === 'object') {
    const n = Object.values(e.counts as Record<string, unknown>).filter((v): v is number => typeof v === 'number')
    if (n.length > 0) parts.push(`${formatCount(n.reduce((a, b) => a + b, 0))} records`)
  }
  return parts.join(' ') || '—'
}
