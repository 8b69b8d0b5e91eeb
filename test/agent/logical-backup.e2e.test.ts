/**
 * Issue 18, logical backups and single-database restore, on dist/shared-apps (shared-pg: 3 databases) with the real
 * Ceph RGW: the LogicalBackup CronJob of the manifest dumps all three; `pg-agent restore-database` restores one into a
 * new name with the dump's row count while the others keep theirs; a DatabaseRestore Job (synthesized for the same
 * cluster) replaces an existing empty database and keeps it aside; an existing target is refused without the flags;
 * a damaged dump is refused by its checksum before anything is created; retention keeps exactly the expected dumps.
 */
import { createHash } from 'crypto';
import { Chart, Size, Testing } from 'cdk8s';
import { BackupStore, DatabaseRestore, PostgresCluster } from '../../lib';
import { LOGICAL_ENV, LOGICAL_FORMAT, LogicalBackupMeta, backupIdFor } from '../../lib/contract';
import { getObjectBuffer, putObject } from '../../agent/src/s3/objects';
import type { S3Bucket } from '../../agent/src/s3/client';
import { ClusterHarness, query } from '../support/cluster-harness';
import { KubeObject } from '../support/manifests';
import { createBucket, ensureS3, listKeys, s3For, uniqueBucketName } from '../support/s3';
import { storeEnvRewrite } from '../support/backup';

jest.setTimeout(300000);

const STORE_SECRET = 'rook-ceph-object-user-rgw-bulk-cnpg-backup-shared';
const CRON = 'shared-pg-logical-backup';
const ROWS: Record<string, number> = { mastodon: 300, nextcloud: 200, gitea: 100 };
const DAY = 24 * 3600_000;

/** A DatabaseRestore Job for shared-pg as a user's app renders it (the same cluster props that matter: name, databases, store). */
/** The Job of a DatabaseRestore made in the test, with its ServiceAccount's RBAC (read the superuser Secret) applied. */
function restoreJob(h: ClusterHarness, props: { database: string; from: string; into?: string; overwrite?: boolean }): KubeObject {
  const chart = new Chart(Testing.app(), 'restore', { namespace: 'databases' });
  const store = new BackupStore(chart, 'store', {
    endpoint: 'http://rgw.example:80',
    bucket: 'backup-cnpg',
    credentials: { secretName: STORE_SECRET },
  });
  const cluster = new PostgresCluster(chart, 'shared-pg', {
    name: 'shared-pg',
    databases: Object.keys(ROWS).map(name => ({ name, owner: name })),
    storage: { size: Size.gibibytes(1) },
    backup: { store },
  });
  new DatabaseRestore(chart, 'restore', { cluster, ...props });
  const objects = Testing.synth(chart) as KubeObject[];
  h.api.applyRbac(objects);
  return objects.find(o => o.kind === 'Job' && o.metadata.name === 'shared-pg-restore-mastodon')!;
}

