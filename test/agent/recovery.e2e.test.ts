/**
 * The disaster-recovery drill of the reference story, with the manifests of dist/: a 2-instance Keycloak cluster
 * archives WAL and takes a base backup into Ceph RGW; it is destroyed (processes and volumes); a new cluster
 * (dist/keycloak-restore.k8s.yaml, bootstrap.recovery) restores it to a point in time T, then to the latest point.
 */
import * as fs from 'fs';
import { ClusterHarness, eventually, query, sleep } from '../support/cluster-harness';
import { createBucket, ensureS3, s3For, uniqueBucketName } from '../support/s3';
import { getObjectBuffer, listPrefix, putObject } from '../../agent/src/s3/objects';
import { CanaryDb } from '../../agent/src/canary/db';

/** The restore canary's own records (checksummed) are the drill's test data, besides the Keycloak-like users. */
function canaryOn(h: ClusterHarness, secret: string): CanaryDb {
  const c = h.connectionFromUri(h.secretData(secret)!.uri);
  // TLS is always on: encrypted here (in its pod the canary verifies through NODE_EXTRA_CA_CERTS, which a test process lacks).
  return new CanaryDb({ host: c.host!, port: c.port!, database: c.database!, user: c.user!, password: c.password as string, ssl: 'require' });
}

jest.setTimeout(600000);

const STORE_SECRET = 'rook-ceph-object-user-rgw-bulk-cnpg-backup-keycloak';
const DRILL_SECRET = 'rook-ceph-object-user-rgw-bulk-cnpg-restore-drill';

/** Maps the store of the manifests (the in-cluster RGW Service, bucket backup-cnpg) to the test RGW and buckets. */
function s3Rewrite(endpoint: string, ownBucket: string, sourceBucket: string) {
  return (name: string, value: string): string => {
    if (name === 'PGC_S3_ENDPOINT') return endpoint;
    if (name === 'PGC_S3_BUCKET') return ownBucket;
    if (name === 'PGC_RECOVERY_SOURCE') return JSON.stringify({ ...JSON.parse(value), endpoint, bucket: sourceBucket });
    return value;
  };
}

