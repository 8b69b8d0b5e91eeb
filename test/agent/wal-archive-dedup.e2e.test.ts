/**
 * The archiver's same-content rule against real Ceph RGW, which lets every instance archive (archive_mode=always):
 * a segment already stored with the same bytes counts as archived, without a second upload, whoever stored it and
 * however it was compressed; a stored segment with other bytes under the same name is never overwritten, and the
 * push fails loudly.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { storeEnv } from '../support/backup';
import { tempDir } from '../support/pod-runner';
import { S3Endpoint, createBucket, deleteBucketRecursive, ensureS3, s3For, uniqueBucketName } from '../support/s3';
import { getObjectBuffer, headObject, putObject } from '../../agent/src/s3/objects';
import { readStoreConfig } from '../../agent/src/store/config';
import { WalArchiver } from '../../agent/src/wal/archiver';

jest.setTimeout(120000);

const SERVER = 'dedup-pg';
const seg = (n: number) => `00000001000000000000000${n}`;
const key = (name: string) => `${SERVER}/wals/${name.slice(0, 16)}/${name}.gz`;

describe('WAL archiver: same content is archived, other content is refused', () => {
  const bucket = uniqueBucketName('dedup');
  let ep: S3Endpoint;
  const dirs: string[] = [];
  /** An instance's archiver on its own pg_wal holding `files`. */
  const instance = (files: Record<string, Buffer>) => {
    const pgdata = tempDir('dedup');
    dirs.push(pgdata);
    fs.mkdirSync(path.join(pgdata, 'pg_wal', 'archive_status'), { recursive: true });
    for (const [name, bytes] of Object.entries(files)) fs.writeFileSync(path.join(pgdata, 'pg_wal', name), bytes);
    return new WalArchiver(readStoreConfig(storeEnv(ep, bucket, SERVER)), pgdata, path.join(pgdata, 'sock'), () => ({
      systemIdentifier: '7400000000000000001',
      cluster: SERVER,
    }));
  };
  const bytes = (n: number, salt = '') => Buffer.from(`segment ${n}${salt} `.repeat(64 * 1024));

  beforeAll(async () => {
    ep = await ensureS3();
    await createBucket(bucket);
  });
  afterAll(async () => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    await deleteBucketRecursive(bucket);
  });

  test('the primary uploads; the replica finds the same bytes stored and does not upload again', async () => {
    const primary = instance({ [seg(1)]: bytes(1) });
    const replica = instance({ [seg(1)]: bytes(1) });
    try {
      await primary.push(`pg_wal/${seg(1)}`);
      const s3 = await s3For(bucket);
      const stored = await headObject(s3, key(seg(1)));
      s3.destroy();
      expect(stored?.metadata.rawsha256).toMatch(/^[0-9a-f]{64}$/);
      await replica.push(`pg_wal/${seg(1)}`);
      expect({ primary: primary.stats.archived, replica: replica.stats.archived, failed: replica.stats.failed }).toEqual({
        primary: 1,
        replica: 0,
        failed: 0,
      });
    } finally {
      await primary.stop();
      await replica.stop();
    }
  });

  test('stored by another writer with other compressed bytes (no recorded hash): read back, same raw bytes, archived', async () => {
    const s3 = await s3For(bucket);
    const other = zlib.gzipSync(bytes(2), { level: 1 });
    await putObject(s3, key(seg(2)), other);
    const replica = instance({ [seg(2)]: bytes(2) });
    try {
      await replica.push(`pg_wal/${seg(2)}`);
      expect(replica.stats).toMatchObject({ archived: 0, failed: 0 });
      expect((await getObjectBuffer(s3, key(seg(2))))!.equals(other)).toBe(true);
    } finally {
      await replica.stop();
      s3.destroy();
    }
  });

  test('other bytes under a stored name: refused, the stored object untouched', async () => {
    const first = instance({ [seg(3)]: bytes(3) });
    const diverged = instance({ [seg(3)]: bytes(3, ' of another history') });
    const s3 = await s3For(bucket);
    try {
      await first.push(`pg_wal/${seg(3)}`);
      const before = await headObject(s3, key(seg(3)));
      await expect(diverged.push(`pg_wal/${seg(3)}`)).rejects.toThrow(
        `${key(seg(3))} already exists with different content; refusing to overwrite archived WAL`,
      );
      expect(diverged.stats.failed).toBe(1);
      expect((await headObject(s3, key(seg(3))))!.etag).toBe(before!.etag);
    } finally {
      await first.stop();
      await diverged.stop();
      s3.destroy();
    }
  });
});
