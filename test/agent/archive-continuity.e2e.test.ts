/**
 * Issue 12, item 3: a failover during an S3 outage must leave no hole in the WAL archive. A 2-instance cluster this
 * test synthesizes (backups to a BackupStore, `synchronous: preferred`, so every acknowledged row is on the replica
 * when the primary dies) archives through the outage gateway of the test RGW. Under a writer on -rw: a base backup,
 * then S3 goes down, the primary fills segments it cannot archive, the whole primary pod is killed, the replica is
 * promoted and S3 comes back. Then:
 * - a restore of the pre-outage backup to `latest` (restoreBaseBackup + PostgreSQL with `wal-fetch` as its
 *   restore_command, in a fresh directory) holds every acknowledged row, as -rw does;
 * - the promoted instance took a base backup of its new timeline by itself;
 * - with one of the outage's segments deleted from the store on purpose: `list` flags the gap, `verify` fails
 *   naming the segment, and a restore stops at it (wal-fetch exit 255) instead of promoting without the rest.
 */
import * as fs from 'fs';
import * as path from 'path';
import { LABELS } from '../../lib/contract';
import { restoreBaseBackup } from '../../agent/src/restore/base-backup';
import { deleteObject } from '../../agent/src/s3/objects';
import { readStoreConfig } from '../../agent/src/store/config';
import { ClusterHarness, eventually, query, sleep } from '../support/cluster-harness';
import { diagnose, lostRows, startCluster, writer } from '../support/failover-probes';
import { podUser, tempDir } from '../support/pod-runner';
import {
  RestoredServer,
  logLines,
  removeScripts,
  runAgent,
  startRestored,
  storeEnv,
  storeEnvRewrite,
  waitPromoted,
  walFetchScript,
} from '../support/backup';
import { S3Endpoint, createBucket, deleteBucketRecursive, listKeys, outageEndpoint, s3For, startRgw, stopRgw, uniqueBucketName } from '../support/s3';
import { STORE_SECRET, synthWithStore } from '../support/synth';

jest.setTimeout(900000);

const NAME = 'arc-pg';

const synth = () => synthWithStore(NAME, { synchronous: { number: 1, dataDurability: 'preferred' }, backup: { schedule: '0 3 * * *' } });

