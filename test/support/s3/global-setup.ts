/**
 * jest globalSetup: starts the test run's Ceph RGW once, before any worker (see ./index.ts). Workers find it
 * through its state file. A running, healthy RGW (e.g. kept with PGC_KEEP_RGW=1) is reused.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ensureS3, RGW_BASE } from './index';

export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  // Another run's RGW (a second jest, a bench): this run must not stop it at its end (global-teardown.ts).
  if (fs.existsSync(path.join(RGW_BASE, 'state.json'))) process.env.PGC_RGW_NOT_OURS = '1';
  const ep = await ensureS3();
  process.stderr.write(
    `\n[s3] Ceph RGW ready at ${ep.endpoint} and ${ep.httpsEndpoint} (${RGW_BASE}, ${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
  );
}
