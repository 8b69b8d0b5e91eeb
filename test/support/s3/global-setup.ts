/**
 * jest globalSetup: starts the test run's Ceph RGW once, before any worker (see ./index.ts). Workers find it
 * through its state file. A running, healthy RGW (e.g. kept with PGC_KEEP_RGW=1) is reused.
 */
import { ensureS3, RGW_BASE } from './index';

export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const ep = await ensureS3();
  process.stderr.write(`\n[s3] Ceph RGW ready at ${ep.endpoint} and ${ep.httpsEndpoint} (${RGW_BASE}, ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}
