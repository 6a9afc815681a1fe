/**
 * A real S3-compatible server on loopback for the tests: s3rver (npm), storing its objects in a
 * temporary directory, speaking the S3 REST protocol to the real AWS SDK (nothing is mocked).
 *
 * What s3rver does not do, and the tests therefore cannot show: it checks that the access key
 * exists but does not verify Signature V4 (a wrong secret for a known key is accepted), and it
 * does not implement AbortMultipartUpload (the parts of an aborted upload stay in its store; the
 * object itself never appears, which is what the tests check).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import S3rver from 's3rver'

/** Access key the server knows; the secret is not checked by s3rver, so tests use a recognisable one to look for leaks. */
export const S3_ACCESS_KEY = 'S3RVER'
export const S3_SECRET = 'test-secret-Zq8vN2-never-printed'

export interface TestS3 {
  readonly endpoint: string
  readonly directory: string
  /** Environment for the CLI: endpoint, region and credentials. */
  readonly env: Record<string, string>
  /** Object keys stored in a bucket (from the server's own store on disk). */
  objects(bucket: string): string[]
  close(): Promise<void>
}

export async function startS3(buckets: readonly string[] = []): Promise<TestS3> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeback-s3-'))
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: buckets.map((name) => ({ name, configs: [] })) })
  const { port } = (await server.run()) as { port: number }
  const endpoint = `http://127.0.0.1:${port}`
  return {
    endpoint,
    directory,
    env: { MERGEBACK_S3_ENDPOINT: endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: S3_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: S3_SECRET },
    objects(bucket) {
      const root = path.join(directory, bucket)
      if (!fs.existsSync(root)) return []
      const out: string[] = []
      const walk = (dir: string) => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
          const full = path.join(dir, entry.name)
          if (entry.isDirectory()) walk(full)
          else if (entry.name.endsWith('._S3rver_object')) out.push(path.relative(root, full).replace(/\._S3rver_object$/, ''))
        }
      }
      walk(root)
      return out.sort()
    },
    async close() {
      await server.close()
      fs.rmSync(directory, { recursive: true, force: true })
    },
  }
}
