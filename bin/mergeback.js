#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-old-space-size=192 --max-semi-space-size=4 --expose-gc
// The heap flags keep peak memory bounded (about 120-150 MB on million-row tables, measured in
// docs/performance.md): with its defaults V8 lets garbage from streamed batches pile up to
// 250 MB before collecting it. --expose-gc lets a backup collect the young generation when its
// dead Buffers add up (src/engine/buffer-reclaim.ts). MALLOC_ARENA_MAX=2 (set by env before node
// starts): glibc otherwise gives each thread that allocates (the thread pool's gzip and scrypt,
// zstd's worker, the digest index thread) its own malloc arena, each kept at its high-water mark
// (-15 to -45 MB on compressed SQLite backups, docs/performance.md round eight).
// `node bin/mergeback.js` runs without any of these.
import { main } from '../dist/cli/main.js'

process.exitCode = await main(process.argv)
