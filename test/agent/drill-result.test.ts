/**
 * drill-result.ts against a real Ceph RGW: what `pg-agent verify` records in `<server>/restore-drill.json` and what
 * the primary's metrics read back from it (the whole path, drill Job to PromQL, runs in metrics-scrape.e2e.test.ts).
 */
import { BackupCatalogReader } from '../../agent/src/instance/observed-metrics';
import { getObjectBuffer } from '../../agent/src/s3/objects';
import type { StoreConfig } from '../../agent/src/store/config';
import { drillResultKey, readDrillResults, recordDrillResult } from '../../agent/src/verify/drill-result';
import { createBucket, deleteBucketRecursive, ensureS3, s3For, uniqueBucketName } from '../support/s3';

describe('the restore drill result in the store', () => {
  const bucket = uniqueBucketName('drill');
  let store: StoreConfig;

  beforeAll(async () => {
    const ep = await ensureS3();
    await createBucket(bucket);
    store = {
      s3: { endpoint: ep.endpoint, bucket, accessKeyId: ep.accessKeyId, secretAccessKey: ep.secretAccessKey, region: ep.region, caBundle: ep.caFile },
      prefix: 'clusters/',
      serverName: 'pg',
      compression: 'gzip',
      walCompression: 'gzip',
      walMaxParallel: 4,
    };
  });
  afterAll(() => deleteBucketRecursive(bucket).catch(() => undefined));

  test('each run replaces its own outcome and keeps the other; the metrics reader exports both times', async () => {
    const s3 = await s3For(bucket);
    try {
      const reader = new BackupCatalogReader(store);
      // No drill yet: no times (exported as 0), and no object.
      expect(await readDrillResults(s3, store)).toBeUndefined();
      expect(await reader.read()).toMatchObject({ count: 0, drillSucceededTime: undefined, drillFailedTime: undefined });

      const passed = { time: 1700000000.5, backupId: '20231114T220000', detail: 'restored, replayed and checked in 30 s.' };
      const failed = { time: 1700600000, backupId: '', detail: 'no complete backup 20000101T000000 in s3://…' };
      await recordDrillResult(s3, store, true, passed);
      await recordDrillResult(s3, store, false, failed);
      expect(await readDrillResults(s3, store)).toEqual({ lastSucceeded: passed, lastFailed: failed });
      expect(await reader.read()).toMatchObject({ drillSucceededTime: 1700000000.5, drillFailedTime: 1700600000 });

      const passedAgain = { ...passed, time: 1701200000 };
      await recordDrillResult(s3, store, true, passedAgain);
      expect(await readDrillResults(s3, store)).toEqual({ lastSucceeded: passedAgain, lastFailed: failed });
      expect(await reader.read()).toMatchObject({ drillSucceededTime: 1701200000, drillFailedTime: 1700600000 });

      // Next to the archive, outside barman-cloud's base/ and wals/.
      expect(drillResultKey(store)).toBe('clusters/pg/restore-drill.json');
      expect(JSON.parse((await getObjectBuffer(s3, 'clusters/pg/restore-drill.json'))!.toString()).lastSucceeded.backupId).toBe('20231114T220000');
    } finally {
      s3.destroy();
    }
  });
});