describe('logical backups and single-database restore (dist/shared-apps: shared-pg, 3 databases, Ceph RGW)', () => {
  const h = new ClusterHarness('shared-apps.k8s.yaml', 'shared-pg');
  const bucket = uniqueBucketName('logical');
  let s3: S3Bucket;
  let firstId: string;
  let su: string;

  const superuser = (database: string) => ({
    host: h.serviceIps['shared-pg-rw'],
    port: 5432,
    user: 'postgres',
    password: su,
    database,
    connectionTimeoutMillis: 5000,
    ssl: h.clientSsl(),
  });
  const rows = async (database: string) => (await query(superuser(database), 'SELECT count(*)::int AS n FROM items'))[0].n as number;
  const databases = async () => (await query(superuser('postgres'), 'SELECT datname FROM pg_database ORDER BY 1')).map(r => r.datname as string);
  const errorsOf = (p: { logs(): any[] }) => p.logs().filter(l => l.level === 'error' || l.level === 'fatal');
  const meta = async (db: string, id: string) =>
    JSON.parse((await getObjectBuffer(s3, `shared-pg/logical/${db}/${id}.json`))!.toString()) as LogicalBackupMeta;

  beforeAll(async () => {
    const ep = await ensureS3();
    await createBucket(bucket);
    s3 = await s3For(bucket);
    await h.start();
    h.seedSecret(STORE_SECRET, { AccessKey: ep.accessKeyId, SecretKey: ep.secretAccessKey });
    h.rewriteEnv = storeEnvRewrite(ep.endpoint, bucket);
    expect(await (await h.runSecretsJob()).exited).toBe(0);
    h.startInstance(0);
    await h.waitReady(0, 90000);
    su = h.secretData('shared-pg-superuser')!.password;
    for (const [db, n] of Object.entries(ROWS)) {
      const owner = h.connectionFromUri(h.secretData(`shared-pg-${db}-app`)!.uri);
      await query(owner, 'CREATE TABLE items (id int PRIMARY KEY, payload text)');
      await query(owner, `INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, ${n}) g`);
    }
  });
  afterAll(async () => {
    s3?.destroy();
    await h.stop();
  });

  test('the CronJob dumps each of the three databases, metadata written with size, SHA-256 and versions; list --logical shows them', async () => {
    const p = await h.runJob(CRON);
    expect(await p.exited).toBe(0);
    const keys = (await listKeys(bucket, 'shared-pg/logical/')).sort();
    expect(keys).toHaveLength(6);
    firstId = /logical\/gitea\/(\d{8}T\d{6})\.dump$/.exec(keys[0])![1];
    expect(keys).toEqual(
      ['gitea', 'mastodon', 'nextcloud'].flatMap(db => [`shared-pg/logical/${db}/${firstId}.dump`, `shared-pg/logical/${db}/${firstId}.json`]),
    );
    for (const db of Object.keys(ROWS)) {
      const m = await meta(db, firstId);
      const dump = (await getObjectBuffer(s3, m.key))!;
      expect(m).toMatchObject({ format: LOGICAL_FORMAT, backupId: firstId, database: db, owner: db, size: dump.length });
      expect(m.sha256).toBe(createHash('sha256').update(dump).digest('hex'));
      expect(dump.subarray(0, 5).toString()).toBe('PGDMP'); // pg_dump's custom format
      expect(m.serverVersion).toBeGreaterThanOrEqual(150000);
      expect(m.pgDump).toMatch(/^pg_dump \(PostgreSQL\) \d+/);
      expect(Date.parse(m.endTime)).toBeGreaterThanOrEqual(Date.parse(m.startTime));
    }
    const list = await h.runJob(CRON, undefined, { args: ['list', '--logical'] });
    expect(await list.exited).toBe(0);
    for (const db of Object.keys(ROWS)) expect(list.lines.some(l => new RegExp(`^${db} +${firstId} +DONE `).test(l))).toBe(true);
  });

  test("restore-database mastodon --from <id>: a new database with the dump's rows, owned by mastodon; the others untouched", async () => {
    await query(superuser('mastodon'), 'INSERT INTO items SELECT g, md5(g::text) FROM generate_series(301, 350) g');
    const p = await h.runJob(CRON, undefined, { args: ['restore-database', 'mastodon', '--from', firstId] });
    expect(await p.exited).toBe(0);
    const target = `mastodon_restored_${firstId.toLowerCase()}`;
    expect(await databases()).toContain(target);
    expect(await rows(target)).toBe(300);
    const owners = await query(
      superuser(target),
      "SELECT pg_get_userbyid(d.datdba) AS db, (SELECT tableowner FROM pg_tables WHERE tablename = 'items') AS tbl FROM pg_database d WHERE datname = current_database()",
    );
    expect(owners[0]).toEqual({ db: 'mastodon', tbl: 'mastodon' });
    // The owner reads it; another app of the cluster may not even connect, as to the live mastodon.
    const mastodonOwner = h.connectionFromUri(h.secretData('shared-pg-mastodon-app')!.uri);
    expect((await query({ ...mastodonOwner, database: target }, 'SELECT count(*)::int AS n FROM items'))[0].n).toBe(300);
    const nextcloudOwner = h.connectionFromUri(h.secretData('shared-pg-nextcloud-app')!.uri);
    await expect(query({ ...nextcloudOwner, database: target }, 'SELECT 1')).rejects.toThrow(/permission denied for database/);
    expect(await rows('mastodon')).toBe(350);
    expect(await rows('nextcloud')).toBe(200);
    expect(await rows('gitea')).toBe(100);
    expect(p.logs().some(l => l.msg === 'restore-database: dump downloaded, checksum verified')).toBe(true);
    expect(p.logs().some(l => l.msg === 'restore-database: pg_restore finished' && l.of > 0)).toBe(true);
    expect((await databases()).filter(d => d.startsWith('pgc_restoring_'))).toEqual([]);
  });

  test('an existing target is refused without --overwrite, a non-empty one without --discard-existing-data; nothing changes', async () => {
    const before = await databases();
    const again = await h.runJob(CRON, undefined, { args: ['restore-database', 'mastodon', '--from', firstId] });
    expect(await again.exited).toBe(2);
    expect(errorsOf(again)).toHaveLength(1);
    expect(errorsOf(again)[0].msg).toMatch(/exists and --overwrite was not given/);
    const over = await h.runJob(CRON, undefined, {
      args: ['restore-database', 'nextcloud', '--from', firstId, '--into', 'nextcloud', '--overwrite'],
    });
    expect(await over.exited).toBe(2);
    expect(errorsOf(over)[0].msg).toMatch(/database "nextcloud" holds 1 relation\(s\)/);
    expect(errorsOf(over)[0].fix).toMatch(/--discard-existing-data/);
    expect(await databases()).toEqual(before);
    expect(await rows('nextcloud')).toBe(200);
  });

  test('a DatabaseRestore Job (overwrite: true) replaces an existing empty database, which is kept aside', async () => {
    await query(superuser('postgres'), 'CREATE DATABASE mastodon_copy OWNER mastodon');
    const job = restoreJob(h, { database: 'mastodon', from: 'latest', into: 'mastodon_copy', overwrite: true });
    expect(job.spec.template.spec.containers[0].args).toEqual([
      'restore-database',
      'mastodon',
      '--from',
      'latest',
      '--into',
      'mastodon_copy',
      '--overwrite',
    ]);
    // No password in the Job's environment: it reads the superuser Secret through the API, the only Secret it may get.
    expect(JSON.stringify(job.spec.template.spec.containers[0].env)).not.toMatch(/"key":"password"/);
    const p = await h.runJob(job);
    expect(await p.exited).toBe(0);
    expect(await rows('mastodon_copy')).toBe(300);
    const aside = (await databases()).filter(d => d.startsWith('mastodon_copy_before_'));
    expect(aside).toHaveLength(1);
  });

  test('--overwrite --discard-existing-data takes a live database back to the dump; the replaced one is kept, the app reconnects', async () => {
    await query(superuser('nextcloud'), 'INSERT INTO items SELECT g, md5(g::text) FROM generate_series(201, 220) g');
    const p = await h.runJob(CRON, undefined, {
      args: ['restore-database', 'nextcloud', '--from', firstId, '--into', 'nextcloud', '--overwrite', '--discard-existing-data'],
    });
    expect(await p.exited).toBe(0);
    expect(await rows('nextcloud')).toBe(200);
    const aside = (await databases()).filter(d => d.startsWith('nextcloud_before_'));
    expect(aside).toHaveLength(1);
    expect(await rows(aside[0])).toBe(220);
    const app = h.connectionFromUri(h.secretData('shared-pg-nextcloud-app')!.uri);
    expect((await query(app, 'SELECT count(*)::int AS n FROM items'))[0].n).toBe(200);
    expect(await rows('mastodon')).toBe(350);
    expect(await rows('gitea')).toBe(100);
  });

  test('a damaged dump is refused by its checksum before anything is created', async () => {
    const key = `shared-pg/logical/gitea/${firstId}.dump`;
    const dump = (await getObjectBuffer(s3, key))!;
    const damaged = Buffer.from(dump);
    damaged[Math.floor(damaged.length / 2)] ^= 0xff;
    await putObject(s3, key, damaged);
    const before = await databases();
    const p = await h.runJob(CRON, undefined, { args: ['restore-database', 'gitea', '--from', firstId] });
    expect(await p.exited).toBe(2);
    const errors = errorsOf(p);
    expect(errors).toHaveLength(1);
    expect(errors[0].msg).toContain(`the dump ${key} is damaged`);
    expect(errors[0].msg).toMatch(/sha256 [0-9a-f]{64}, its metadata says [0-9a-f]{64}; nothing was restored/);
    expect(await databases()).toEqual(before);
    expect(await rows('gitea')).toBe(100);
  });

  test('retention (recovery window 7d) keeps exactly the dumps the window needs, in every database folder', async () => {
    // Older complete dumps of nextcloud, as earlier nights would have left them.
    const now = Date.now();
    const seeded = [2, 5, 9, 12, 30].map(days => backupIdFor(new Date(now - days * DAY)));
    for (const id of seeded) {
      const end = new Date(Date.parse(id.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})$/, '$1-$2-$3T$4:$5:$6Z')) + 60_000);
      const body = Buffer.from(`dump ${id}`);
      const key = `shared-pg/logical/nextcloud/${id}.dump`;
      await putObject(s3, key, body);
      const m: LogicalBackupMeta = {
        format: LOGICAL_FORMAT,
        backupId: id,
        database: 'nextcloud',
        owner: 'nextcloud',
        key,
        size: body.length,
        sha256: createHash('sha256').update(body).digest('hex'),
        serverVersion: 150000,
        pgDump: 'pg_dump (PostgreSQL) 15',
        startTime: new Date(end.getTime() - 60_000).toISOString(),
        endTime: end.toISOString(),
      };
      await putObject(s3, `shared-pg/logical/nextcloud/${id}.json`, Buffer.from(JSON.stringify(m)));
    }
    // The manifest's rule ({ recoveryWindow: '7d', weekly: 4, monthly: 6 }) depends on the calendar; the window alone does not.
    const p = await h.runJob(CRON, undefined, { extraEnv: { [LOGICAL_ENV.retention]: JSON.stringify({ recoveryWindow: '7d' }) } });
    expect(await p.exited).toBe(0);
    const ids = async (db: string) =>
      [...new Set((await listKeys(bucket, `shared-pg/logical/${db}/`)).map(k => /(\d{8}T\d{6})\.(dump|json)$/.exec(k)![1]))].sort();
    const newId = (await ids('gitea')).find(id => id !== firstId)!;
    expect(newId > firstId).toBe(true);
    // Kept: today's two runs, 2 and 5 days old (inside the window), 9 days old (the newest before the window starts).
    expect(await ids('nextcloud')).toEqual([seeded[2], seeded[1], seeded[0], firstId, newId]);
    // Each kept dump still has both objects.
    expect((await listKeys(bucket, 'shared-pg/logical/nextcloud/')).length).toBe(10);
    expect(await ids('mastodon')).toEqual([firstId, newId]);
    expect(await ids('gitea')).toEqual([firstId, newId]);
    const kept = p.logs().find(l => l.database === 'nextcloud' && /keeps 5 dump/.test(l.msg ?? ''));
    expect(kept).toBeDefined();
  });

  test("kubectl exec <primary> -- pg-agent restore-database: the agent's own socket login, no password needed", async () => {
    const p = await h.execInPod(0, ['restore-database', 'gitea', '--from', 'latest', '--into', 'gitea_from_exec']);
    expect(await p.exited).toBe(0);
    expect(await rows('gitea_from_exec')).toBe(100);
    expect(await rows('gitea')).toBe(100);
  });
});
