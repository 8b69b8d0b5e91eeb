/**
 * WAL archiving of the instance from dist/ (shared-pg, backups on) into real Ceph RGW, under pgbench write load:
 * every segment PostgreSQL finished is in S3, in order, none missing; an S3 outage in the middle only delays
 * archiving; a different database never writes into an archive that is not its own.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import * as zlib from 'zlib';
import { ClusterHarness, eventually, query } from '../support/cluster-harness';
import { PG_BIN } from '../support/pod-runner';
import { createBucket, listKeys, outageEndpoint, s3For, uniqueBucketName, withS3Outage } from '../support/s3';
import { getObjectBuffer } from '../../agent/src/s3/objects';

jest.setTimeout(600000);
const run = promisify(execFile);

/** All segment names from the first to `last` on timeline 1 (16 MiB segments: 256 per log file). */
function expectedSegments(first: string, last: string): string[] {
  const toNum = (n: string) => parseInt(n.slice(8, 16), 16) * 256 + parseInt(n.slice(16), 16);
  const out: string[] = [];
  for (let i = toNum(first); i <= toNum(last); i++) {
    out.push(
      `00000001${Math.floor(i / 256)
        .toString(16)
        .toUpperCase()
        .padStart(8, '0')}${(i % 256).toString(16).toUpperCase().padStart(8, '0')}`,
    );
  }
  return out;
}

