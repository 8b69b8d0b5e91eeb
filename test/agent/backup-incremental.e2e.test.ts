/**
 * Issue 17, block-level incremental backups, on a cluster this test synthesizes with `backup.incremental`
 * (1 instance, zstd): the backup CronJob's pod (the manifest's command, args and env) runs once per "day" while
 * the data changes between the runs: day 0 a full backup, then incrementals after updates and inserts; deletes,
 * a TRUNCATE and a new table; a DROP TABLE and a VACUUM FULL; more updates. Then:
 * - each day's backup, restored into a fresh directory and recovered to its own end (recovery_target immediate),
 *   holds exactly what the source held when it was taken (rows and a hash of every row, per table), and
 *   pg_amcheck finds nothing wrong on it (heap and every btree index);
 * - the incrementals store a small part of what the full stores;
 * - with one link's data deleted, the restore of a later incremental is refused naming the missing object, before
 *   anything is written, and the next scheduled backup is a full one.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { incrementalLayout } from '../../lib/contract';
import { restoreBaseBackup } from '../../agent/src/restore/base-backup';
import { deleteObject } from '../../agent/src/s3/objects';
import { readStoreConfig } from '../../agent/src/store/config';
import { ClusterHarness, query } from '../support/cluster-harness';
import { PG_BIN, podUser, tempDir } from '../support/pod-runner';
import { removeScripts, runAgent, startRestored, storeEnv, storeEnvRewrite, waitPromoted, walFetchScript } from '../support/backup';
import { S3Endpoint, createBucket, deleteBucketRecursive, ensureS3, s3For, uniqueBucketName } from '../support/s3';
import { STORE_SECRET, synthWithStore } from '../support/synth';

jest.setTimeout(900000);
const run = promisify(execFile);

const NAME = 'incr-pg';
const synth = () => synthWithStore(NAME, { instances: 1, backup: { schedule: '0 3 * * *', compression: 'zstd', incremental: { fullEvery: '7d' } } });

/** Per table: rows and a hash of all rows (order-independent). */
type State = Record<string, { n: number; h: string }>;

