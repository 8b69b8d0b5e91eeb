/**
 * jest globalTeardown: stops the test run's Ceph RGW and removes its directory, unless PGC_KEEP_RGW=1 (then the
 * next run reuses it at once, and its logs stay in $PGC_RGW_BASE/log) or the RGW was running before this run began
 * (another run's: it stops it itself).
 */
import { RGW_BASE, stopS3 } from './index';

export default async function globalTeardown(): Promise<void> {
  if (process.env.PGC_KEEP_RGW === '1') {
    process.stderr.write(`[s3] PGC_KEEP_RGW=1: Ceph RGW left running (${RGW_BASE}; stop: test/support/s3/ceph-rgw.sh stop --purge)\n`);
    return;
  }
  if (process.env.PGC_RGW_NOT_OURS === '1') {
    process.stderr.write(`[s3] the Ceph RGW in ${RGW_BASE} was running before this run: left running\n`);
    return;
  }
  await stopS3(true);
}