describe('a failover during an S3 outage leaves no hole in the archive', () => {
  const h = new ClusterHarness(synth(), NAME);
  const bucket = uniqueBucketName('arc');
  let ep: S3Endpoint;
  let su: string;
  let w: ReturnType<typeof writer>;
  let preOutageBackup: string;
  /** Segments the primary could not archive before it was killed (its .ready files). */
  let unarchivedByPrimary: string[] = [];
  /** Rows inserted in bulk during the outage (acknowledged: the INSERT returned). */
  const bulk: number[] = [];
  const acknowledged = () => [...w.acknowledged, ...bulk];
  const figures: string[] = [];
  const env = () => storeEnv(ep, bucket, NAME);
  const rwConn = () => h.connectionFromUri(h.secretData(`${NAME}-app`)!.uri);
  const role = (ordinal: number) => h.podLabels(`${NAME}-${ordinal}`)[LABELS.role];
  const onPod = (ordinal: number, sql: string) => query(h.direct(ordinal, 'postgres', su, 'postgres'), sql);
  const list = async (): Promise<any[]> => {
    const r = await runAgent(['list', '--json'], env());
    if (r.code !== 0) throw new Error(`list exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const cleanup: string[] = [];

  /** Restores `backupId` into a fresh directory and starts PostgreSQL on it, recovering through wal-fetch. */
  async function restore(backupId: string): Promise<RestoredServer> {
    const target = path.join(tempDir('arc-restore', podUser()), 'pgdata');
    cleanup.push(path.dirname(target));
    const s3 = await s3For(bucket);
    try {
      await restoreBaseBackup(s3, readStoreConfig(env()), backupId, target);
    } finally {
      s3.destroy();
    }
    return startRestored(target, walFetchScript(env()));
  }

  beforeAll(async () => {
    ep = await outageEndpoint();
    await createBucket(bucket);
    // The instances and Jobs reach the store through the outage gateway, which the test stops and starts.
    h.rewriteEnv = storeEnvRewrite(ep.endpoint, bucket);
    su = await startCluster(h, { secrets: { [STORE_SECRET]: { AccessKey: ep.accessKeyId, SecretKey: ep.secretAccessKey } } });
    await query(rwConn(), 'CREATE TABLE events (id bigint PRIMARY KEY, pad text)');
  });
  afterAll(async () => {
    // eslint-disable-next-line no-console
    if (figures.length) console.log(`[archive-continuity]\n${figures.join('\n')}`);
    await w?.stop();
    await startRgw('outage').catch(() => undefined);
    await h.stop();
    removeScripts();
    for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
    await deleteBucketRecursive(bucket).catch(() => undefined);
  });

  test('the restore of the pre-outage backup to latest holds every acknowledged row, as -rw does', async () => {
    const started = Date.now();
    w = writer(rwConn);
    await sleep(2000);
    const backup = await h.runJob(`${NAME}-backup`);
    expect({ code: await backup.exited, log: backup.lines.slice(-5) }).toEqual({ code: 0, log: expect.anything() });
    preOutageBackup = backup.logs().find(l => l.msg === 'backup complete (backup.info DONE)').backupId;
    const ackedBeforeOutage = w.acknowledged.length;

    // S3 down. The primary fills segments (the writer, plus switches) that it cannot archive.
    await stopRgw('outage');
    const outageAt = Date.now();
    const switches: string[] = [];
    for (let i = 0; i < 5; i++) {
      const rows = await query(
        rwConn(),
        "INSERT INTO events SELECT (extract(epoch from clock_timestamp()) * 1e6)::bigint * 100 + g, repeat('x', 200) FROM generate_series(1, 2000) g RETURNING id::text",
      );
      bulk.push(...rows.map(r => Number(r.id)));
      switches.push((await onPod(0, 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS w, pg_switch_wal()'))[0].w);
      await sleep(300);
    }
    await eventually(async () => {
      const [a] = await onPod(0, 'SELECT failed_count::int AS f FROM pg_stat_archiver');
      if (a.f === 0) throw new Error('no archiving failure yet');
    }, 30000);
    const statusDir = path.join(h.pods[0].dataDir, 'pgdata', 'pg_wal', 'archive_status');
    unarchivedByPrimary = fs
      .readdirSync(statusDir)
      .filter(f => /^[0-9A-F]{24}\.ready$/.test(f))
      .map(f => f.slice(0, 24))
      .sort();
    expect(unarchivedByPrimary).toEqual(expect.arrayContaining(switches));

    // The whole primary pod dies; the replica is promoted while S3 is still down.
    const killedAt = Date.now();
    h.pods[0].process!.killPod();
    await h.pods[0].process!.exited;
    await eventually(
      async () => {
        if (role(1) !== 'primary') throw new Error('not promoted yet');
      },
      120000,
      200,
    ).catch(async e => {
      throw new Error(`${(e as Error).message}\n${await diagnose(h)}`);
    });
    const promotedAt = Date.now();
    await sleep(3000);
    await startRgw('outage');
    const outageSeconds = (Date.now() - outageAt) / 1000;
    await sleep(3000);
    await w.stop();

    // Everything the new primary holds reaches the archive: the old timeline's segments it received as a
    // standby (nobody else has them), the history file, its own timeline up to a switch.
    const last = (await onPod(1, 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS w, pg_switch_wal()'))[0].w as string;
    await eventually(
      async () => {
        const [a] = await onPod(1, 'SELECT last_archived_wal AS l FROM pg_stat_archiver');
        if (!a.l || a.l < last) throw new Error(`archived up to ${a.l}, waiting for ${last}`);
        const ready = fs.readdirSync(path.join(h.pods[1].dataDir, 'pgdata', 'pg_wal', 'archive_status')).filter(f => f.endsWith('.ready'));
        if (ready.length) throw new Error(`still to archive: ${ready.join(', ')}`);
      },
      240000,
      1000,
    ).catch(async e => {
      throw new Error(`${(e as Error).message}\n${await diagnose(h)}`);
    });
    const archived = (await listKeys(bucket, `${NAME}/wals/`)).map(k => path.basename(k).replace(/\.gz$/, ''));
    const neverArchived = [...unarchivedByPrimary, '00000002.history'].filter(n => !archived.includes(n));

    const lostLive = await lostRows(rwConn(), acknowledged());
    const restoreStarted = Date.now();
    const server = await restore(preOutageBackup);
    let restoredRows: number;
    let lostInRestore: number[];
    try {
      await waitPromoted(server, 'postgres', su, 300000);
      const conn = { host: '127.0.0.1', port: server.port, user: 'postgres', password: su, database: 'app' };
      lostInRestore = await lostRows(conn, acknowledged());
      restoredRows = (await query(conn, 'SELECT count(*)::int AS n FROM events'))[0].n;
    } finally {
      await server.stop();
    }
    figures.push(
      `rows acknowledged: ${acknowledged().length} (writer ${w.acknowledged.length}, ${ackedBeforeOutage} of them before the outage; ${bulk.length} in bulk during it); writer failures ${w.failures}`,
      `segments the primary could not archive before kill -9 of its pod: ${unarchivedByPrimary.length} (${unarchivedByPrimary[0]}..${unarchivedByPrimary.at(-1)})`,
      `outage ${outageSeconds.toFixed(1)} s; promoted ${((promotedAt - killedAt) / 1000).toFixed(1)} s after the kill`,
      `lost on -rw: ${lostLive.length}; restore of ${preOutageBackup} to latest: ${restoredRows} rows in the table, ${lostInRestore.length} acknowledged rows missing, ${((Date.now() - restoreStarted) / 1000).toFixed(1)} s`,
      `of those, still not in the archive: ${neverArchived.length ? neverArchived.join(', ') : 'none'}`,
      `total ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
    expect(neverArchived).toEqual([]);
    expect(w.acknowledged.length).toBeGreaterThan(ackedBeforeOutage);
    expect(lostLive).toEqual([]);
    expect(lostInRestore).toEqual([]);
  });

  test('the promoted instance took a base backup of its new timeline by itself', async () => {
    const line = await h.pods[1].process!.waitForLog(l => l.msg === 'base backup after promotion complete', 300000);
    expect(line.attempt).toBeGreaterThanOrEqual(1);
    const backups = await list();
    const after = backups.filter(b => b.complete && b.timeline === 2);
    expect(after.length).toBe(1);
    // Both backups recover to the end of the archive, on timeline 2; the old one through the failover.
    const b0 = backups.find(b => b.backupId === preOutageBackup);
    expect(b0.wal).toMatchObject({ continuous: true, timeline: 2 });
    expect(after[0].wal).toMatchObject({ continuous: true, timeline: 2, to: b0.wal.to });
    figures.push(`backup after promotion: ${after[0].backupId} (attempt ${line.attempt}); ${preOutageBackup} recovers ${b0.wal.from}..${b0.wal.to}`);
  });

  test('a segment deleted from the store: list flags the gap, verify fails naming it, a restore stops there (wal-fetch 255)', async () => {
    const victim = unarchivedByPrimary[Math.floor(unarchivedByPrimary.length / 2)];
    const s3 = await s3For(bucket);
    try {
      await deleteObject(s3, `${NAME}/wals/${victim.slice(0, 16)}/${victim}.gz`);
    } finally {
      s3.destroy();
    }

    const b0 = (await list()).find(b => b.backupId === preOutageBackup);
    expect(b0.wal).toMatchObject({ continuous: false, timeline: 2, missing: victim });
    const table = await runAgent(['list'], env());
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(`GAP: ${victim} missing`);
    expect(table.stdout).toContain(`GAP: backup ${preOutageBackup} recovers only to `);

    const user = podUser();
    const scratch = tempDir('arc-verify', user);
    const socketDir = tempDir('arc-verify-sock', user);
    cleanup.push(scratch, socketDir);
    const verifyEnv = {
      ...env(),
      PGC_SOCKET_DIR: socketDir,
      PGC_VERIFY_CHECKS: JSON.stringify({ amcheck: false, tables: [{ database: 'app', table: 'events', minRows: 1 }] }),
    };
    const failed = await runAgent(['verify', '--backup', preOutageBackup, '--scratch', scratch], verifyEnv, user);
    expect(failed.code).toBe(2);
    const error = logLines(failed.stderr).find(l => l.level === 'error');
    expect(error.msg).toContain(`WAL segment ${victim} is missing from the archive`);
    expect(error.fix).toContain(`Find ${victim} in an instance's pg_wal`);
    // The backup taken after the promotion starts past the hole: it verifies, replaying to the archive's end.
    const newest = (await list()).filter(b => b.complete && b.timeline === 2)[0];
    const passed = await runAgent(['verify', '--backup', newest.backupId, '--scratch', scratch], verifyEnv, user);
    expect({ code: passed.code, err: passed.code === 0 ? '' : passed.stderr.slice(-2000) }).toEqual({ code: 0, err: '' });
    expect(JSON.parse(passed.stdout.trim().split('\n').at(-1)!)).toMatchObject({ ok: true, wal: { continuous: true, timeline: 2 } });

    // A restore of the old backup: recovery reaches the hole and stops there, never promotes without the rest.
    let text = '';
    let promoted = false;
    let server: RestoredServer | undefined;
    try {
      server = await restore(preOutageBackup);
      await eventually(
        async () => {
          text = server!.log();
          if (!text.includes(`WAL segment ${victim} is missing from the archive`) || fs.existsSync(path.join(server!.dataDir, 'postmaster.pid')))
            throw new Error('still recovering');
        },
        180000,
        500,
      );
      promoted = /selected new timeline ID|archive recovery complete/.test(text);
    } catch (e) {
      text += (e as Error).message; // pg_ctl may already see the server stop
    } finally {
      await server?.stop();
    }
    expect(text).toContain(`wal-fetch: WAL segment ${victim} is missing from the archive`);
    expect(promoted).toBe(false);
    figures.push(`hole at ${victim}: list flagged it, verify exit ${failed.code} ("${error.msg.slice(0, 140)}..."), restore stopped at it`);
  });
});
