/**
 * `pg-agent wal-fetch` (restore_command) as a process against real Ceph RGW: it finds a file whatever its
 * compression, prefetches the segments that follow into the spool in pg_wal and serves them from there, and keeps
 * PostgreSQL's rules: exit 1 only for a file that is not in the archive, 255 for any error (S3 down, damaged
 * object, a compression it cannot read), never a partial file at the target. Recovery through it with a real
 * PostgreSQL is in backup.e2e and recovery.e2e.
 */
import * as fs from 'fs';
import * as path from 'path';
import { runAgent, logLines, storeEnv } from '../support/backup';
import { tempDir } from '../support/pod-runner';
import { S3Endpoint, createBucket, outageEndpoint, s3For, uniqueBucketName, withS3Outage } from '../support/s3';
import { deleteObject, putObject } from '../../agent/src/s3/objects';
import { MISSING_FRESH_MS } from '../../agent/src/wal/wal-spool';
import { compressBuffer } from '../../agent/src/store/compression';
import { S3Bucket } from '../../agent/src/s3/client';
import { WalFetchServer } from '../../agent/src/wal/fetch-server';
import { fetchSocketPath } from '../../agent/src/wal/fetch-command';
import { ENV } from '../../lib/contract';

jest.setTimeout(300000);

const SERVER = 'fetch-test';
const SEGMENT_SIZE = 16 * 1024 * 1024;
const seg = (n: number) => `0000000100000003${n.toString(16).toUpperCase().padStart(8, '0')}`;
const walKey = (name: string, ext: string) => `${SERVER}/wals/${name.slice(0, 16)}/${name}${ext}`;

/** A segment's worth of bytes that compress like WAL (records with a varying header, zero-filled tails). */
function segmentBytes(n: number): Buffer {
  const b = Buffer.alloc(SEGMENT_SIZE);
  for (let off = 0; off < SEGMENT_SIZE / 2; off += 8192) b.write(`record ${n} at ${off} `.repeat(40), off);
  return b;
}