describe('recovery drill (dist/keycloak + dist/keycloak-restore, Ceph RGW)', () => {
  const sourceBucket = uniqueBucketName('drill');
  let endpoint: string;
  let keys: { AccessKey: string; SecretKey: string };
  let T: string;
  const rowsBeforeT: number[] = [];
  const rowsAfterT: number[] = [];

  async function restoredCluster(target: string | undefined, ownBucket: string): Promise<ClusterHarness> {
    const h = new ClusterHarness('keycloak-restore.k8s.yaml', 'keycloak-pg-restored');
    await h.start();
    h.seedSecret(STORE_SECRET, keys);
    h.rewriteEnv = s3Rewrite(endpoint, ownBucket, sourceBucket);
    expect(await (await h.runSecretsJob()).exited).toBe(0);
    h.startInstance(0, target ? { PGC_RECOVERY_TARGET: JSON.stringify({ time: target }) } : {});
    return h;
  }

  /**
   * A copy of the source's backups (not its WAL) in a new bucket; with `corruptData`, every data tar replaced by
   * other bytes under the same key and size.
   */
  async function copyOfSource(opts: { corruptData: boolean }): Promise<string> {
    const s3 = await s3For(sourceBucket);
    const copy = uniqueBucketName(opts.corruptData ? 'corrupt' : 'nowal');
    await createBucket(copy);
    const dst = await s3For(copy);
    for (const o of await listPrefix(s3, 'keycloak-pg-cluster/base/')) {
      const original = async () => (await getObjectBuffer(s3, o.key))!;
      await putObject(dst, o.key, o.key.endsWith('backup.info') || !opts.corruptData ? await original() : Buffer.alloc(o.size, 7));
    }
    s3.destroy();
    dst.destroy();
    return copy;
  }

  const usersOf = async (h: ClusterHarness) => {
    const app = h.secretData('keycloak-pg-restored-app')!;
    return (await query(h.connectionFromUri(app.uri), 'SELECT id FROM user_entity ORDER BY id')).map(r => Number(r.id));
  };

  beforeAll(async () => {
    const ep = await ensureS3();
    endpoint = ep.endpoint;
    keys = { AccessKey: ep.accessKeyId, SecretKey: ep.secretAccessKey };
    await createBucket(sourceBucket);

    // The original cluster: users created over time, a base backup, more users, T, more users.
    const h = new ClusterHarness('keycloak.k8s.yaml', 'keycloak-pg-cluster');
    await h.start();
    try {
      h.seedSecret(STORE_SECRET, keys);
      h.rewriteEnv = s3Rewrite(endpoint, sourceBucket, sourceBucket);
      expect(await (await h.runSecretsJob()).exited).toBe(0);
      h.startInstance(0);
      h.startInstance(1);
      await h.waitReady(0, 90000);
      await h.waitReady(1, 90000);
      const app = h.secretData('keycloak-pg-cluster-app')!;
      const rw = h.connectionFromUri(app.uri);
      // Keycloak's own table name: the RestoreDrill of dist/keycloak counts it.
      await query(rw, 'CREATE TABLE user_entity (id int PRIMARY KEY, username text, created_timestamp timestamptz DEFAULT clock_timestamp())');
      const addUsers = async (from: number, n: number, into: number[]) => {
        for (let i = from; i < from + n; i++) {
          await query(rw, 'INSERT INTO user_entity (id, username) VALUES ($1, $2)', [i, `user${i}`]);
          into.push(i);
        }
      };
      await addUsers(1, 20, rowsBeforeT);
      const canary = canaryOn(h, 'keycloak-pg-cluster-app');
      for (let i = 0; i < 3; i++) await canary.insert('drill');
      const backup = await h.runJob('keycloak-pg-cluster-backup');
      expect({ code: await backup.exited, log: backup.lines.slice(-5) }).toEqual({ code: 0, log: expect.anything() });
      await addUsers(21, 20, rowsBeforeT);
      await sleep(1100);
      T = (await query(rw, 'SELECT clock_timestamp() AS t'))[0].t.toISOString();
      await sleep(1100);
      await addUsers(41, 20, rowsAfterT);
      for (let i = 0; i < 2; i++) await canary.insert('drill');
      await canary.end();
      // Every committed row must be in the archive before the cluster is lost.
      const su = h.secretData('keycloak-pg-cluster-superuser')!.password;
      const last = (await query(h.direct(0, 'postgres', su, 'postgres'), 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS w, pg_switch_wal()'))[0].w;
      await eventually(
        async () => {
          const a = (await query(h.direct(0, 'postgres', su, 'postgres'), 'SELECT last_archived_wal AS l FROM pg_stat_archiver'))[0].l;
          if (!a || a < last) throw new Error(`archived up to ${a}, waiting for ${last}`);
        },
        120000,
        500,
      );
    } finally {
      await h.stop(); // processes and volumes gone: the cluster is destroyed
    }
  });

  test('point-in-time recovery to T: every row committed before T is there, none after', async () => {
    const h = await restoredCluster(T, uniqueBucketName('pitr'));
    try {
      await h.waitReady(0, 180000);
      // The first connection right after promotion may race the end-of-recovery checkpoint: retry briefly.
      expect(await eventually(() => usersOf(h), 20000)).toEqual(rowsBeforeT);
      // The canary's verdict: its 3 records from before T, all valid; the newest shows the recovery point.
      const canary = canaryOn(h, 'keycloak-pg-restored-app');
      const verdict = await canary.verdict();
      await canary.end();
      expect({ ok: verdict.ok, total: verdict.total, newest: verdict.newestSeq }).toEqual({ ok: true, total: 3, newest: 3 });
      const logs = h.pods[0].process!.logs();
      expect(logs.some(l => l.msg === 'start plan' && l.plan === 'restore')).toBe(true);
      // The restored primary is on a new timeline, and a replica clones it as usual.
      h.startInstance(1);
      await h.waitReady(1, 120000);
      const su = h.secretData('keycloak-pg-restored-superuser')!.password;
      const tl = (await query(h.direct(0, 'postgres', su, 'postgres'), 'SELECT timeline_id FROM pg_control_checkpoint()'))[0].timeline_id;
      expect(tl).toBeGreaterThan(1);
    } finally {
      await h.stop();
    }
  });

  test('recovery to the latest point: every archived committed row is there', async () => {
    const own = uniqueBucketName('latest');
    await createBucket(own);
    const h = await restoredCluster(undefined, own);
    try {
      await h.waitReady(0, 180000);
      expect(await eventually(() => usersOf(h), 20000)).toEqual([...rowsBeforeT, ...rowsAfterT]);
      const canary = canaryOn(h, 'keycloak-pg-restored-app');
      const verdict = await canary.verdict();
      await canary.end();
      expect({ ok: verdict.ok, total: verdict.total, newest: verdict.newestSeq }).toEqual({ ok: true, total: 5, newest: 5 });
      // After promotion it archives its new timeline into its own folder, never into its ancestor's.
      const app = h.secretData('keycloak-pg-restored-app')!;
      await query(h.connectionFromUri(app.uri), "INSERT INTO user_entity (id, username) VALUES (1000, 'after-restore')");
      const su = h.secretData('keycloak-pg-restored-superuser')!.password;
      await query(h.direct(0, 'postgres', su, 'postgres'), 'SELECT pg_switch_wal()');
      const s3 = await s3For(own);
      await eventually(
        async () => {
          const keysOwn = (await listPrefix(s3, 'keycloak-pg-restored/wals/')).map(o => o.key);
          if (!keysOwn.some(k => /\/00000002[0-9A-F]{16}\.gz$/.test(k))) throw new Error('new timeline not archived yet');
        },
        60000,
        1000,
      );
      s3.destroy();
    } finally {
      await h.stop();
    }
  });

  describe('bad recovery requests fail clearly, with nothing started', () => {
    const failing = async (extraEnv: Record<string, string>, rewrite?: (n: string, v: string) => string) => {
      const h = new ClusterHarness('keycloak-restore.k8s.yaml', 'keycloak-pg-restored');
      await h.start();
      try {
        h.seedSecret(STORE_SECRET, keys);
        const base = s3Rewrite(endpoint, uniqueBucketName('bad'), sourceBucket);
        h.rewriteEnv = (n, v) => (rewrite ? rewrite(n, base(n, v)) : base(n, v));
        expect(await (await h.runSecretsJob()).exited).toBe(0);
        const p = h.startInstance(0, extraEnv);
        const code = await p.exited;
        const errors = p.logs().filter(l => l.level === 'error');
        return { code, errors, pgdataEmpty: !fs.existsSync(`${h.pods[0].dataDir}/pgdata`) };
      } finally {
        await h.stop();
      }
    };

    test('a target before the oldest backup', async () => {
      const r = await failing({ PGC_RECOVERY_TARGET: JSON.stringify({ time: '2020-01-01T00:00:00Z' }) });
      expect(r.code).toBe(2);
      expect(r.errors[0].msg).toMatch(/^no complete backup ends before the recovery target \(time 2020-01-01T00:00:00Z\); the oldest ends at /);
      expect(r.pgdataEmpty).toBe(true);
    });

    test('a target in the future', async () => {
      const r = await failing({ PGC_RECOVERY_TARGET: JSON.stringify({ time: '2099-01-01T00:00:00Z' }) });
      expect(r.code).toBe(2);
      expect(r.errors[0].msg).toBe('the recovery target 2099-01-01T00:00:00.000Z is in the future'.replace('.000Z', 'Z'));
      expect(r.pgdataEmpty).toBe(true);
    });

    test('a missing source prefix', async () => {
      const r = await failing({}, (n, v) => (n === 'PGC_RECOVERY_SOURCE' ? JSON.stringify({ ...JSON.parse(v), serverName: 'no-such-cluster' }) : v));
      expect(r.code).toBe(2);
      expect(r.errors[0].msg).toMatch(/^no complete backup in s3:\/\/.*\/no-such-cluster\/base\//);
      expect(r.pgdataEmpty).toBe(true);
    });

    test('a corrupted backup object', async () => {
      const corrupt = await copyOfSource({ corruptData: true });
      const r = await failing({}, (n, v) => (n === 'PGC_RECOVERY_SOURCE' ? JSON.stringify({ ...JSON.parse(v), bucket: corrupt }) : v));
      expect(r.code).toBe(2);
      expect(r.errors.length).toBeGreaterThan(0);
      expect(r.pgdataEmpty).toBe(true);
    });
  });

  describe('the restore drill (RestoreDrill of dist/keycloak: pg-agent verify)', () => {
    /** Runs the drill CronJob's pod as the manifest has it, against the source bucket (or another one). */
    const drill = async (extraEnv: Record<string, string> = {}, bucket = sourceBucket) => {
      const h = new ClusterHarness('keycloak.k8s.yaml', 'keycloak-pg-cluster');
      await h.start();
      try {
        h.seedSecret(STORE_SECRET, keys);
        // The drill's own (read-only in the homelab) store user: here the same keys.
        h.seedSecret(DRILL_SECRET, keys);
        h.rewriteEnv = s3Rewrite(endpoint, bucket, bucket);
        const p = await h.runJob('keycloak-pg-cluster-restore-drill', undefined, { extraEnv });
        const reportLine = p.lines.find(l => l.startsWith('{"ok"'));
        return { code: await p.exited, report: reportLine ? JSON.parse(reportLine) : undefined, logs: p.logs() };
      } finally {
        await h.stop();
      }
    };

    test('the newest backup restores, replays all archived WAL and passes pg_amcheck and the row count', async () => {
      const r = await drill();
      expect(r.code).toBe(0);
      expect(r.report).toMatchObject({
        ok: true,
        failures: [],
        replay: { mode: 'latest' },
        amcheck: { ok: true, findings: [] },
        tables: [{ database: 'keycloak', table: 'user_entity', minRows: 1, rows: rowsBeforeT.length + rowsAfterT.length, ok: true }],
      });
      // Replayed past T: the last transaction it replayed is the newest the cluster archived.
      expect(Date.parse(r.report.replay.lastTransactionAt)).toBeGreaterThan(Date.parse(T));
      expect(r.logs.some(l => /^verify passed/.test(l.msg ?? ''))).toBe(true);
    });

    test("replay to the backup's end only: the rows that existed when the backup was taken", async () => {
      const r = await drill({ PGC_VERIFY_REPLAY: 'backup-end' });
      expect(r.code).toBe(0);
      // 20 users existed when the base backup ran (the next ones came after it).
      expect(r.report.tables[0].rows).toBe(20);
    });

    test('an implausible row count fails the drill and says which table', async () => {
      const checks = {
        amcheck: false,
        tables: [
          { database: 'keycloak', table: 'user_entity', minRows: 1000 },
          { database: 'keycloak', table: 'no_such_table', minRows: 1 },
        ],
      };
      const r = await drill({ PGC_VERIFY_CHECKS: JSON.stringify(checks) });
      expect(r.code).toBe(1);
      expect(r.report.ok).toBe(false);
      const failed = r.logs.find(l => l.level === 'error');
      expect(failed.msg).toMatch(
        /^verify failed: keycloak\.user_entity: 60 rows, fewer than the 1000 expected; keycloak\.no_such_table: relation "no_such_table" does not exist/,
      );
    });

    test('a damaged backup, or a backup without its WAL, fails with one line saying what to do', async () => {
      const damaged = await drill({}, await copyOfSource({ corruptData: true }));
      expect(damaged.code).toBe(2);
      expect(damaged.logs.find(l => l.level === 'error').fix).toMatch(/damaged|take a new backup/i);
      const noWal = await drill({}, await copyOfSource({ corruptData: false }));
      expect(noWal.code).toBe(2);
      const line = noWal.logs.find(l => l.level === 'error');
      // The archive is checked before the replay: the first segment it lacks is named.
      expect(line.msg).toMatch(
        /^verify failed: backup \d{8}T\d{6} cannot replay to the end of the archive: WAL segment ([0-9A-F]{24}) is missing from the archive/,
      );
      expect(line.fix).toContain(`Find ${line.missing} in an instance's pg_wal`);
    });
  });
});
