// Bundles the agent for the image and for the tests, which run it as a process: agent/dist/pg-agent.mjs plus
// chunks. ESM with code splitting, so each command loads only its own code: wal-push and wal-fetch, which
// PostgreSQL starts once per WAL segment, must not parse the AWS SDK or the Kubernetes client.
import { build } from 'esbuild';
import { rmSync } from 'fs';

// PGC_AGENT_DIST lets parallel work trees' test runs keep their own bundle.
const outdir = process.env.PGC_AGENT_DIST ?? 'agent/dist';
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { 'pg-agent': 'agent/src/main.ts' },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  sourcemap: 'linked',
  logLevel: 'warning',
  chunkNames: 'chunks/[name]-[hash]',
  // CommonJS dependencies call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __pgcRequire } from 'module'; const require = __pgcRequire(import.meta.url);" },
  // Optional native helpers of pino and pg that are not used; and the native compression bindings (zstd, lz4),
  // which cannot be bundled: they are required at run time from node_modules (the image copies them next to the
  // bundle, built for its platform), and only by the commands that compress with them.
  external: ['pino-pretty', 'pg-native', 'zstd-napi', 'lz4-napi'],
});
