/**
 * bootstrap.import (dist/gitea-upgrade, examples/major-upgrade.ts): the PostgreSQL 17 cluster gitea-pg17 imports a
 * running PostgreSQL 15 server (Debian's, on loopback, standing in for the old cluster's -rw Service): rows, roles
 * (no password, no superuser), owners mapped to the declared owner, the extensions, and the source untouched.
 * Before that, on the same volume, the bad inputs: a newer-major source (a 17 server into a 15 instance), an
 * unreachable source, a wrong password and a failure in the middle of the import; each gives one error line with
 * the fix, leaves nothing behind (no data directory, no side directory, no dump, no Lease) and the pod not ready.
 *
 * The npm package of PostgreSQL 17 ships only its server binaries: pg_dumpall, pg_dump and pg_restore are Debian's
 * 15 client tools here (in the agent:17 image they are 17's).
 */
import * as fs from 'fs';
import * as path from 'path';
import { ClusterHarness, eventually, freePort, query } from '../support/cluster-harness';
import { EXTERNAL_SUPERUSER_PASSWORD, ExternalPostgres, startExternalPostgres } from '../support/external-postgres';
import { preparePg17 } from '../support/pg17';

jest.setTimeout(240000);

const CLUSTER = 'gitea-pg17';
const OLD_GITEA_PASSWORD = 'gitea-on-pg15';
const ROWS = 3000;