describe('wal-fetch e2e (Ceph RGW)', () => {
  const bucket = uniqueBucketName('fetch');
  let ep: S3Endpoint;
  let s3: S3Bucket;
  let walDir: string;
  const env = () => storeEnv(ep, bucket, SERVER);
  const fetch = (name: string, e = env()) => runAgent(['wal-fetch', name, path.join(walDir, 'RECOVERYXLOG')], e);
  const spooled = () =>
    fs
      .readdirSync(walDir)
      .filter(d => d.startsWith('.pg-agent-prefetch-'))
      .flatMap(d => fs.readdirSync(path.join(walDir, d)).filter(f => !f.startsWith('.')))
      .sort();
  const restored = () => fs.readFileSync(path.join(walDir, 'RECOVERYXLOG'));

  beforeAll(async () => {
    ep = await outageEndpoint();
    await createBucket(bucket);
    s3 = await s3For(bucket);
    // Segments 0x10..0x15 (0x12 stored with zstd: an archive of several eras), a gap at 0x16, then 0x17.
    for (const n of [0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x17]) {
      const kind = n === 0x12 ? 'zstd' : 'gzip';
      const raw = segmentBytes(n);
      await putObject(s3, walKey(seg(n), kind === 'zstd' ? '.zst' : '.gz'), await compressBuffer(raw, kind), {
        metadata: { rawsize: String(raw.length) },
      });
    }
    await putObject(s3, `${SERVER}/wals/00000002.history`, Buffer.from('1\t3/14000000\tno recovery target specified\n'));
  });
  afterAll(() => s3?.destroy());
  beforeEach(() => {
    walDir = path.join(tempDir('wal-fetch'), 'pg_wal');
    fs.mkdirSync(walDir);
  });

  test('a segment is fetched and the next ones, up to the gap, are spooled; those are then served from the spool', async () => {
    const first = await fetch(seg(0x10));
    expect(first.code).toBe(0);
    expect(restored().equals(segmentBytes(0x10))).toBe(true);
    // The segment served stays (PostgreSQL reads the last one again at the end of recovery).
    expect(spooled()).toEqual([seg(0x10), seg(0x11), seg(0x12), seg(0x13), seg(0x14), seg(0x15)]);
    for (const n of [0x11, 0x12]) {
      const r = await fetch(seg(n));
      expect(r.code).toBe(0);
      expect(logLines(r.stderr).map(l => l.msg)).toContain('restored WAL file (prefetched)');
      expect(restored().equals(segmentBytes(n))).toBe(true);
    }
    expect(spooled()).toEqual([seg(0x12), seg(0x13), seg(0x14), seg(0x15)]);
  });

  test('in a pod the instance agent fetches (no AWS SDK loaded per file); without one, or a stale socket, wal-fetch fetches itself', async () => {
    const socketDir = tempDir('wal-fetch-socket');
    const server = new WalFetchServer(socketDir, env(), path.dirname(walDir));
    await server.start();
    try {
      const viaAgent = await fetch(seg(0x13), { ...env(), [ENV.socketDir]: socketDir });
      expect(viaAgent.code).toBe(0);
      expect(logLines(viaAgent.stderr + viaAgent.stdout).map(l => l.msg)).toContain('answered by the instance agent');
      expect(restored().equals(segmentBytes(0x13))).toBe(true);
      // The agent prefetched the next ones into the same spool: the next call is served from it, without a socket.
      expect(spooled()).toEqual([seg(0x13), seg(0x14), seg(0x15)]);
      fs.rmSync(path.join(walDir, 'RECOVERYXLOG'));
      const missing = await fetch(seg(0x30), { ...env(), [ENV.socketDir]: socketDir });
      expect(missing.code).toBe(1);
      expect(fs.existsSync(path.join(walDir, 'RECOVERYXLOG'))).toBe(false);
    } finally {
      await server.stop();
    }
    // The server is gone but its socket file is left (a killed agent): refused, so wal-fetch asks the store itself.
    fs.writeFileSync(fetchSocketPath(socketDir), '');
    const itself = await fetch(seg(0x11), { ...env(), [ENV.socketDir]: socketDir });
    expect(itself.code).toBe(0);
    expect(logLines(itself.stderr + itself.stdout).map(l => l.msg)).not.toContain('answered by the instance agent');
    expect(restored().equals(segmentBytes(0x11))).toBe(true);
  });

  test('a file that is not in the archive exits 1 and leaves no file at the target', async () => {
    expect((await fetch(seg(0x13))).code).toBe(0);
    fs.rmSync(path.join(walDir, 'RECOVERYXLOG')); // as PostgreSQL does once it has read it
    const missing = await fetch(seg(0x40));
    expect(missing.code).toBe(1);
    expect(logLines(missing.stderr).map(l => l.msg)).toContain('WAL file not in the archive');
    expect(fs.existsSync(path.join(walDir, 'RECOVERYXLOG'))).toBe(false);
  });

  test('the end of the archive seen by the prefetch answers the requests at the end of recovery, while fresh', async () => {
    expect((await fetch(seg(0x17))).code).toBe(0); // the listing shows 0x18 absent, nothing after it: the end
    for (let i = 0; i < 2; i++) {
      const end = await fetch(seg(0x18));
      expect(end.code).toBe(1);
      expect(logLines(end.stderr).map(l => l.msg)).toContain('WAL file not in the archive (listed moments ago)');
    }
    // PostgreSQL reads the last segment again: still there.
    const last = await fetch(seg(0x17));
    expect(last.code).toBe(0);
    expect(logLines(last.stderr).map(l => l.msg)).toContain('restored WAL file (prefetched)');
    expect(restored().equals(segmentBytes(0x17))).toBe(true);

    // Archived after the prefetch listed the folder, and asked for after the answer went stale: found.
    const raw = segmentBytes(0x18);
    await putObject(s3, walKey(seg(0x18), '.gz'), await compressBuffer(raw, 'gzip'), { metadata: { rawsize: String(raw.length) } });
    await new Promise(r => setTimeout(r, MISSING_FRESH_MS + 500));
    const late = await fetch(seg(0x18));
    expect(late.code).toBe(0);
    expect(restored().equals(raw)).toBe(true);
    await deleteObject(s3, walKey(seg(0x18), '.gz'));
  });

  test("a gap before a later segment of the timeline is a hole: exit 255 naming it, from the spool's answer and from the store", async () => {
    // A folder of its own, without history files: 0x10, 0x11, a gap at 0x12, 0x13.
    const server = 'fetch-gap';
    for (const n of [0x10, 0x11, 0x13]) {
      const raw = segmentBytes(n);
      await putObject(s3, `${server}/wals/${seg(n).slice(0, 16)}/${seg(n)}.gz`, await compressBuffer(raw, 'gzip'), {
        metadata: { rawsize: String(raw.length) },
      });
    }
    const gapEnv = storeEnv(ep, bucket, server);
    expect((await fetch(seg(0x10), gapEnv)).code).toBe(0); // spools 0x11; the listing shows 0x12 absent, 0x13 there
    expect((await fetch(seg(0x11), gapEnv)).code).toBe(0);
    const hole = `WAL segment ${seg(0x12)} is missing from the archive`;
    for (const r of [
      await fetch(seg(0x12), gapEnv),
      await runAgent(['wal-fetch', seg(0x12), path.join(tempDir('wal-fetch'), 'RECOVERYXLOG')], gapEnv),
    ]) {
      expect(r.code).toBe(255);
      const line = logLines(r.stderr).find(l => l.level === 'error');
      expect(line.msg).toBe(
        `wal-fetch: ${hole}: ${seg(0x12)} is missing from the archive, but ${seg(0x13)} of the same timeline is there: a hole in the archive`,
      );
      expect(line.missing).toBe(seg(0x12));
      expect(line.invariant).toBe('I4 continuous archive');
      expect(line.fix).toContain(`Find ${seg(0x12)} in an instance's pg_wal`);
    }
    // The end of that archive is not a hole.
    expect((await fetch(seg(0x14), gapEnv)).code).toBe(1);
  });

  test('a segment asked out of order is fetched from the store, not from a stale spool', async () => {
    expect((await fetch(seg(0x10))).code).toBe(0);
    const jump = await fetch(seg(0x17));
    expect(jump.code).toBe(0);
    expect(logLines(jump.stderr).map(l => l.msg)).toContain('restored WAL file');
    expect(restored().equals(segmentBytes(0x17))).toBe(true);
    expect(spooled()).toEqual([seg(0x17)]);
  });

  test('history files are fetched, and a missing one exits 1 (answered from the listing while it is fresh)', async () => {
    const missing = await fetch('00000003.history');
    expect(missing.code).toBe(1);
    expect(logLines(missing.stderr).map(l => l.msg)).toContain('WAL file not in the archive');
    const again = await fetch('00000003.history');
    expect(again.code).toBe(1);
    expect(logLines(again.stderr).map(l => l.msg)).toContain('WAL file not in the archive (listed moments ago)');
    expect((await fetch('00000002.history')).code).toBe(0);
    expect(restored().toString()).toContain('no recovery target specified');
  });

  // The outage outlasts the S3 client's retries (5 attempts with backoff).
  test('S3 down: exit 255 (PostgreSQL retries), never 1, and no file at the target', async () => {
    const r = await withS3Outage(20000, () => fetch(seg(0x10)));
    expect(r!.code).toBe(255);
    expect(fs.existsSync(path.join(walDir, 'RECOVERYXLOG'))).toBe(false);
    expect(logLines(r!.stderr).find(l => l.msg === 'wal-fetch failed')).toBeDefined();
  });

  test("a segment before a switch point that a timeline history file names is a hole (pg_wal's history, or the archive's newest)", async () => {
    // The end of timeline 1's segments in the archive is 0x17, but a history file says timeline 1 went on to 3/1A000010.
    fs.writeFileSync(path.join(walDir, '00000002.history'), '1\t3/1A000010\tno recovery target specified\n');
    const local = await fetch(seg(0x19));
    expect(local.code).toBe(255);
    expect(logLines(local.stderr).find(l => l.level === 'error').msg).toBe(
      `wal-fetch: WAL segment ${seg(0x19)} is missing from the archive: ${seg(0x19)} is missing from the archive, but a timeline history file says timeline 1 went on to 3/1A000010: a hole in the archive`,
    );
    // The switch segment itself is read from the new timeline: absent on timeline 1 is the end.
    expect((await fetch(seg(0x1a))).code).toBe(1);
    // No history in pg_wal (PostgreSQL did not fetch it yet): the archive's newest one tells.
    await putObject(
      s3,
      `${SERVER}/wals/00000004.history.gz`,
      await compressBuffer(Buffer.from('1\t3/1A000010\tno recovery target specified\n'), 'gzip'),
    );
    try {
      const fresh = path.join(tempDir('wal-fetch'), 'pg_wal');
      fs.mkdirSync(fresh);
      const r = await runAgent(['wal-fetch', seg(0x19), path.join(fresh, 'RECOVERYXLOG')], env());
      expect(r.code).toBe(255);
      expect(logLines(r.stderr).find(l => l.level === 'error').missing).toBe(seg(0x19));
      expect(fs.existsSync(path.join(fresh, 'RECOVERYXLOG'))).toBe(false);
    } finally {
      await deleteObject(s3, `${SERVER}/wals/00000004.history.gz`);
    }
  });

  test('a damaged object or one in a compression the agent cannot read exits 255, leaving nothing behind', async () => {
    const good = await compressBuffer(segmentBytes(0x20), 'gzip');
    const damaged = Buffer.from(good);
    damaged[Math.floor(damaged.length / 2)] ^= 0xff;
    await putObject(s3, walKey(seg(0x20), '.gz'), damaged);
    await putObject(s3, walKey(seg(0x21), '.gz'), good);
    const r = await fetch(seg(0x20));
    expect(r.code).toBe(255);
    expect(fs.existsSync(path.join(walDir, 'RECOVERYXLOG'))).toBe(false);
    expect(fs.readdirSync(walDir).filter(f => f.endsWith('.fetching'))).toEqual([]);

    await putObject(s3, walKey(seg(0x30), '.bz2'), Buffer.from('BZh9'));
    const bz = await fetch(seg(0x30));
    expect(bz.code).toBe(255);
    expect(bz.stderr).toContain('a compression this agent cannot read');
  });
});
