#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-old-space-size=192 --max-semi-space-size=4 --expose-gc
// The heap flags keep peak memory bounded (about 120-150 MB on million-row tables, measured in
// docs/performance.md): with its defaults V8 lets garbage from streamed batches pile up to
// 250 MB before collecting it. --expose-gc lets a backup collect the young generation when its
// dead Buffers add up (src/engine/buffer-reclaim.ts). `node bin/mergeback.js` runs without them.
import { main } from '../dist/cli/main.js'

process.exitCode = await main(process.argv)