describe('bootstrap.import from a PostgreSQL 15 server into a PostgreSQL 17 cluster (dist/gitea-upgrade)', () => {
  let source: ExternalPostgres;
  let newer: ExternalPostgres;
  let pg17: { bin: string; dir: string };
  let h: ClusterHarness;
  let before: { checksum: string; counters: Record<string, string> };

  /** What must never change on the source: the table's content and the database's write counters. */
  async function sourceState() {
    const [c] = await source.query(
      "SELECT md5(string_agg(id || ':' || name || ':' || coalesce(attrs::text, ''), ',' ORDER BY id)) AS checksum FROM repo",
      [],
      'gitea',
    );
    await source.query('SELECT pg_stat_force_next_flush()', [], 'gitea');
    const [counters] = await source.query(
      "SELECT tup_inserted::text, tup_updated::text, tup_deleted::text FROM pg_stat_database WHERE datname = 'gitea'",
    );
    return { checksum: c.checksum as string, counters };
  }

  beforeAll(async () => {
    h = new ClusterHarness('gitea-upgrade.k8s.yaml', CLUSTER);
    pg17 = preparePg17(h.user);
    source = await startExternalPostgres({ replicationUser: 'replicator', replicationPassword: 'unused' });
    newer = await startExternalPostgres({ replicationUser: 'replicator', replicationPassword: 'unused', pgBin: pg17.bin });
    // The old cluster's content: the app's owner, a reader through a group, a superuser of its own, two extensions,
    // a table owned by another role (its owner becomes the declared one).
    await source.query(`CREATE ROLE gitea LOGIN PASSWORD '${OLD_GITEA_PASSWORD}'`);
    await source.query("CREATE ROLE gitea_reader LOGIN PASSWORD 'reader-on-pg15'");
    await source.query('CREATE ROLE analysts NOLOGIN');
    await source.query('GRANT analysts TO gitea_reader');
    await source.query("CREATE ROLE old_admin SUPERUSER LOGIN PASSWORD 'admin-on-pg15'");
    await source.query('CREATE DATABASE gitea OWNER gitea');
    const asGitea = source.connection('gitea', 'gitea', OLD_GITEA_PASSWORD);
    await query(asGitea, 'CREATE EXTENSION hstore'); // trusted: the owner may create it
    await query(asGitea, 'CREATE EXTENSION pg_trgm');
    await query(asGitea, 'CREATE TABLE repo (id int PRIMARY KEY, name text NOT NULL, attrs hstore)');
    await query(asGitea, 'CREATE INDEX repo_name_trgm ON repo USING gin (name gin_trgm_ops)');
    await query(
      asGitea,
      `INSERT INTO repo SELECT i, 'repo-' || i, hstore('lang', CASE WHEN i % 2 = 0 THEN 'go' ELSE 'rust' END) FROM generate_series(1, ${ROWS}) i`,
    );
    await query(asGitea, 'GRANT SELECT ON repo TO analysts');
    await source.query('CREATE TABLE audit (at timestamptz DEFAULT now(), what text)', [], 'gitea');
    await source.query("INSERT INTO audit (what) VALUES ('created by old_admin''s predecessor')", [], 'gitea');
    // An extension PostgreSQL 17 no longer has, in the source's postgres database (for the failure mid-import).
    await source.query('CREATE EXTENSION adminpack');
    before = await sourceState();

    await h.start();
    // The import reads the old cluster's superuser Secret; here: the test server's superuser.
    h.seedSecret('gitea-pg-superuser', { username: 'postgres', password: EXTERNAL_SUPERUSER_PASSWORD });
    h.seedSecret('gitea-pg-ca', { 'ca.crt': 'not used: the test server is reached with sslmode require' });
    expect(await (await h.runSecretsJob()).exited).toBe(0);
  });
  afterAll(async () => {
    await h?.stop();
    await source?.stop();
    await newer?.stop();
    if (pg17) fs.rmSync(pg17.dir, { recursive: true, force: true });
  });

  const manifestImport = () =>
    JSON.parse(
      (h.statefulSet.spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>).find(e => e.name === 'PGC_IMPORT')!.value!,
    );
  /** The manifest's import, pointed at a server of this test (the old cluster's -rw Service is not here). */
  const importEnv = (port: number, change: Record<string, unknown> = {}) => {
    const spec = manifestImport();
    return JSON.stringify({ ...spec, source: { host: '127.0.0.1', port, user: spec.source.user, sslmode: 'require' }, ...change });
  };
  const pgdata = () => path.join(h.pods[0].dataDir, 'pgdata');
  const leftovers = () => fs.readdirSync(h.pods[0].dataDir).filter(f => f.startsWith('pgdata'));

  /**
   * Starts ordinal 0 (attempts every 3 s), waits for its error line, checks that nothing was left between two
   * attempts, that it tried again with still one error line, and that it is alive, not ready; then kills the pod.
   */
  async function refused(env: Record<string, string>, pgBin: string | undefined, message: RegExp): Promise<any> {
    const p = h.startInstance(0, { PGC_IMPORT_RETRY_SECONDS: '3', ...env }, { pgBin });
    try {
      const line = await p.waitForLog(l => l.level === 'error', 60000);
      // Within the 3 s before the next attempt: nothing was kept (no data, no side directory, no dump), no Lease.
      expect(fs.existsSync(path.join(pgdata(), 'PG_VERSION'))).toBe(false);
      expect(leftovers().filter(f => f !== 'pgdata')).toEqual([]);
      expect(h.api.get('Lease', h.namespace, `${CLUSTER}-primary`)).toBeUndefined();
      expect(line.msg).toMatch(message);
      expect(line.msg).toMatch(/nothing of it was kept, the instance stays not ready and starts over every 3 s/);
      expect((await h.httpGet(0, '/healthz')).status).toBe(200);
      const ready = await h.httpGet(0, '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body).toMatch(/the import from postgres@127.0.0.1:\d+ failed/);
      // The next attempt runs and fails the same way: still one error line.
      await p.waitForLog(l => l.msg === 'import: starting (initdb, then roles and databases from the source)' && l.attempt === 2, 30000);
      await p.waitForLog(l => l.msg === 'import: attempt failed the same way' && l.attempt === 2, 60000);
      expect(p.logs().filter(l => l.level === 'error' || l.level === 'fatal')).toHaveLength(1);
      return line;
    } finally {
      p.killPod();
      await p.exited;
    }
  }

  test('the manifest: the old cluster reached on its -rw Service as its superuser, verify-full with its CA', () => {
    expect(manifestImport()).toEqual({
      source: { host: 'gitea-pg-rw', port: 5432, user: 'postgres', sslmode: 'verify-full', sslRootCert: '/etc/pg-agent/import-source-ca/ca.crt' },
      roles: 'withoutPasswords',
      jobs: 2,
    });
  });

  test('a source of a newer major (a 17 server into a 15 instance) is refused before anything is dumped', async () => {
    const line = await refused(
      { PGC_IMPORT: importEnv(newer.port) },
      undefined,
      /runs PostgreSQL 17 \(server_version_num 17\d{4}\), newer than this cluster's 15/,
    );
    expect(line.fix).toMatch(/Set postgresVersion to 17 or later/);
  });

  test('an unreachable source: one error line, retried, nothing kept', async () => {
    const closed = await freePort();
    const line = await refused({ PGC_IMPORT: importEnv(closed) }, pg17.bin, /ECONNREFUSED|connect/);
    expect(line.kind).toBe('unreachable');
    expect(line.fix).toMatch(/answers from the pods/);
  });

  test('a wrong password: one error line naming the Secret, nothing kept', async () => {
    const line = await refused({ PGC_IMPORT: importEnv(source.port), PGC_IMPORT_PASSWORD: 'wrong' }, pg17.bin, /password authentication failed/);
    expect(line.kind).toBe('refused');
    expect(line.fix).toMatch(/password Secret/);
  });

  test('a failure in the middle (after initdb and the roles): the side directory and the private server are gone', async () => {
    const line = await refused(
      { PGC_IMPORT: importEnv(source.port, { databases: ['postgres'] }) },
      pg17.bin,
      /database postgres of the source uses extension\(s\) adminpack, which this cluster's image does not have/,
    );
    expect(line.fix).toMatch(/Use an image with these extensions/);
    // Its initdb ran: the attempts got that far, and their side directory was removed each time.
    const p = h.pods[0].process!;
    expect(p.logs().some(l => /initializing a new cluster/.test(l.msg ?? ''))).toBe(true);
    expect(p.logs().some(l => /role\(s\) imported/.test(l.msg ?? ''))).toBe(true);
    expect(fs.existsSync(path.join(h.pods[0].runDir, 'import'))).toBe(false);
  });

  test('the import: ready as a PostgreSQL 17 primary with the rows, roles, owners and extensions; the source untouched', async () => {
    // What a pod killed in the middle of an import leaves: a side directory and a dump. The next start removes both.
    for (const [dir, file] of [
      ['pgdata.partial', 'PG_VERSION'],
      ['pgdata.import-dump', 'toc.dat'],
    ]) {
      const at = path.join(h.pods[0].dataDir, dir);
      fs.mkdirSync(at);
      fs.writeFileSync(path.join(at, file), 'left by a killed import\n');
      if (h.user) for (const f of [at, path.join(at, file)]) fs.chownSync(f, h.user.uid, h.user.gid);
    }
    const p = h.startInstance(0, { PGC_IMPORT: importEnv(source.port) }, { pgBin: pg17.bin });
    await h.waitReady(0, 150000);
    const logs = p.logs();
    expect(logs.filter(l => l.level === 'warn').map(l => l.msg)).toEqual(
      expect.arrayContaining(['removing the leftovers of an interrupted bootstrap', 'removing the dump of an interrupted import']),
    );
    expect(logs.find(l => l.msg === 'start plan')?.plan).toBe('import');
    expect(logs.filter(l => l.level === 'error' || l.level === 'fatal')).toEqual([]);
    expect(logs.some(l => l.msg === 'import: gitea imported' && l.owner === 'gitea')).toBe(true);
    expect(logs.some(l => l.msg === 'import: extensions created' && l.extensions.join() === 'hstore,pg_trgm')).toBe(true);
    // Never a password in the log.
    expect(p.lines.join('\n')).not.toMatch(/reader-on-pg15|admin-on-pg15|SCRAM-SHA-256\$/);
    expect(fs.readFileSync(path.join(pgdata(), 'PG_VERSION'), 'utf8').trim()).toBe('17');
    expect(leftovers()).toEqual(['pgdata']);
    await eventually(async () => expect(h.podLabels(`${CLUSTER}-0`)['postgres.cdk8s.io/role']).toBe('primary'));

    // The app Secret describes the new cluster: gitea logs in with it, owns its database and every object.
    const app = h.connectionFromUri(h.secretData(`${CLUSTER}-app`)!.uri);
    const rows = await eventually(() => query(app, "SELECT count(*)::int AS n, count(*) FILTER (WHERE attrs -> 'lang' = 'go')::int AS go FROM repo"));
    expect(rows[0]).toEqual({ n: ROWS, go: ROWS / 2 });
    expect((await query(app, 'SELECT version() AS v'))[0].v).toMatch(/^PostgreSQL 17\./);
    const [similar] = await query(app, "SELECT name FROM repo ORDER BY similarity(name, 'repo-2999') DESC LIMIT 1");
    expect(similar.name).toBe('repo-2999');
    const [checksum] = await query(
      app,
      "SELECT md5(string_agg(id || ':' || name || ':' || coalesce(attrs::text, ''), ',' ORDER BY id)) AS checksum FROM repo",
    );
    expect(checksum.checksum).toBe(before.checksum);
    const owners = await query(
      app,
      "SELECT c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class c WHERE c.relname IN ('repo', 'audit', 'repo_pkey', 'repo_name_trgm') ORDER BY 1",
    );
    expect(owners).toEqual([
      { relname: 'audit', owner: 'gitea' },
      { relname: 'repo', owner: 'gitea' },
      { relname: 'repo_name_trgm', owner: 'gitea' },
      { relname: 'repo_pkey', owner: 'gitea' },
    ]);
    expect((await query(app, 'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = current_database()'))[0].owner).toBe('gitea');
    expect(await query(app, 'SELECT extname FROM pg_extension ORDER BY 1')).toEqual([
      { extname: 'hstore' },
      { extname: 'pg_trgm' },
      { extname: 'plpgsql' },
    ]);
    // The old password is gone (the declared owner has this cluster's), the app writes.
    await expect(query({ ...app, password: OLD_GITEA_PASSWORD }, 'SELECT 1')).rejects.toThrow(/password authentication failed/);
    await query(app, "INSERT INTO repo VALUES (0, 'first-on-17', NULL)");

    // Roles: imported without passwords and without SUPERUSER; memberships and grants kept.
    const su = h.secretData(`${CLUSTER}-superuser`)!;
    const admin = h.direct(0, 'postgres', su.password, 'gitea');
    const roles = await query(
      admin,
      "SELECT rolname, rolsuper, rolcanlogin, rolpassword IS NULL AS nopassword FROM pg_authid WHERE rolname IN ('gitea_reader', 'analysts', 'old_admin') ORDER BY 1",
    );
    expect(roles).toEqual([
      { rolname: 'analysts', rolsuper: false, rolcanlogin: false, nopassword: true },
      { rolname: 'gitea_reader', rolsuper: false, rolcanlogin: true, nopassword: true },
      { rolname: 'old_admin', rolsuper: false, rolcanlogin: true, nopassword: true },
    ]);
    const [grants] = await query(
      admin,
      "SELECT pg_has_role('gitea_reader', 'analysts', 'MEMBER') AS member, has_table_privilege('analysts', 'repo', 'SELECT') AS can_read",
    );
    expect(grants).toEqual({ member: true, can_read: true });

    // The source was only read: the same content, no row written in its database.
    expect(await sourceState()).toEqual(before);
    expect((await source.query('SELECT count(*)::int AS n FROM repo', [], 'gitea'))[0].n).toBe(ROWS);
  });
});
