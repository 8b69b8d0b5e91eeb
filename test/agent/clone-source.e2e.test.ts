/**
 * Migration by streaming replication (dist/nextcloud-migration, bootstrap.pgBasebackup with follow: true): the new
 * cluster clones a running server that is not ours over TLS, follows it as a read-only standby while the source
 * keeps taking writes, and when the manifest says `follow: false` promotes onto a new timeline, gets this
 * cluster's passwords, archives into its own folder and gets its replica.
 */
import { ClusterHarness, eventually, query } from '../support/cluster-harness';
import { ExternalPostgres, startExternalPostgres } from '../support/external-postgres';
import { createBucket, ensureS3, listKeys, uniqueBucketName } from '../support/s3';
import { storeEnvRewrite } from '../support/backup';

jest.setTimeout(600000);

const CLUSTER = 'nextcloud-pg';
const SOURCE_SECRET = 'nomad-postgres-replicator';
const STORE_SECRET = 'rook-ceph-object-user-rgw-bulk-cnpg-backup-nextcloud';
const REPLICATOR = { user: 'replicator', password: 'repl-on-nomad' };
const OLD_APP_PASSWORD = 'nextcloud-on-nomad';

describe('migration from a running server (dist/nextcloud-migration)', () => {
  let source: ExternalPostgres;
  let endpoint: string;
  let keys: { AccessKey: string; SecretKey: string };
  const bucket = uniqueBucketName('migration');

  beforeAll(async () => {
    source = await startExternalPostgres({ replicationUser: REPLICATOR.user, replicationPassword: REPLICATOR.password });
    await source.query(`CREATE ROLE nextcloud LOGIN PASSWORD '${OLD_APP_PASSWORD}'`);
    await source.query('CREATE DATABASE nextcloud OWNER nextcloud');
    await query(
      source.connection('nextcloud', 'nextcloud', OLD_APP_PASSWORD),
      'CREATE TABLE files (id int PRIMARY KEY, path text, created_at timestamptz DEFAULT clock_timestamp())',
    );
    await query(
      source.connection('nextcloud', 'nextcloud', OLD_APP_PASSWORD),
      "INSERT INTO files (id, path) SELECT i, '/photos/' || i || '.jpg' FROM generate_series(1, 500) i",
    );
    const ep = await ensureS3();
    endpoint = ep.endpoint;
    keys = { AccessKey: ep.accessKeyId, SecretKey: ep.secretAccessKey };
    await createBucket(bucket);
  });
  afterAll(async () => {
    await source?.stop();
  });

  function harness(): ClusterHarness {
    const h = new ClusterHarness('nextcloud-migration.k8s.yaml', CLUSTER);
    const toStore = storeEnvRewrite(endpoint, bucket);
    h.rewriteEnv = (name, value) => {
      // The manifest's source host (postgres.service.nomad.home.arpa) is this test's server on loopback.
      if (name === 'PGC_CLONE_SOURCE') return JSON.stringify({ ...JSON.parse(value), host: '127.0.0.1', port: source.port });
      return toStore(name, value);
    };
    return h;
  }

  async function started(sourcePassword: string): Promise<ClusterHarness> {
    const h = harness();
    await h.start();
    h.seedSecret(SOURCE_SECRET, { password: sourcePassword });
    h.seedSecret(STORE_SECRET, keys);
    expect(await (await h.runSecretsJob()).exited).toBe(0);
    return h;
  }

  it('follows the source, then promotes when follow is turned off', async () => {
    const h = await started(REPLICATOR.password);
    try {
      const manifestEnv = h.statefulSet.spec.template.spec.containers[0].env as Array<{ name: string; value?: string; valueFrom?: any }>;
      expect(manifestEnv.find(e => e.name === 'PGC_CLONE_FOLLOW')?.value).toBe('true');
      expect(manifestEnv.find(e => e.name === 'PGC_CLONE_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: SOURCE_SECRET, key: 'password' });
      expect(JSON.parse(manifestEnv.find(e => e.name === 'PGC_CLONE_SOURCE')!.value!).sslmode).toBe('require');

      h.startInstance(0);
      h.startInstance(1);
      await h.waitReady(0, 120000);
      // The standby of the source is this cluster's primary-to-be: it holds the lease and the -rw label, read-only.
      expect(h.podLabels(`${CLUSTER}-0`)['postgres.cdk8s.io/role']).toBe('primary');
      const rwAsOldApp = { ...h.connectionFromUri(h.secretData(`${CLUSTER}-app`)!.uri), password: OLD_APP_PASSWORD };
      // (the Service routes to it once the kubelet's readiness poll has seen it ready)
      expect((await eventually(() => query(rwAsOldApp, 'SELECT pg_is_in_recovery() AS r'), 10000))[0].r).toBe(true);
      expect(Number((await query(rwAsOldApp, 'SELECT count(*) AS n FROM files'))[0].n)).toBe(500);
      await expect(query(rwAsOldApp, "INSERT INTO files (id, path) VALUES (9999, '/x')")).rejects.toThrow(/read-only/);
      // The source's ALTER SYSTEM settings stay behind; it streams over TLS.
      expect((await query(rwAsOldApp, 'SHOW work_mem'))[0].work_mem).not.toBe('7MB');
      const senders = await source.query("SELECT ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) WHERE r.usename = 'replicator'");
      expect(senders).toEqual([{ ssl: true }]);

      // The source keeps taking writes; they arrive.
      const oldApp = source.connection('nextcloud', 'nextcloud', OLD_APP_PASSWORD);
      await query(oldApp, "INSERT INTO files (id, path) SELECT i, '/docs/' || i || '.odt' FROM generate_series(501, 800) i");
      await eventually(async () => expect(Number((await query(rwAsOldApp, 'SELECT count(*) AS n FROM files'))[0].n)).toBe(800), 30000);

      // The second instance waits, alive and not ready, and says why.
      await eventually(async () => expect(h.pods[1].process!.lines.join('\n')).toMatch(/replicas are cloned after the promotion/), 30000);
      expect(h.pods[1].process!.child.exitCode).toBeNull();
      expect((await h.httpGet(1, '/healthz')).status).toBe(200);
      expect((await h.httpGet(1, '/readyz')).status).toBe(503);

      // Migration day: the apps stop writing to the source; the standby has everything; follow: false is applied,
      // which restarts the pods with the new environment.
      await query(oldApp, "INSERT INTO files (id, path) VALUES (801, '/last-write-on-nomad')");
      const sourceLsn = (await source.query('SELECT pg_current_wal_lsn()::text AS l'))[0].l;
      await eventually(async () => {
        const r = await query(rwAsOldApp, 'SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), $1::pg_lsn) >= 0 AS caught_up', [sourceLsn]);
        expect(r[0].caught_up).toBe(true);
      }, 30000);
      for (const pod of h.pods) {
        pod.process!.kill('SIGTERM');
        await pod.process!.exited;
      }
      h.startInstance(0, { PGC_CLONE_FOLLOW: 'false' });
      h.startInstance(1, { PGC_CLONE_FOLLOW: 'false' });
      await h.waitReady(0, 120000);
      await h.waitReady(1, 180000);

      // Independent now: a new timeline, writable, this cluster's passwords, every row of the source.
      const rw = h.connectionFromUri(h.secretData(`${CLUSTER}-app`)!.uri);
      expect((await eventually(() => query(rw, 'SELECT pg_is_in_recovery() AS r'), 10000))[0].r).toBe(false);
      expect(Number((await query(rw, 'SELECT timeline_id FROM pg_control_checkpoint()'))[0].timeline_id)).toBeGreaterThanOrEqual(2);
      expect((await query(rw, 'SELECT max(id) AS m, count(*) AS n FROM files'))[0]).toEqual({ m: 801, n: '801' });
      await expect(query(rwAsOldApp, 'SELECT 1')).rejects.toThrow(/password authentication failed/);
      await query(rw, "INSERT INTO files (id, path) VALUES (802, '/first-write-on-k8s')");
      expect(h.pods[0].process!.lines.join('\n')).toMatch(/promoted: the cluster is independent of its source/);

      // The replica cloned the new primary and streams its writes.
      const ro = { ...rw, host: h.serviceIps[`${CLUSTER}-ro`] };
      await eventually(async () => expect((await query(ro, 'SELECT max(id) AS m FROM files'))[0].m).toBe(802), 30000);
      // The source is untouched: it never saw the new cluster's write.
      expect((await query(oldApp, 'SELECT max(id) AS m FROM files'))[0].m).toBe(801);

      // Archiving runs on the new timeline, into this cluster's own folder.
      const su = h.secretData(`${CLUSTER}-superuser`)!;
      await query(h.direct(0, su.username, su.password, 'postgres'), 'SELECT pg_switch_wal()');
      await eventually(async () => {
        const keysInFolder = await listKeys(bucket, `${CLUSTER}/wals/`);
        expect(keysInFolder.some(k => /\/00000002\.history/.test(k) || /\/00000002[0-9A-F]{16}/.test(k))).toBe(true);
      }, 60000);
    } catch (e) {
      // eslint-disable-next-line no-console
      console.log(h.pods[0].process?.lines.slice(-40).join('\n'));
      throw e;
    } finally {
      await h.stop();
    }
  });

  it('with follow: false from the start, clones and promotes at once', async () => {
    const h = await started(REPLICATOR.password);
    try {
      h.startInstance(0, { PGC_CLONE_FOLLOW: 'false' });
      await h.waitReady(0, 120000);
      const rw = h.connectionFromUri(h.secretData(`${CLUSTER}-app`)!.uri);
      const rows = await eventually(() => query(rw, 'SELECT count(*) AS n, pg_is_in_recovery() AS r FROM files'), 10000);
      const sourceRows = (await source.query('SELECT count(*) AS n FROM files', [], 'nextcloud'))[0].n;
      expect(rows[0]).toEqual({ n: sourceRows, r: false });
      const log = h.pods[0].process!.logs();
      expect(log.filter(l => /^promoted: the cluster is independent/.test(l.msg ?? ''))).toHaveLength(1);
    } finally {
      await h.stop();
    }
  });

  it('a wrong source password stops the first instance with one clear line and no data', async () => {
    const h = await started('not-the-password');
    try {
      const p = h.startInstance(0);
      expect(await p.exited).toBe(2);
      const text = p.lines.join('\n');
      expect(text).toMatch(/refused the clone/);
      expect(text).toMatch(/REPLICATION attribute|password Secret/);
      const fs = await import('fs');
      expect(fs.readdirSync(h.pods[0].dataDir).filter(f => !f.startsWith('.'))).toEqual([]);
    } finally {
      await h.stop();
    }
  });
});
