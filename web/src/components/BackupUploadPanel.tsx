export function BackupUploadPanel(_props: { params: URLSearchParams }) {
  return <p class="muted">Coming soon.</p>
}
