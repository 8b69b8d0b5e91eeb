/**
 * The backup issue's drill on dist/keycloak.k8s.yaml (2 instances, backups to a BackupStore, `immediate: true`):
 * the immediate Job and the CronJob's pod run `pg-agent backup` with the manifests' command, args and env against
 * real PostgreSQL 15 and Ceph RGW (the store's endpoint and bucket mapped to the test S3, as Services are mapped to
 * loopback IPs). Then: `list`, the barman layout, barman-cloud-restore of our backup (leaving for CloudNativePG),
 * zstd and lz4 round trips through our restore, a backup killed mid-way, a backup from the standby, bad input.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { ListPartsCommand } from '@aws-sdk/client-s3';
import { ClusterHarness, eventually, query, sleep } from '../support/cluster-harness';
import { PG_BIN, podUser, tempDir } from '../support/pod-runner';
import { S3Endpoint, createBucket, deleteBucketRecursive, ensureS3, listKeys, s3For, uniqueBucketName } from '../support/s3';
import {
  barmanWalRestoreScript,
  logLines,
  removeScripts,
  runAgent,
  startRestored,
  storeEnv,
  storeEnvRewrite,
  waitPromoted,
  walFetchScript,
} from '../support/backup';
import { restoreBaseBackup } from '../../agent/src/restore/base-backup';
import { listMultipartUploads } from '../../agent/src/s3/objects';
import { STALE_AFTER_MS } from '../../agent/src/basebackup/heartbeat';
import { readStoreConfig } from '../../agent/src/store/config';
import { PATHS } from '../../lib/contract';

jest.setTimeout(600000);
const run = promisify(execFile);

const CLUSTER = 'keycloak-pg-cluster';
const STORE_SECRET = 'rook-ceph-object-user-rgw-bulk-cnpg-backup-keycloak';
const CRON = `${CLUSTER}-backup`;
const IMMEDIATE = `${CLUSTER}-backup-initial`;

describe('pg-agent backup e2e (keycloak from dist/, Ceph RGW)', () => {
  const h = new ClusterHarness('keycloak.k8s.yaml', CLUSTER, { podRoot: true });
  const bucket = uniqueBucketName('backup');
  let ep: S3Endpoint;
  let su: string;
  const cleanup: string[] = [];
  const figures: string[] = [];
  const env = () => storeEnv(ep, bucket, CLUSTER);
  const primary = () => h.direct(0, 'postgres', su, 'keycloak');
  /** `pg-agent list --json` with the store env of the manifests (mapped to the test S3). */
  const list = async (): Promise<any[]> => {
    const r = await runAgent(['list', '--json'], env());
    if (r.code !== 0) throw new Error(`list exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  /** Runs the CronJob's pod; returns the process and the backup's id and figures from its log. */
  const backup = async (rewrite?: (name: string, value: string) => string) => {
    const started = Date.now();
    const p = await h.runJob(CRON, undefined, { rewriteEnv: rewrite });
    const code = await p.exited;
    if (code !== 0) throw new Error(`backup exited ${code}:\n${p.lines.slice(-15).join('\n')}`);
    const done = p.logs().find(l => l.msg === 'backup complete (backup.info DONE)');
    return { p, id: done.backupId as string, done, seconds: (Date.now() - started) / 1000 };
  };
  const rows = async (conn: Parameters<typeof query>[0]) =>
    (await query(conn, 'SELECT count(*)::int AS n, sum(aid)::bigint AS s FROM pgbench_accounts'))[0];

  beforeAll(async () => {
    ep = await ensureS3();
    await createBucket(bucket);
    await h.start();
    // The store's credentials Secret, which the user manages (Rook creates it), holds the test S3 user's keys.
    h.seedSecret(STORE_SECRET, { AccessKey: ep.accessKeyId, SecretKey: ep.secretAccessKey });
    h.rewriteEnv = storeEnvRewrite(ep.endpoint, bucket);
    expect(await (await h.runSecretsJob()).exited).toBe(0);
    su = h.secretData(`${CLUSTER}-superuser`)!.password;
  });
  afterAll(async () => {
    // eslint-disable-next-line no-console
    if (figures.length) console.log(`[backup figures]\n${figures.join('\n')}`);
    await h.stop();
    for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
    removeScripts();
    await deleteBucketRecursive(bucket);
  });

  /** Starts PostgreSQL on a restored directory with wal-fetch as restore_command: every row and the marker are back. */
  async function expectRecovered(target: string, expected: unknown, marker: string): Promise<void> {
    const server = await startRestored(target, walFetchScript(env()));
    try {
      await waitPromoted(server, 'postgres', su);
      const conn = { host: '127.0.0.1', port: server.port, user: 'postgres', password: su, database: 'keycloak' };
      expect(await rows(conn)).toEqual(expected);
      expect((await query(conn, 'SELECT note FROM marker')).map(r => r.note)).toContain(marker);
    } finally {
      await server.stop();
    }
  }
  test('the immediate Job starts with the cluster, waits for it with a clear log line, then backs it up', async () => {
    const job = h.startJob(IMMEDIATE);
    await job.waitForLog(l => l.msg === 'waiting for the backup source to accept replication connections', 30000);
    h.startInstance(0);
    h.startInstance(1);
    await h.waitReady(0, 120000);
    await h.waitReady(1, 120000);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      job.exited,
      new Promise(r => {
        timer = setTimeout(() => r('still running'), 180000);
      }),
    ]);
    clearTimeout(timer);
    if (code !== 0) {
      throw new Error(
        `the immediate Job: ${code}:\n${job.lines.slice(-12).join('\n')}\ninstance 0:\n${h.pods[0].process!.lines.slice(-12).join('\n')}`,
      );
    }
    const logs = job.logs();
    expect(logs.find(l => l.msg === 'backup source is up')).toBeDefined();
    expect(logs.find(l => l.msg === 'backup complete (backup.info DONE)')).toBeDefined();
    for (const line of job.lines) expect(() => JSON.parse(line)).not.toThrow();
    expect(job.lines.join('\n')).not.toContain(h.secretData(`${CLUSTER}-replication`)!.password);
    // Data for the next backups: pgbench at scale 10 (about 160 MB of PGDATA).
    const pgEnv = {
      ...process.env,
      PGPASSWORD: su,
      PGHOST: '127.0.0.1',
      PGPORT: String(h.pods[0].pgPort),
      PGUSER: 'postgres',
      PGDATABASE: 'keycloak',
    };
    await run(path.join(PG_BIN, 'pgbench'), ['-i', '-s', '10', '-q'], { env: pgEnv });
    await query(primary(), 'CREATE TABLE marker (note text)');
  });

  test("the CronJob's pod backs up (gzip); list --json shows it DONE with sane LSNs and sizes; barman layout keys", async () => {
    const { p, id, done, seconds } = await backup();
    // From a primary, pg_basebackup without -X lets the server hold the backup until its last WAL segment is
    // archived (our archive_command acks only once the segment is in S3): the WAL check finds it there at once.
    expect(p.logs().some(l => l.msg === 'the server held the backup until its last WAL segment was archived')).toBe(true);
    expect(p.logs().some(l => /waiting for the primary to archive/.test(l.msg ?? ''))).toBe(false);
    const backups = await list();
    const b = backups.find(x => x.backupId === id);
    expect(b).toMatchObject({ status: 'DONE', complete: true, timeline: 1, compression: 'gzip', writer: 'pg-agent' });
    const lsn = (s: string) => BigInt(`0x${s.split('/')[0]}`) * 2n ** 32n + BigInt(`0x${s.split('/')[1]}`);
    expect(lsn(b.endLsn)).toBeGreaterThan(lsn(b.beginLsn));
    expect(b.beginWal).toMatch(/^00000001[0-9A-F]{16}$/);
    expect(b.endWal >= b.beginWal).toBe(true);
    expect(b.size).toBeGreaterThan(100 * 1024 * 1024);
    expect(b.storedSize).toBeLessThan(b.size / 3);
    expect(backups.filter(x => x.complete)).toHaveLength(2); // the immediate Job's and this one
    const keys = await listKeys(bucket, `${CLUSTER}/base/${id}/`);
    expect(keys).toEqual([`${CLUSTER}/base/${id}/backup.info`, `${CLUSTER}/base/${id}/data.tar.gz`]);
    const wals = await listKeys(bucket, `${CLUSTER}/wals/`);
    expect(wals).toContain(`${CLUSTER}/wals/${b.beginWal.slice(0, 16)}/${b.beginWal}.gz`);
    expect(wals).toContain(`${CLUSTER}/wals/${b.endWal.slice(0, 16)}/${b.endWal}.gz`);
    // barman-cloud lists it too, with its own parser of backup.info.
    const barmanEnv = { ...process.env, AWS_ACCESS_KEY_ID: ep.accessKeyId, AWS_SECRET_ACCESS_KEY: ep.secretAccessKey };
    const { stdout } = await run(
      'barman-cloud-backup-list',
      ['--cloud-provider', 'aws-s3', '--endpoint-url', ep.endpoint, '--format', 'json', `s3://${bucket}/`, CLUSTER],
      { env: barmanEnv },
    );
    const listed = JSON.parse(stdout).backups_list.find((x: any) => x.backup_id === id);
    expect(listed).toMatchObject({
      status: 'DONE',
      begin_wal: b.beginWal,
      end_wal: b.endWal,
      begin_xlog: b.beginLsn,
      end_xlog: b.endLsn,
      timeline: 1,
      systemid: b.systemIdentifier,
    });
    figures.push(`gzip: ${seconds.toFixed(1)} s wall (job), PGDATA ${b.size} B, stored ${b.storedSize} B (${b.ratio}x), backup ${done.seconds} s`);
  });

  test('barman-cloud-restore restores our gzip backup; PostgreSQL recovers with barman-cloud-wal-restore and has the rows', async () => {
    await query(primary(), "INSERT INTO marker VALUES ('before the barman-compatible backup')");
    const expected = await rows(primary());
    const { id } = await backup();
    const dir = tempDir('barman-restore', podUser());
    cleanup.push(dir);
    const target = path.join(dir, 'pgdata');
    const barmanEnv = { ...process.env, AWS_ACCESS_KEY_ID: ep.accessKeyId, AWS_SECRET_ACCESS_KEY: ep.secretAccessKey };
    await run('barman-cloud-restore', ['--cloud-provider', 'aws-s3', '--endpoint-url', ep.endpoint, `s3://${bucket}/`, CLUSTER, id, target], {
      env: barmanEnv,
    });
    expect(fs.existsSync(path.join(target, 'backup_label'))).toBe(true);
    const server = await startRestored(target, barmanWalRestoreScript(ep, bucket, CLUSTER));
    try {
      await waitPromoted(server, 'postgres', su);
      const conn = { host: '127.0.0.1', port: server.port, user: 'postgres', password: su, database: 'keycloak' };
      expect(await rows(conn)).toEqual(expected);
      expect(await query(conn, 'SELECT note FROM marker')).toEqual([{ note: 'before the barman-compatible backup' }]);
    } finally {
      await server.stop();
    }
  });

  for (const compression of ['zstd', 'lz4'] as const) {
    test(`a ${compression} backup round-trips through our restore and PostgreSQL recovers with wal-fetch`, async () => {
      await query(primary(), 'INSERT INTO marker VALUES ($1)', [compression]);
      const expected = await rows(primary());
      const { id, done, seconds } = await backup((name, value) => (name === 'PGC_BACKUP_COMPRESSION' ? compression : value));
      const keys = await listKeys(bucket, `${CLUSTER}/base/${id}/`);
      expect(keys).toEqual([`${CLUSTER}/base/${id}/backup.info`, `${CLUSTER}/base/${id}/data.tar.${compression === 'zstd' ? 'zst' : 'lz4'}`]);
      const b = (await list()).find(x => x.backupId === id);
      expect(b).toMatchObject({ status: 'DONE', compression });
      const dir = tempDir(`restore-${compression}`, podUser());
      cleanup.push(dir);
      const target = path.join(dir, 'pgdata');
      const s3 = await s3For(bucket);
      try {
        const restored = await restoreBaseBackup(s3, readStoreConfig(env()), id, target);
        expect(restored.objects).toEqual([expect.objectContaining({ compression, verified: 'sha256' })]);
        expect(restored.bytes).toBeGreaterThan(100 * 1024 * 1024);
        figures.push(
          `${compression}: ${seconds.toFixed(1)} s wall (job), PGDATA ${b.size} B, stored ${b.storedSize} B (${b.ratio}x), backup ${done.seconds} s; our restore ${restored.seconds.toFixed(1)} s`,
        );
      } finally {
        s3.destroy();
      }
      await expectRecovered(target, expected, compression);
    });
  }

  test('barman-cloud-backup of the running primary lands next to ours: listed, and restored by our code path', async () => {
    await query(primary(), "INSERT INTO marker VALUES ('barman into our folder')");
    const expected = await rows(primary());
    const barmanEnv = { AWS_ACCESS_KEY_ID: ep.accessKeyId, AWS_SECRET_ACCESS_KEY: ep.secretAccessKey, PGPASSWORD: su };
    // Run in the primary's pod (its root, user and env), as CloudNativePG's instance manager runs it next to PGDATA.
    const argv = [
      'barman-cloud-backup',
      '--cloud-provider',
      'aws-s3',
      '--endpoint-url',
      ep.endpoint,
      '-h',
      '127.0.0.1',
      '-p',
      String(h.pods[0].pgPort),
      '-U',
      'postgres',
      '--immediate-checkpoint',
      '--gzip',
      `s3://${bucket}/`,
      CLUSTER,
    ];
    if (h.podRoot) {
      const r = await h.podRoot.exec(h.statefulSet, h.pods[0].process!.child.pid!, argv, barmanEnv);
      if (r.code !== 0) throw new Error(`barman-cloud-backup in the pod exited ${r.code}:\n${r.stderr}`);
    } else await run(argv[0], argv.slice(1), { env: { ...process.env, ...barmanEnv } });
    const b = (await list()).filter(x => x.writer === 'barman-cloud').pop();
    expect(b).toMatchObject({ status: 'DONE', complete: true, compression: 'gzip', timeline: 1 });
    // barman does not wait for the archive: let our archiver store the WAL up to its end before recovering.
    await eventually(async () => {
      const [a] = await query(h.direct(0, 'postgres', su, 'postgres'), 'SELECT last_archived_wal AS w FROM pg_stat_archiver');
      if (!(a.w >= b.endWal)) throw new Error(`archived up to ${a.w}`);
    }, 60000);
    const target = path.join(tempDir('restore-barman-ours', podUser()), 'pgdata');
    cleanup.push(path.dirname(target));
    const s3 = await s3For(bucket);
    try {
      const restored = await restoreBaseBackup(s3, readStoreConfig(env()), b.backupId, target);
      expect(restored.backup.writer).toBe('barman-cloud');
    } finally {
      s3.destroy();
    }
    await expectRecovered(target, expected, 'barman into our folder');
  });

  test('a backup killed mid-upload (SIGKILL) is never listed DONE; a later run removes its leftovers', async () => {
    const s3 = await s3For(bucket);
    try {
      // Uncompressed, so that parts reach S3 early and the copy takes a few seconds more.
      const p = h.startJob(CRON, undefined, { rewriteEnv: (name, value) => (name === 'PGC_BACKUP_COMPRESSION' ? 'none' : value) });
      const started = await p.waitForLog(l => l.msg === 'backup starting', 60000);
      const killedId: string = started.backupId;
      await eventually(
        async () => {
          const [u] = await listMultipartUploads(s3, `${CLUSTER}/base/${killedId}/`);
          if (!u) throw new Error('no upload yet');
          const parts = await s3.client.send(new ListPartsCommand({ Bucket: bucket, Key: u.key, UploadId: u.uploadId }));
          if (!(parts.Parts ?? []).length) throw new Error('no part yet');
        },
        60000,
        50,
      );
      p.kill('SIGKILL');
      await p.exited;
      expect(p.logs().some(l => l.msg === 'backup complete (backup.info DONE)')).toBe(false);
      const killed = (await list()).find(x => x.backupId === killedId);
      expect(killed).toMatchObject({ status: 'STARTED', complete: false });
      expect(await listKeys(bucket, `${CLUSTER}/base/${killedId}/`)).toEqual([`${CLUSTER}/base/${killedId}/backup.info`]);
      expect(await listMultipartUploads(s3, `${CLUSTER}/base/${killedId}/`)).toHaveLength(1);
      const doneBefore = (await list()).filter(x => x.complete).map(x => x.backupId);

      // Right away, the killed backup still looks alive (its heartbeat is recent): the next run leaves it alone.
      const soon = await backup();
      expect(soon.p.logs().some(l => l.backupId === killedId && /may still be running/.test(l.msg))).toBe(true);
      // Once its heartbeat is stale, the next run removes the leftovers; DONE backups are untouched.
      await sleep(STALE_AFTER_MS);
      const later = await backup();
      expect(later.p.logs().some(l => l.backupId === killedId && l.msg === 'removed the leftovers of an incomplete backup')).toBe(true);
      expect(await listKeys(bucket, `${CLUSTER}/base/${killedId}/`)).toEqual([]);
      expect(await listMultipartUploads(s3, `${CLUSTER}/base/`)).toEqual([]);
      const after = await list();
      expect(after.find(x => x.backupId === killedId)).toBeUndefined();
      for (const id of doneBefore) expect(after.find(x => x.backupId === id)?.status).toBe('DONE');
    } finally {
      s3.destroy();
    }
  });

  test('from the standby (fromStandby): the standby archives too (archive_mode=always), so the server holds the backup until its end WAL is in S3', async () => {
    const ro = `${h.serviceIps[`${CLUSTER}-ro`]}:5432`;
    // Fresh WAL in an open segment on the primary, replayed by the standby: the backup ends inside that segment.
    await query(primary(), "INSERT INTO marker VALUES ('from the standby')");
    const [{ lsn }] = await query(h.direct(0, 'postgres', su, 'postgres'), 'SELECT pg_current_wal_lsn()::text AS lsn');
    await eventually(async () => {
      const [r] = await query(h.direct(1, 'postgres', su, 'postgres'), 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn]);
      if (!r.ok) throw new Error('standby behind');
    }, 30000);
    const p = h.startJob(CRON, undefined, {
      rewriteEnv: (name, value) => (name === 'PGC_BACKUP_FROM_STANDBY' ? 'true' : name === 'PGC_BACKUP_SOURCE_HOST' ? ro : value),
    });
    // The end segment is still open on the primary: the standby has it complete (and archives it) once the primary
    // switches, at archive_timeout (5 min); switches on the primary spare the test the wait.
    let exited = false;
    const code = p.exited.finally(() => {
      exited = true;
    });
    while (!exited) {
      await sleep(2000);
      if (exited) break;
      await query(primary(), "INSERT INTO marker VALUES ('switch')");
      await query(h.direct(0, 'postgres', su, 'postgres'), 'SELECT pg_switch_wal()');
    }
    if ((await code) !== 0) throw new Error(`backup from the standby exited ${await code}:\n${p.lines.slice(-15).join('\n')}`);
    const done = p.logs().find(l => l.msg === 'backup complete (backup.info DONE)');
    expect(p.logs().find(l => l.msg === 'backup source ready')).toMatchObject({ standby: true });
    expect(p.logs().some(l => l.msg === 'the server held the backup until its last WAL segment was archived')).toBe(true);
    const s3 = await s3For(bucket);
    try {
      const { readBackupInfo } = await import('../../agent/src/catalog/catalog');
      const info = await readBackupInfo(s3, readStoreConfig(env()), done.backupId);
      expect(info).toMatchObject({
        status: 'DONE',
        copyStats: expect.objectContaining({ backup_from: 'standby', server_waited_for_wal_archive: true }),
      });
      expect(info!.backupLabel).toContain('BACKUP FROM: standby');
    } finally {
      s3.destroy();
    }
  });

  test('bad input at run time: wrong S3 keys or a missing bucket fail fast with one clear line, and store nothing', async () => {
    const before = (await list()).map(x => `${x.backupId}:${x.status}`);
    const cases: Array<[string, (n: string, v: string) => string, RegExp]> = [
      ['wrong secret key', (n, v) => (n === 'AWS_SECRET_ACCESS_KEY' ? 'not-the-secret' : v), /SignatureDoesNotMatch|secret access key is wrong/],
      ['unknown access key', (n, v) => (n === 'AWS_ACCESS_KEY_ID' ? 'NOSUCHKEY123' : v), /InvalidAccessKeyId|does not know this access key/],
      ['missing bucket', (n, v) => (n === 'PGC_S3_BUCKET' ? `${bucket}-missing` : v), /bucket "[^"]+-missing" does not exist/],
    ];
    for (const [what, rewrite, message] of cases) {
      const started = Date.now();
      const p = await h.runJob(CRON, undefined, { rewriteEnv: rewrite });
      expect({ what, code: await p.exited }).toEqual({ what, code: 2 });
      expect(Date.now() - started).toBeLessThan(30000);
      const errors = p.logs().filter(l => l.level === 'error' || l.level === 'fatal');
      expect(errors).toHaveLength(1);
      expect(errors[0].msg).toMatch(message);
      expect(errors[0].fix).toBeTruthy();
    }
    expect((await list()).map(x => `${x.backupId}:${x.status}`)).toEqual(before);
    const bad = await runAgent(['list', '--json'], { ...env(), PGC_S3_BUCKET: `${bucket}-missing` });
    expect(bad.code).toBe(2);
    expect(logLines(bad.stderr).filter(l => l.level === 'error')[0].msg).toMatch(/does not exist/);
  });

  test('a database with an extra tablespace is refused with one clear line (one tar on stdout holds one tablespace)', async () => {
    // On the data volume, outside PGDATA: in a pod root, as in a real pod, that is where a tablespace can live.
    const tbs = path.join(h.pods[0].dataDir, 'tablespace-extra');
    fs.mkdirSync(tbs, { mode: 0o700 });
    if (h.user) fs.chownSync(tbs, h.user.uid, h.user.gid);
    cleanup.push(tbs);
    const admin = h.direct(0, 'postgres', su, 'postgres');
    await query(admin, `CREATE TABLESPACE extra LOCATION '${h.podRoot ? path.posix.join(PATHS.dataMount, 'tablespace-extra') : tbs}'`);
    try {
      const p = await h.runJob(CRON);
      expect(await p.exited).toBe(2);
      const errors = p.logs().filter(l => l.level === 'error');
      expect(errors).toHaveLength(1);
      expect(errors[0].msg).toMatch(/pg_basebackup failed .*can only write single tablespace to stdout/);
      expect(errors[0].fix).toMatch(/tablespaces/);
      const failed = (await list()).pop();
      expect(failed).toMatchObject({ status: 'FAILED', complete: false, error: expect.stringMatching(/single tablespace/) });
      expect(await listKeys(bucket, `${CLUSTER}/base/${failed.backupId}/`)).toEqual([`${CLUSTER}/base/${failed.backupId}/backup.info`]);
    } finally {
      await query(admin, 'DROP TABLESPACE extra');
    }
  });

  test('fromStandby with no standby answering falls back to the primary, saying so', async () => {
    h.pods[1].process!.kill('SIGTERM');
    expect(await h.pods[1].process!.exited).toBe(0);
    const ro = `${h.serviceIps[`${CLUSTER}-ro`]}:5432`;
    const p = await h.runJob(CRON, undefined, {
      rewriteEnv: (name, value) => (name === 'PGC_BACKUP_FROM_STANDBY' ? 'true' : name === 'PGC_BACKUP_SOURCE_HOST' ? ro : value),
    });
    expect(await p.exited).toBe(0);
    expect(p.logs().find(l => l.msg === 'no standby answers on the read-only Service; taking the backup from the primary')).toMatchObject({
      standby: ro,
    });
    expect(p.logs().find(l => l.msg === 'backup source ready')).toMatchObject({ standby: false });
    expect(p.logs().some(l => l.msg === 'the server held the backup until its last WAL segment was archived')).toBe(true);
  });

  test('the store holds nothing but the barman layout and our identity file', async () => {
    const keys = await listKeys(bucket, '');
    const unexpected = keys.filter(
      k =>
        !new RegExp(
          `^${CLUSTER}/(identity\\.json|wals/(0{7}[0-9A-F]\\.history|[0-9A-F]{16}/[0-9A-F]{24}(\\.[0-9A-F]{8}\\.backup)?\\.gz)|base/\\d{8}T\\d{6}/(backup\\.info|data\\.tar(\\.gz|\\.zst|\\.lz4)?))$`,
        ).test(k),
    );
    expect(unexpected).toEqual([]);
  });
});
