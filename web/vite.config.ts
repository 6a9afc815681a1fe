/**
 * Builds the admin page (web/) into dist/web/, which `mergeback serve` serves at /admin/backup.
 * Everything the page needs is bundled: no CDN, no external fonts or scripts, so it works offline.
 */
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const root = fileURLToPath(new URL('.', import.meta.url))

export default defineConfig({
  root,
  // The page lives under /admin/backup/; relative asset URLs keep it working behind any prefix.
  base: './',
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    // Small enough to keep in one chunk; no source maps shipped to browsers of production servers.
    sourcemap: false,
    target: 'es2022',
  },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  server: {
    // `npx vite web` during development: API calls go to a running `mergeback serve`.
    proxy: { '/api': 'http://127.0.0.1:8080' },
  },
})