describe('block-level incremental backups: a chain over several days', () => {
  const h = new ClusterHarness(synth(), NAME);
  const bucket = uniqueBucketName('incr');
  let ep: S3Endpoint;
  let su: string;
  const env = () => storeEnv(ep, bucket, NAME, { PGC_BACKUP_COMPRESSION: 'zstd' });
  const figures: string[] = [];
  const cleanup: string[] = [];
  const days: Array<{ id: string; kind: string; stored: number; size: number; state: State }> = [];
  const db = () => h.direct(0, 'postgres', su, 'app');
  const sql = (text: string) => query(db(), text);

  async function state(conn: Parameters<typeof query>[0]): Promise<State> {
    const tables = (await query(conn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).map(r => r.tablename as string);
    const out: State = {};
    for (const t of tables) {
      const [r] = await query(conn, `SELECT count(*)::int AS n, coalesce(sum(hashtext(x::text)::bigint), 0)::text AS h FROM ${t} x`);
      out[t] = { n: r.n, h: r.h };
    }
    return out;
  }

  /** One run of the CronJob's pod; the backup's id, kind and stored bytes from its last log line. */
  async function backupDay(): Promise<void> {
    const before = await state(db());
    const p = await h.runJob(`${NAME}-backup`);
    const code = await p.exited;
    if (code !== 0) throw new Error(`backup exited ${code}:\n${p.lines.slice(-15).join('\n')}`);
    const logs = p.logs();
    const done = logs.find(l => /^backup complete/.test(l.msg));
    const kind = logs.find(l => l.msg === 'backup kind chosen')?.kind ?? 'full';
    expect(await state(db())).toEqual(before); // nothing wrote meanwhile: the backup's end is this state
    days.push({ id: done.backupId, kind, stored: Number(done.storedBytes), size: Number(done.sizeBytes), state: before });
    figures.push(`day ${days.length - 1}: ${kind} ${done.backupId}, source ${done.sizeBytes} B, stored ${done.storedBytes} B`);
    // barman's ids have a one-second resolution.
    await new Promise(r => setTimeout(r, 1100));
  }

  /** The database CREATE DATABASE … STRATEGY FILE_COPY made on day 1 (its pages carry the template's old LSNs). */
  let copiedState: State | undefined;

  async function restoreAndCheck(id: string, expected: State, copied?: State): Promise<void> {
    const target = path.join(tempDir('incr-restore', podUser()), 'pgdata');
    cleanup.push(path.dirname(target));
    const s3 = await s3For(bucket);
    try {
      await restoreBaseBackup(s3, readStoreConfig(env()), id, target);
    } finally {
      s3.destroy();
    }
    // Recover to the end of this backup, not to the end of the archive: the state of that day.
    fs.appendFileSync(path.join(target, 'postgresql.conf'), "\nrecovery_target = 'immediate'\nrecovery_target_action = 'promote'\n");
    const server = await startRestored(target, walFetchScript(env()));
    try {
      await waitPromoted(server, 'postgres', su);
      const conn = { host: '127.0.0.1', port: server.port, user: 'postgres', password: su, database: 'app' };
      expect(await state(conn)).toEqual(expected);
      if (copied) expect(await state({ ...conn, database: 'copied' })).toEqual(copied);
      const check = await run(
        path.join(PG_BIN, 'pg_amcheck'),
        ['-h', '127.0.0.1', '-p', String(server.port), '-U', 'postgres', '--all', '--install-missing', '--heapallindexed'],
        { env: { ...process.env, PGPASSWORD: su }, maxBuffer: 16 * 1024 * 1024 },
      ).then(
        r => ({ code: 0, out: r.stdout + r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
      );
      expect(check).toEqual({ code: 0, out: '' });
    } finally {
      await server.stop();
    }
  }

  beforeAll(async () => {
    ep = await ensureS3();
    await createBucket(bucket);
    h.rewriteEnv = storeEnvRewrite(ep.endpoint, bucket);
    await h.start();
    h.seedSecret(STORE_SECRET, { AccessKey: ep.accessKeyId, SecretKey: ep.secretAccessKey });
    expect(await (await h.runSecretsJob()).exited).toBe(0);
    h.startInstance(0);
    await h.waitReady(0, 120000);
    su = h.secretData(`${NAME}-superuser`)!.password;
  });
  afterAll(async () => {
    // eslint-disable-next-line no-console
    if (figures.length) console.log(`[incremental backups]\n${figures.join('\n')}`);
    await h.stop();
    removeScripts();
    for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
    await deleteBucketRecursive(bucket).catch(() => undefined);
  });

  test('a full backup, then incrementals over days of changes; each much smaller than the full', async () => {
    // Day 0: about 60 MB of tables with indexes.
    await sql('CREATE TABLE accounts (id int PRIMARY KEY, balance int, pad text) WITH (fillfactor = 90)');
    await sql('INSERT INTO accounts SELECT g, 0, md5(g::text) || md5((-g)::text) || md5((g * 7)::text) FROM generate_series(1, 300000) g');
    await sql('CREATE TABLE history (id bigserial PRIMARY KEY, account int, delta int, at timestamptz DEFAULT now())');
    await sql('CREATE TABLE scratch (id int, pad text)');
    await sql("INSERT INTO scratch SELECT g, repeat('s', 200) FROM generate_series(1, 20000) g");
    await sql('CREATE TABLE doomed (id int PRIMARY KEY, pad text)');
    await sql("INSERT INTO doomed SELECT g, repeat('d', 200) FROM generate_series(1, 20000) g");
    await sql('CREATE TABLE bloated (id int PRIMARY KEY, pad text)');
    await sql("INSERT INTO bloated SELECT g, repeat('b', 200) FROM generate_series(1, 30000) g");
    // Hint bits and the visibility map set now, as on a database that has been running a while (else the first reads
    // and the first VACUUM after the full backup change every page once).
    await sql('VACUUM (FREEZE, ANALYZE)');
    // A template database whose pages are old by the time it is copied, after the full backup.
    await sql('CREATE DATABASE tmpl');
    const tmpl = h.direct(0, 'postgres', su, 'tmpl');
    await query(tmpl, 'CREATE TABLE kept (id int PRIMARY KEY, v text)');
    await query(tmpl, 'INSERT INTO kept SELECT g, md5(g::text) FROM generate_series(1, 5000) g');
    await query(tmpl, 'VACUUM (FREEZE, ANALYZE)');
    await sql('CHECKPOINT');
    await backupDay();
    expect(days[0].kind).toBe('full');

    // Day 1: a small change: 1% of the accounts (the recent ones: a change spread over every page changes every page), some history.
    await sql('UPDATE accounts SET balance = balance + 7 WHERE id > 297000');
    await sql('INSERT INTO history (account, delta) SELECT g * 100, 7 FROM generate_series(1, 3000) g');
    // FILE_COPY copies the template's files as they are: relation files new since the full, with LSNs older than its
    // start. The full's relation-files.json tells the incremental to store them whole.
    await sql('CREATE DATABASE copied TEMPLATE tmpl STRATEGY FILE_COPY');
    copiedState = await state(h.direct(0, 'postgres', su, 'copied'));
    expect(copiedState.kept.n).toBe(5000);
    await backupDay();
    // Day 2: deletes, a TRUNCATE, a new table.
    await sql('DELETE FROM accounts WHERE id > 290000');
    await sql('TRUNCATE scratch');
    await sql('CREATE TABLE newcomer AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 5000) g');
    await backupDay();
    // Day 3: a DROP TABLE and a VACUUM FULL (a new relfilenode; the old file goes).
    await sql('DROP TABLE doomed');
    await sql('DELETE FROM bloated WHERE id % 2 = 0');
    await sql('VACUUM FULL bloated');
    await backupDay();
    // Day 4: updates again, and a plain VACUUM (visibility map, free space map).
    await sql('UPDATE accounts SET balance = balance - 1 WHERE id BETWEEN 100000 AND 103000');
    await sql('VACUUM accounts');
    await backupDay();

    expect(days.map(d => d.kind)).toEqual(['full', 'incremental', 'incremental', 'incremental', 'incremental']);
    const full = days[0].stored;
    for (const d of days.slice(1)) expect(d.stored).toBeLessThan(0.3 * full);
    figures.push(
      `stored vs the full: ${days
        .slice(1)
        .map(d => `${((100 * d.stored) / full).toFixed(1)}%`)
        .join(', ')}`,
    );

    // pg-agent list shows them with their parent.
    const listed = await runAgent(['list', '--json'], env());
    expect(listed.code).toBe(0);
    const rows = JSON.parse(listed.stdout) as Array<{ backupId: string; kind?: string; parent?: string }>;
    expect(rows.map(r => [r.backupId, r.kind ?? 'full', r.parent])).toEqual(days.map((d, i) => [d.id, d.kind, i === 0 ? undefined : days[i - 1].id]));
  });

  test("the restore of each day's backup equals the source at that point (rows, row hashes, pg_amcheck)", async () => {
    expect(days.length).toBe(5);
    for (const [i, d] of days.entries()) await restoreAndCheck(d.id, d.state, i >= 1 ? copiedState : undefined);
  });

  /** `pg-agent verify` (what the RestoreDrill CronJob runs) of the newest backup: an incremental, so its chain. */
  async function verifyNewest() {
    const user = podUser();
    const scratch = tempDir('incr-verify', user);
    const socketDir = tempDir('incr-verify-sock', user);
    cleanup.push(scratch, socketDir);
    const verifyEnv = {
      ...env(),
      PGC_SOCKET_DIR: socketDir,
      PGC_VERIFY_CHECKS: JSON.stringify({ amcheck: true, tables: [{ database: 'app', table: 'accounts', minRows: 1 }] }),
    };
    return runAgent(['verify', '--scratch', scratch, '--replay', 'backup-end'], verifyEnv, user);
  }

  test('verify (the restore drill) restores the newest backup, an incremental, through its chain', async () => {
    const r = await verifyNewest();
    expect({ code: r.code, err: r.code === 0 ? '' : r.stderr.slice(-2000) }).toEqual({ code: 0, err: '' });
    expect(r.stderr).toContain(`"chain":[${days.map(d => `"${d.id}"`).join(',')}]`);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ ok: true });
  });

  test('a missing link is refused, naming it, before anything is written; the next backup is a full one', async () => {
    const store = readStoreConfig(env());
    const broken = days[2];
    const dataKey = incrementalLayout.data(store.prefix, store.serverName, broken.id, 'zstd');
    const s3 = await s3For(bucket);
    const target = path.join(tempDir('incr-broken', podUser()), 'pgdata');
    cleanup.push(path.dirname(target));
    try {
      await deleteObject(s3, dataKey);
      await expect(restoreBaseBackup(s3, store, days[4].id, target)).rejects.toThrow(
        new RegExp(`cannot restore ${days[4].id}: the chain is broken: .*${broken.id}.*${dataKey.replace(/[.]/g, '\\.')}`),
      );
      expect(fs.existsSync(target)).toBe(false);
      // The drill fails the same way, naming the missing object.
      const drill = await verifyNewest();
      expect(drill.code).toBe(2);
      expect(drill.stderr).toContain(dataKey);
      // Day 1 does not depend on day 2: still restorable.
      await restoreAndCheck(days[1].id, days[1].state);
    } finally {
      s3.destroy();
    }
    await sql('INSERT INTO history (account, delta) VALUES (1, 1)');
    await backupDay();
    expect(days[5].kind).toBe('full');
  });
});
