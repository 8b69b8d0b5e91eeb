/**
 * Issue 15, managed roles and extensions, on one instance of a cluster synthesized by the construct and run as a
 * process with the manifest's command and env (PostgreSQL 15 from Debian, which has PostGIS and no pgvector):
 * - a read-only role (inRoles: pg_read_all_data) logs in through the Secret the secrets Job created, reads, and
 *   cannot write;
 * - PostGIS and pg_trgm are created; pgvector ("vector") is refused with one log line naming it, the database and
 *   the fix, and the rest of the reconcile goes on;
 * - a change in git (a re-synthesized ConfigMap, as the kubelet refreshes it): the connection limit and a membership
 *   altered live (postmaster PID unchanged), a role declared absent dropped, one that owns a table kept with a log
 *   line naming the database and the fix, and the pgHba rules rewritten and reloaded.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ClientConfig } from 'pg';
import { PostgresClusterProps } from '../../lib';
import { CLUSTER_CONFIG, MANAGED_OBJECTS_KEY, appSecretData } from '../../lib/contract';
import { ClusterHarness, eventually, query } from '../support/cluster-harness';
import { synthCluster } from '../support/failover-probes';
import { preparePg17 } from '../support/pg17';

jest.setTimeout(180000);

const NAME = 'roles-pg';
const DATABASES: PostgresClusterProps['databases'] = [
  {
    name: 'app',
    owner: 'app',
    schemas: [{ name: 'reports' }],
    extensions: [{ name: 'postgis' }, { name: 'vector' }, { name: 'pg_trgm', schema: 'reports' }],
  },
];
const BEFORE: Partial<PostgresClusterProps> = {
  instances: 1,
  databases: DATABASES,
  roles: [{ name: 'reader', inRoles: ['pg_read_all_data'], connectionLimit: 3 }, { name: 'dropme' }, { name: 'table_owner', login: false }],
  pgHba: [{ address: '10.42.0.0/16', users: ['reader'], databases: ['app'], method: 'scram-sha-256' }],
};
const AFTER: Partial<PostgresClusterProps> = {
  ...BEFORE,
  roles: [
    { name: 'reader', inRoles: ['pg_read_all_data', 'pg_monitor'], connectionLimit: 1 },
    { name: 'dropme', ensure: 'absent' },
    { name: 'table_owner', ensure: 'absent' },
  ],
  pgHba: [...BEFORE.pgHba!, { address: '192.168.0.0/16', method: 'reject' }],
};

describe('managed roles, extensions and pgHba rules (1 instance, PostgreSQL 15)', () => {
  const h = new ClusterHarness(synthCluster(NAME, BEFORE), NAME);
  let superuser = '';
  const su = (db = 'app'): ClientConfig => h.direct(0, 'postgres', superuser, db);
  const logs = (re: RegExp) => (h.pods[0].process?.logs() ?? []).filter(l => re.test(l.msg ?? ''));
  const postmasterPid = () => Number(fs.readFileSync(path.join(h.pods[0].dataDir, 'pgdata', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const roleRow = async (name: string) => (await query(su(), 'SELECT rolconnlimit, rolcanlogin FROM pg_roles WHERE rolname = $1', [name]))[0];
  const memberOf = async (name: string) =>
    (
      await query(
        su(),
        'SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1 ORDER BY 1',
        [name],
      )
    ).map(r => r.rolname);
  const hbaRules = async () =>
    (
      await query(
        su(),
        "SELECT line_number, type, user_name, address, auth_method FROM pg_hba_file_rules WHERE type IN ('host', 'hostssl') ORDER BY line_number",
      )
    ).map(r => `${r.type} ${r.user_name.join(',')} ${r.address ?? ''} ${r.auth_method}`.trim());

  beforeAll(async () => {
    await h.start();
    const secrets = await h.runSecretsJob();
    if ((await secrets.exited) !== 0) throw new Error(`secrets Job failed:\n${secrets.lines.join('\n')}`);
    h.startInstance(0);
    await h.waitReady(0, 120000);
    superuser = h.secretData(`${NAME}-superuser`)!.password;
    const app = h.connectionFromUri(h.secretData(`${NAME}-app`)!.uri);
    await query(app, 'CREATE TABLE IF NOT EXISTS notes (id int PRIMARY KEY, body text)');
    await query(app, "INSERT INTO notes VALUES (1, 'kept') ON CONFLICT DO NOTHING");
  });
  afterAll(() => h.stop());

  test('a read-only role logs in through the Secret the agent made, reads, and cannot write', async () => {
    const secret = h.secretData(`${NAME}-reader-role`)!;
    expect(Object.keys(secret).sort()).toEqual([
      'dbname',
      'fqdn-jdbc-uri',
      'fqdn-uri',
      'host',
      'jdbc-uri',
      'password',
      'pgpass',
      'port',
      'uri',
      'user',
      'username',
    ]);
    expect(secret).toMatchObject({ username: 'reader', dbname: 'app', host: `${NAME}-rw` });
    const reader = h.connectionFromUri(secret.uri);
    const rows = await eventually(() => query(reader, 'SELECT body FROM notes'), 40000, 500);
    expect(rows).toEqual([{ body: 'kept' }]);
    await expect(query(reader, "INSERT INTO notes VALUES (2, 'no')")).rejects.toThrow(/permission denied for table notes/);
    await expect(query(reader, 'CREATE TABLE mine (id int)')).rejects.toThrow(/permission denied for schema public/);
    expect(await roleRow('reader')).toEqual({ rolconnlimit: 3, rolcanlogin: true });
    expect(await memberOf('reader')).toEqual(['pg_read_all_data']);
  });

  test('PostGIS and pg_trgm are created; pgvector is refused with one line naming it, the database and the fix', async () => {
    const exts = await eventually(async () => {
      const r = await query(
        su(),
        "SELECT e.extname, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE extname <> 'plpgsql' ORDER BY 1",
      );
      if (r.length < 2) throw new Error(`extensions so far: ${JSON.stringify(r)}`);
      return r;
    }, 40000);
    expect(exts).toEqual([
      { extname: 'pg_trgm', nspname: 'reports' },
      { extname: 'postgis', nspname: 'public' },
    ]);
    expect((await query(su(), 'SELECT ST_AsText(ST_MakePoint(1, 2)) AS p'))[0].p).toBe('POINT(1 2)');
    expect((await query(su(), "SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = 'reports'"))[0].owner).toBe('app');
    const refused = await h.pods[0].process!.waitForLog(l => /extension vector in database app/.test(l.msg ?? ''), 10000);
    expect(refused).toMatchObject({ level: 'error', database: 'app', extension: 'vector' });
    expect(refused.msg).toMatch(/the image does not have it/);
    expect(refused.fix).toMatch(/remove it from databases\[\]\.extensions/);
    expect(logs(/extension vector/)).toHaveLength(1);
  });

  test("the role's Secret is followed: a new password works within seconds, the old one is refused; a deleted Secret is recreated", async () => {
    const old = h.secretData(`${NAME}-reader-role`)!;
    const password = `rotated-${Math.random().toString(36).slice(2, 12)}`;
    h.seedSecret(
      `${NAME}-reader-role`,
      appSecretData({ username: 'reader', dbname: 'app', host: `${NAME}-rw`, port: 5432, clusterDomain: 'cluster.local' }, password, h.namespace),
    );
    const t0 = Date.now();
    await eventually(() => query(h.connectionFromUri(h.secretData(`${NAME}-reader-role`)!.uri), 'SELECT 1'), 40000, 250);
    const seconds = ((Date.now() - t0) / 1000).toFixed(1);
    await expect(query(h.connectionFromUri(old.uri), 'SELECT 1')).rejects.toThrow(/password authentication failed/);
    // Deleted: the primary generates a new one (the secrets Job's code) and gives the role its password.
    h.api.remove('secrets', h.namespace, `${NAME}-reader-role`);
    const recreated = await eventually(async () => {
      const s = h.secretData(`${NAME}-reader-role`);
      if (!s) throw new Error('not recreated yet');
      return s;
    }, 40000);
    expect(recreated.password).not.toBe(password);
    await eventually(() => query(h.connectionFromUri(recreated.uri), 'SELECT 1'), 40000, 250);
    // eslint-disable-next-line no-console
    console.log(`[managed-roles] reader's rotated password accepted ${seconds} s after the Secret changed`);
  });

  test('changed in git: altered live, an absent role dropped, an owner of a table kept with the reason, pgHba reloaded', async () => {
    // table_owner owns a table in app (made by hand, as an app's migration would).
    await query(su(), 'CREATE TABLE owned (id int)');
    await query(su(), 'ALTER TABLE owned OWNER TO table_owner');
    // The user's rule after the agent's own (replication, its SCRAM rule for postgres/streaming_replica), before the
    // final catch-all (host, or hostssl once TLS is on).
    const rules = await hbaRules();
    expect(rules.slice(-3)).toEqual([
      'hostssl postgres,streaming_replica all scram-sha-256',
      'hostssl reader 10.42.0.0 scram-sha-256',
      expect.stringMatching(/^(host|hostssl) all all scram-sha-256$/),
    ]);
    expect(rules[0]).toMatch(/^(host|hostssl) streaming_replica all scram-sha-256$/);
    const pid = postmasterPid();
    const next = synthCluster(NAME, AFTER).find(o => o.kind === 'ConfigMap' && o.metadata.name === `${NAME}-config`)!;
    expect(next.data[CLUSTER_CONFIG.parametersKey]).toBe(h.configMapData()[CLUSTER_CONFIG.parametersKey]);
    const t0 = Date.now();
    h.updateConfigMap(next.data);

    await eventually(
      async () => {
        const r = await roleRow('reader');
        if (r.rolconnlimit !== 1) throw new Error(`reader still has connection limit ${r.rolconnlimit}`);
        if ((await roleRow('dropme')) !== undefined) throw new Error('dropme still exists');
      },
      40000,
      500,
    );
    const seconds = ((Date.now() - t0) / 1000).toFixed(1);
    expect(await memberOf('reader')).toEqual(['pg_monitor', 'pg_read_all_data']);
    expect(postmasterPid()).toBe(pid);
    // The limit of 1 is real: a second session of reader is refused.
    const reader = h.connectionFromUri(h.secretData(`${NAME}-reader-role`)!.uri);
    const { Client } = await import('pg');
    const first = new Client(reader);
    await first.connect();
    try {
      await expect(query(reader, 'SELECT 1')).rejects.toThrow(/too many connections for role "reader"/);
    } finally {
      await first.end();
    }

    expect(await roleRow('table_owner')).toBeDefined();
    const kept = await h.pods[0].process!.waitForLog(l => /role table_owner is declared absent/.test(l.msg ?? ''), 10000);
    expect(kept.level).toBe('error');
    expect(kept.msg).toMatch(/owns 1 object\(s\) in database app: not dropped/);
    expect(kept.fix).toMatch(/in each of app run REASSIGN OWNED BY table_owner TO <new owner>; DROP OWNED BY table_owner/);
    expect((await query(su(), 'SELECT count(*)::int AS n FROM owned'))[0].n).toBe(0);

    await eventually(async () => {
      const rules = await hbaRules();
      if (!rules.includes('hostssl all 192.168.0.0 reject')) throw new Error(`pg_hba rules: ${rules.join('; ')}`);
      expect(rules[rules.length - 1]).toMatch(/^(host|hostssl) all all scram-sha-256$/);
      expect(rules[rules.length - 2]).toBe('hostssl all 192.168.0.0 reject');
    }, 20000);
    // eslint-disable-next-line no-console
    console.log(`[managed-roles] git change applied live in ${seconds} s (connection limit, membership, drop); postmaster PID ${pid} unchanged`);

    // Once the owner gives the table away, the next check drops the role (no restart, no change in git).
    await query(su(), 'ALTER TABLE owned OWNER TO app');
    await eventually(
      async () => {
        if ((await roleRow('table_owner')) !== undefined) throw new Error('table_owner still exists');
      },
      90000,
      1000,
    );
    // Re-checks (every 30 s while vector stays refused) alter nothing that already matches: one alteration, from git.
    const changes = logs(/^managed roles, schemas and extensions reconciled$/).flatMap(l => l.changes as string[]);
    expect(changes.filter(c => c === 'altered role reader')).toHaveLength(1);
    expect(changes.filter(c => c === 'created role reader')).toHaveLength(1);
    expect(logs(/extension vector/)).toHaveLength(1);
  });

  test('the ConfigMap carries the managed objects, the pod template none of them', () => {
    const env = JSON.stringify(h.statefulSet.spec.template.spec.containers[0].env);
    expect(env).not.toMatch(/reader|postgis/);
    expect(JSON.parse(h.configMapData()[MANAGED_OBJECTS_KEY]).roles.map((r: any) => r.name)).toEqual(['reader', 'dropme', 'table_owner']);
  });
});

/**
 * PostgreSQL 17 (the npm package's server binaries): role memberships have grantors since 16, and pg_maintain exists
 * from 17; the same reconcile grants and revokes them, and a read-only role reads and cannot write.
 */