describe('WAL archiving e2e (shared-pg from dist/, Ceph RGW)', () => {
  const h = new ClusterHarness('shared-apps.k8s.yaml', 'shared-pg');
  const bucket = uniqueBucketName('wal');
  let su: { password: string };
  let s3Env: Record<string, string>;

  beforeAll(async () => {
    const ep = await outageEndpoint();
    await createBucket(bucket);
    await h.start();
    h.seedSecret('rook-ceph-object-user-rgw-bulk-cnpg-backup-shared', { AccessKey: ep.accessKeyId, SecretKey: ep.secretAccessKey });
    // The store's Service name maps to the loopback gateway, and the bucket to a fresh one, as Services map to IPs.
    s3Env = { PGC_S3_ENDPOINT: ep.endpoint, PGC_S3_BUCKET: bucket };
    const jobs = await h.runSecretsJob();
    expect(await jobs.exited).toBe(0);
    h.startInstance(0, s3Env);
    await h.waitReady(0, 90000);
    su = { password: h.secretData('shared-pg-superuser')!.password };
  });
  afterAll(() => h.stop());

  const pgEnv = () => ({
    ...process.env,
    PGPASSWORD: su.password,
    PGHOST: '127.0.0.1',
    PGPORT: String(h.pods[0].pgPort),
    PGUSER: 'postgres',
    PGDATABASE: 'mastodon',
  });
  const archiver = async () =>
    (
      await query(
        h.direct(0, 'postgres', su.password, 'postgres'),
        'SELECT archived_count::int AS archived, failed_count::int AS failed, last_archived_wal AS last FROM pg_stat_archiver',
      )
    )[0];
  const switchWal = async () =>
    (await query(h.direct(0, 'postgres', su.password, 'postgres'), 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS w, pg_switch_wal()'))[0]
      .w as string;
  const archivedSegments = async () =>
    (await listKeys(bucket, 'shared-pg/wals/'))
      .map(k => path.basename(k).replace(/\.gz$/, ''))
      .filter(n => /^[0-9A-F]{24}$/.test(n))
      .sort();

  test('under pgbench load every finished segment is in S3, in order, none missing', async () => {
    await run(path.join(PG_BIN, 'pgbench'), ['-i', '-s', '10', '-q'], { env: pgEnv() });
    const started = Date.now();
    await run(path.join(PG_BIN, 'pgbench'), ['-c', '4', '-j', '2', '-T', '20', '-N'], { env: pgEnv() });
    const last = await switchWal();
    await eventually(
      async () => {
        const a = await archiver();
        if (a.last !== last) throw new Error(`archived up to ${a.last}, waiting for ${last}`);
      },
      120000,
      500,
    );
    const seconds = (Date.now() - started) / 1000;
    const segments = await archivedSegments();
    expect(segments).toEqual(expectedSegments(segments[0], last));
    expect(segments[0]).toBe('000000010000000000000001');
    // eslint-disable-next-line no-console
    console.log(`[wal-archive] ${segments.length} segments archived, ${(segments.length / seconds).toFixed(1)} segments/s including pgbench time`);
    // What is stored is the segment itself: decompress one and compare with PostgreSQL's copy if still on disk.
    const s3 = await s3For(bucket);
    const stored = zlib.gunzipSync((await getObjectBuffer(s3, `shared-pg/wals/0000000100000000/${last}.gz`))!);
    expect(stored.length).toBe(16 * 1024 * 1024);
    const onDisk = path.join(h.pods[0].dataDir, 'pgdata', 'pg_wal', last);
    if (fs.existsSync(onDisk)) expect(stored.equals(fs.readFileSync(onDisk))).toBe(true);
    s3.destroy();
    const identity = JSON.parse((await listKeys(bucket, 'shared-pg/identity.json')).length ? '{"ok":1}' : '{}');
    expect(identity.ok).toBe(1);
  });

  test('S3 unavailable for a minute under load: archiving fails, PostgreSQL keeps the WAL, then catches up with nothing missing', async () => {
    const before = await archiver();
    let duringOutage: { failed: number; ready: number } | undefined;
    await withS3Outage(60000, async () => {
      await run(path.join(PG_BIN, 'pgbench'), ['-c', '4', '-j', '2', '-T', '30', '-N'], { env: pgEnv() });
      await switchWal();
      await eventually(
        async () => {
          const a = await archiver();
          if (a.failed <= before.failed) throw new Error('no failure yet');
        },
        30000,
        500,
      );
      const ready = fs.readdirSync(path.join(h.pods[0].dataDir, 'pgdata', 'pg_wal', 'archive_status')).filter(f => f.endsWith('.ready')).length;
      duringOutage = { failed: (await archiver()).failed, ready };
    });
    expect(duringOutage!.failed).toBeGreaterThan(before.failed);
    expect(duringOutage!.ready).toBeGreaterThan(0);
    const last = await switchWal();
    await eventually(
      async () => {
        const a = await archiver();
        if (a.last !== last) throw new Error(`archived up to ${a.last}, waiting for ${last}`);
      },
      180000,
      1000,
    );
    const segments = await archivedSegments();
    expect(segments).toEqual(expectedSegments('000000010000000000000001', last));
  });

  test('a different database is refused the archive: nothing is written, PostgreSQL keeps its WAL', async () => {
    const keysBefore = await listKeys(bucket, 'shared-pg/');
    h.pods[0].process!.kill('SIGTERM');
    expect(await h.pods[0].process!.exited).toBe(0);
    // The volume is lost. The cluster exists (its Lease names its system identifier) and nobody else holds the
    // data: the agent refuses to initdb a new database in its place (invariant I1) and says how to restore.
    fs.rmSync(path.join(h.pods[0].dataDir, 'pgdata'), { recursive: true, force: true });
    const refusing = h.startInstance(0, s3Env);
    const line = await refusing.waitForLog(l => /^this volume is empty, but the cluster exists/.test(l.msg ?? ''), 30000);
    expect(line.fix).toContain('bootstrap.recovery');
    expect((await h.httpGet(0, '/readyz')).status).toBe(503);
    expect(fs.readdirSync(h.pods[0].dataDir)).not.toContain('pgdata');
    refusing.kill('SIGTERM');
    await refusing.exited;
    // Starting over on purpose, as the fix says (delete the Lease; the pod's report goes with the pod): a new initdb,
    // a new system identifier, the same store folder.
    h.api.remove('leases', h.namespace, 'shared-pg-primary');
    const pod = h.api.get('pods', h.namespace, 'shared-pg-0')!;
    delete pod.metadata.annotations;
    const p = h.startInstance(0, s3Env);
    await h.waitReady(0, 90000);
    await switchWal();
    const refusal = await p.waitForLog(l => /belongs to another database/.test(l.err ?? l.msg ?? ''), 30000);
    expect(refusal.err ?? refusal.msg).toMatch(
      /the archive at s3:\/\/.*\/shared-pg\/ belongs to another database \(system identifier \d+, this one is \d+\); refusing to write WAL there/,
    );
    expect((await archiver()).failed).toBeGreaterThan(0);
    expect(await listKeys(bucket, 'shared-pg/')).toEqual(keysBefore);
  });
});
