/**
 * What the long-lived and the per-segment commands load at start: the instance agent idles at about 49 MiB RSS
 * because its static imports leave out the AWS SDK, the x509 library and the restore's tar reader, which load on
 * demand (bench/memory.md). A static import of one of them, anywhere under these entry points, fails here.
 * Bundled in memory as agent/build.mjs does (code splitting: a chunk reached by import() loads only when called).
 */
import * as path from 'path';
import { build, type Metafile } from 'esbuild';

const ROOT = path.resolve(__dirname, '../..');
const HEAVY = /node_modules\/(@aws-sdk|@smithy|@peculiar|asn1js|tsyringe|reflect-metadata|tar-stream|@kubernetes)\//;

let metafile: Metafile;

beforeAll(async () => {
  const out = await build({
    absWorkingDir: ROOT,
    entryPoints: { 'pg-agent': 'agent/src/main.ts' },
    outdir: path.join(ROOT, 'agent', 'dist-imports-test'),
    write: false,
    metafile: true,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'silent',
    external: ['pino-pretty', 'pg-native', 'zstd-napi', 'lz4-napi'],
  });
  metafile = out.metafile;
}, 60_000);

/** The source files in the chunks an entry imports statically (what node loads before the entry runs). */
function loadedAtStart(entry: string): string[] {
  const chunk = Object.entries(metafile.outputs).find(([, o]) => o.entryPoint === entry)?.[0];
  if (!chunk) throw new Error(`no chunk for ${entry}`);
  const seen = new Set<string>();
  const stack = [chunk];
  while (stack.length) {
    const c = stack.pop()!;
    if (seen.has(c)) continue;
    seen.add(c);
    for (const i of metafile.outputs[c].imports) if (i.kind === 'import-statement' && !i.external) stack.push(i.path);
  }
  return [...seen].flatMap(c => Object.keys(metafile.outputs[c].inputs));
}

test.each(['agent/src/instance/command.ts', 'agent/src/wal/push-command.ts', 'agent/src/wal/fetch-command.ts'])(
  '%s loads no AWS SDK, x509, tar or Kubernetes client at start',
  entry => {
    const inputs = loadedAtStart(entry);
    expect(inputs.length).toBeGreaterThan(10);
    expect(inputs.filter(i => HEAVY.test(i))).toEqual([]);
  },
);

test('the heavy modules are still in the bundle, for the code that needs them (import() on demand)', () => {
  const all = Object.keys(metafile.inputs);
  for (const lib of ['@aws-sdk/client-s3', '@aws-sdk/lib-storage', '@peculiar/x509', 'tar-stream']) {
    expect(all.some(i => i.includes(`node_modules/${lib}/`))).toBe(true);
  }
});
