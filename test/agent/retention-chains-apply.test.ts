/**
 * applyRetention over incremental chains against the real Ceph RGW: two weekly-ish chains (a full backup in base/,
 * then incrementals in incremental/, each on the day before) and a leftover incremental folder without its
 * incremental.json. `daily: 2` keeps the two newest incrementals, and with them their chain down to its full
 * backup; exactly the objects of the older chain, the leftover and the WAL before the kept full backup go.
 */
import { backupIdFor, incrementalLayout, s3Layout } from '../../lib/contract';
import { serializeBackupInfo, type BackupInfo } from '../../agent/src/catalog/backup-info';
import type { IncrementalInfo } from '../../agent/src/incremental/catalog';
import { writeIncrementalInfo } from '../../agent/src/incremental/catalog';
import type { Logger } from '../../agent/src/common/log';
import { listPrefix, putObject } from '../../agent/src/s3/objects';
import type { StoreConfig } from '../../agent/src/store/config';
import type { S3Bucket } from '../../agent/src/s3/client';
import { applyRetention } from '../../agent/src/retention/apply';
import { abortStaleIncrementalUploads } from '../../agent/src/incremental/leftovers';
import { listMultipartUploads } from '../../agent/src/s3/objects';
import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { createBucket, deleteBucketRecursive, ensureS3, s3For, uniqueBucketName } from '../support/s3';

const DAY = 86_400_000;
const TODAY = Math.floor(Date.now() / DAY) * DAY;
/** Two hours from now, with a grace period of one hour: the leftover (its object written just now) is past it. */
const NOW = new Date(Date.now() + 2 * 3600_000);
const GRACE_MS = 3600_000;
const SYSTEM = '7412345678901234567';
const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
const seg = (day: number) => 100 + day * 4; // day is <= 0
const segName = (n: number) => `00000001${hex8(Math.floor(n / 256))}${hex8(n % 256)}`;
const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as unknown as Logger;

/** Days -9..0: full backups on days -9 and -4, incrementals on the others (each on the day before). */
const DAYS = Array.from({ length: 10 }, (_, i) => i - 9);
const isFull = (d: number) => d === -9 || d === -4;
const idOf = (d: number) => backupIdFor(new Date(TODAY + d * DAY + 3600_000));

