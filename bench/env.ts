/**
 * The bench's environment defaults. Imported first by bench/run.ts: test/support modules read these when they load
 * (the RGW directory and ports, the agent bundle's directory), so they must be set before anything else is imported.
 *
 * The bench brings up its own Ceph RGW (bluestore: objects on disk, not in RAM) on its own ports, and builds its own
 * agent bundle, so that it never disturbs a test run or another engineer's build (and is never disturbed by them).
 */
const DEFAULTS: Record<string, string> = {
  PGC_RGW_BASE: '/tmp/bench-rgw',
  PGC_RGW_HTTP_PORT: '7680',
  PGC_RGW_HTTPS_PORT: '7643',
  PGC_RGW_MON_PORT: '6989',
  PGC_RGW_MON2_PORT: '3500',
  PGC_RGW_OUTAGE_PORT: '7681',
  PGC_RGW_OBJSTORE: 'bluestore',
  PGC_AGENT_DIST: '/tmp/bench-dist',
};
for (const [k, v] of Object.entries(DEFAULTS)) process.env[k] ??= v;

export const BENCH_ENV = Object.fromEntries(Object.keys(DEFAULTS).map(k => [k, process.env[k]!]));

// The AWS SDK warns about Node 20 on every process that loads it; the bench's own S3 listings need not say so.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const text = typeof warning === 'string' ? warning : warning.message;
  const type = typeof rest[0] === 'string' ? rest[0] : ((rest[0] as { type?: string } | undefined)?.type ?? '');
  if (/NodeVersionSupportWarning|AWS SDK for JavaScript \(v3\)/.test(`${text} ${type}`)) return;
  (emitWarning as (...a: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;
