export function BackupInspectPanel(_props: { params: URLSearchParams }) {
  return <p class="muted">Coming soon.</p>
}