describe('retention over incremental chains in the store', () => {
  const bucket = uniqueBucketName('ret-chain');
  let s3: S3Bucket;
  let store: StoreConfig;
  const walKey = (n: number) => `${store.prefix}${store.serverName}/wals/${segName(n).slice(0, 16)}/${segName(n)}.zst`;

  beforeAll(async () => {
    const ep = await ensureS3();
    await createBucket(bucket);
    s3 = await s3For(bucket);
    store = {
      s3: { endpoint: ep.endpoint, bucket, accessKeyId: ep.accessKeyId, secretAccessKey: ep.secretAccessKey, region: ep.region },
      prefix: '',
      serverName: 'pg',
      compression: 'zstd',
      walCompression: 'zstd',
      walMaxParallel: 4,
    };
    for (const d of DAYS) {
      const at = new Date(TODAY + d * DAY + 3600_000);
      const common = { systemIdentifier: SYSTEM, timeline: 1, beginWal: segName(seg(d)), endWal: segName(seg(d) + 1), pgVersion: 150018, size: 1000 };
      if (isFull(d)) {
        const info: BackupInfo = {
          ...common,
          backupId: idOf(d),
          status: 'DONE',
          serverName: 'pg',
          beginTime: at,
          endTime: new Date(at.getTime() + 60_000),
          beginLsn: `0/${hex8(seg(d) * 16)}`,
          endLsn: `0/${hex8(seg(d) * 16 + 1)}`,
          compression: 'zstd',
          writer: 'pg-agent',
        };
        await putObject(s3, s3Layout.dataTar('', 'pg', info.backupId, 'zstd'), Buffer.from('tar'));
        await putObject(s3, s3Layout.backupInfo('', 'pg', info.backupId), Buffer.from(serializeBackupInfo(info)));
      } else {
        const info = {
          ...common,
          version: 1,
          backupId: idOf(d),
          status: 'DONE',
          parent: idOf(d - 1),
          full: idOf(d > -4 ? -4 : -9),
          beginTime: at.toISOString(),
          endTime: new Date(at.getTime() + 60_000).toISOString(),
          beginLsn: `0/${hex8(seg(d) * 16)}`,
          endLsn: `0/${hex8(seg(d) * 16 + 1)}`,
          walSegmentSize: 16 * 1024 * 1024,
          backupLabel: '',
          compression: 'zstd',
          dataKey: 'data.pgci.zst',
          dataSize: 4,
          dataSha256: '',
          manifestSize: 2,
          manifestSha256: '',
          pagesSeen: 1,
          pagesStored: 1,
          files: 1,
          writer: 'pg-agent',
        } as IncrementalInfo;
        await putObject(s3, incrementalLayout.data('', 'pg', info.backupId, 'zstd'), Buffer.from('data'));
        await putObject(s3, incrementalLayout.manifest('', 'pg', info.backupId), Buffer.from('{}'));
        await writeIncrementalInfo(s3, store, info);
      }
    }
    // A leftover: an incremental killed before its incremental.json, two days ago.
    await putObject(s3, incrementalLayout.data('', 'pg', backupIdFor(new Date(TODAY - 2 * DAY + 7200_000)), 'zstd'), Buffer.from('part'));
    for (let n = seg(-9); n <= seg(0) + 1; n++) await putObject(s3, walKey(n), Buffer.from('w'));
  });
  afterAll(async () => {
    s3?.destroy();
    await deleteBucketRecursive(bucket).catch(() => undefined);
  });

  test('daily: 2 keeps the two newest and their chain down to the full of day -4; the rest of the store goes', async () => {
    const dry = await applyRetention(s3, store, { daily: 2 }, { now: NOW, graceMs: GRACE_MS, dryRun: true, log: quiet });
    const action = Object.fromEntries(dry.backups.map(b => [b.backupId, `${b.action}${b.reasons ? ` ${b.reasons.join(',')}` : ''}`]));
    expect(action).toEqual({
      [idOf(0)]: 'keep newest,daily',
      [idOf(-1)]: 'keep daily,chain',
      [idOf(-2)]: 'keep chain',
      [idOf(-3)]: 'keep chain',
      [idOf(-4)]: 'keep chain',
      ...Object.fromEntries([-5, -6, -7, -8, -9].map(d => [idOf(d), 'remove'])),
      [backupIdFor(new Date(TODAY - 2 * DAY + 7200_000))]: 'remove',
    });
    expect(dry.wal.boundary).toBe(segName(seg(-4)));

    await applyRetention(s3, store, { daily: 2 }, { now: NOW, graceMs: GRACE_MS, log: quiet });
    const keys = (await listPrefix(s3, 'pg/')).map(o => o.key).sort();
    const expected = [
      s3Layout.dataTar('', 'pg', idOf(-4), 'zstd'),
      s3Layout.backupInfo('', 'pg', idOf(-4)),
      ...[-3, -2, -1, 0].flatMap(d => [
        incrementalLayout.data('', 'pg', idOf(d), 'zstd'),
        incrementalLayout.manifest('', 'pg', idOf(d)),
        incrementalLayout.info('', 'pg', idOf(d)),
      ]),
      ...Array.from({ length: seg(0) + 2 - seg(-4) }, (_, i) => walKey(seg(-4) + i)),
    ].sort();
    expect(keys).toEqual(expected);
  });

  test("the next backup aborts a killed incremental's unfinished upload once it is idle, not a newer or fresh one", async () => {
    const old = incrementalLayout.data('', 'pg', idOf(-1).replace(/T.*/, 'T230000'), 'zstd');
    const newer = incrementalLayout.data('', 'pg', '29991231T000000', 'zstd');
    for (const key of [old, newer]) await s3.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const current = backupIdFor(new Date());
    expect(await abortStaleIncrementalUploads(s3, store, current)).toBe(0); // just started: may be running
    expect(await abortStaleIncrementalUploads(s3, store, current, new Date(Date.now() + 120_000))).toBe(1);
    expect((await listMultipartUploads(s3, 'pg/incremental/')).map(u => u.key)).toEqual([newer]);
  });
});