describe('managed roles on PostgreSQL 17', () => {
  const NAME17 = 'roles-pg17';
  const v17 = (roles: PostgresClusterProps['roles']) => synthCluster(NAME17, { instances: 1, postgresVersion: 17, roles });
  const h = new ClusterHarness(v17([{ name: 'reader', inRoles: ['pg_read_all_data', 'pg_maintain'] }, { name: 'gone' }]), NAME17);
  let pg17: { bin: string; dir: string };
  let superuser = '';
  const memberOf = async (name: string) =>
    (
      await query(
        h.direct(0, 'postgres', superuser, 'app'),
        'SELECT DISTINCT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1 ORDER BY 1',
        [name],
      )
    ).map(r => r.rolname);

  beforeAll(async () => {
    pg17 = preparePg17(h.user);
    await h.start();
    const secrets = await h.runSecretsJob();
    if ((await secrets.exited) !== 0) throw new Error(`secrets Job failed:\n${secrets.lines.join('\n')}`);
    h.startInstance(0, {}, { pgBin: pg17.bin });
    await h.waitReady(0, 120000);
    superuser = h.secretData(`${NAME17}-superuser`)!.password;
    const app = h.connectionFromUri(h.secretData(`${NAME17}-app`)!.uri);
    await query(app, 'CREATE TABLE t (id int)');
    await query(app, 'INSERT INTO t VALUES (1)');
  });
  afterAll(async () => {
    await h.stop();
    if (pg17) fs.rmSync(pg17.dir, { recursive: true, force: true });
  });

  test('granted, read-only, then a membership revoked and a role dropped from git', async () => {
    const reader = h.connectionFromUri(h.secretData(`${NAME17}-reader-role`)!.uri);
    expect(await eventually(() => query(reader, 'SELECT id FROM t'), 40000, 500)).toEqual([{ id: 1 }]);
    await expect(query(reader, 'INSERT INTO t VALUES (2)')).rejects.toThrow(/permission denied for table t/);
    expect(await memberOf('reader')).toEqual(['pg_maintain', 'pg_read_all_data']);
    const next = v17([
      { name: 'reader', inRoles: ['pg_read_all_data'] },
      { name: 'gone', ensure: 'absent' },
    ]);
    h.updateConfigMap(next.find(o => o.kind === 'ConfigMap')!.data);
    await eventually(
      async () => {
        if ((await memberOf('reader')).includes('pg_maintain')) throw new Error('pg_maintain not revoked yet');
        if ((await query(h.direct(0, 'postgres', superuser, 'app'), "SELECT 1 FROM pg_roles WHERE rolname = 'gone'")).length)
          throw new Error('gone still exists');
      },
      40000,
      500,
    );
    expect(await memberOf('reader')).toEqual(['pg_read_all_data']);
    const errors = h.pods[0].process!.logs().filter(l => l.level === 'error');
    expect(errors).toEqual([]);
  });
});
