/**
 * Progress events of long work (backup, restore, merge). The CLI draws them on a terminal; the
 * library leaves them to the caller. Typed events, not strings (STYLE.md §1.7).
 */
export type ProgressEvent =
  | { readonly type: 'table'; readonly table: string; readonly records?: number }
  | { readonly type: 'rows'; readonly table: string; readonly rows: number }
  | { readonly type: 'phase'; readonly phase: 'verify' | 'write' | 'finish' | 'commit' | 'dump' | 'upload' | 'prune' }

export type ProgressListener = (event: ProgressEvent) => void
