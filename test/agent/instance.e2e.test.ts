/**
 * The instance issue's end-to-end drill: the secrets Job and two instance pods of dist/shared-apps.k8s.yaml run as
 * processes with the manifests' command, args and env, against real PostgreSQL binaries and the API double.
 */
import * as fs from 'fs';
import * as path from 'path';
import { APP_SECRET_KEYS, LABELS } from '../../lib/contract';
import { ClusterHarness, eventually, query, sleep } from '../support/cluster-harness';

jest.setTimeout(180000);

describe('instance e2e: shared-pg from dist/ (2 instances, 3 databases)', () => {
  const h = new ClusterHarness('shared-apps.k8s.yaml', 'shared-pg', { podRoot: true });
  const app = (db: string) => h.secretData(`shared-pg-${db}-app`)!;

  beforeAll(async () => {
    await h.start();
    // The BackupStore's credentials, which the user manages (Rook creates them in the homelab).
    h.seedSecret('rook-ceph-object-user-rgw-bulk-cnpg-backup-shared', { AccessKey: 'unused-here', SecretKey: 'unused-here' });
  });
  afterAll(async () => {
    await h.stop();
  });

  test('the secrets Job creates every Secret with the CloudNativePG keys, and a second run changes nothing', async () => {
    const first = await h.runSecretsJob();
    expect({ code: await first.exited, log: first.lines }).toEqual({ code: 0, log: expect.anything() });
    for (const db of ['mastodon', 'nextcloud', 'gitea']) {
      const data = app(db);
      expect(Object.keys(data).sort()).toEqual([...APP_SECRET_KEYS].sort());
      expect(data.password).toMatch(/^[A-Za-z0-9]{48}$/);
      expect(data.uri).toBe(`postgresql://${db}:${data.password}@shared-pg-rw.databases:5432/${db}?sslmode=verify-full`);
    }
    // The first database's Secret is also <cluster>-app, with the same password.
    expect(h.secretData('shared-pg-app')).toEqual(app('mastodon'));
    expect(h.secretData('shared-pg-superuser')!.username).toBe('postgres');
    const passwords = ['mastodon', 'nextcloud', 'gitea'].map(db => app(db).password);
    expect(new Set(passwords).size).toBe(3);
    const versions = () =>
      ['shared-pg-app', 'shared-pg-mastodon-app', 'shared-pg-replication'].map(
        n => (h.api.get('secrets', h.namespace, n) as any).metadata.resourceVersion,
      );
    const before = versions();
    const second = await h.runSecretsJob();
    expect(await second.exited).toBe(0);
    expect(versions()).toEqual(before);
    expect(second.logs().some(l => l.msg === 'secrets ensured' && l.created === 0)).toBe(true);
    // Nothing the agent logged carries a password.
    const all = [...first.lines, ...second.lines].join('\n');
    for (const pw of passwords) expect(all).not.toContain(pw);
  });

  test('ordinal 0 bootstraps the primary, ordinal 1 clones it and streams; the pods are labelled', async () => {
    h.startInstance(0);
    h.startInstance(1);
    await h.waitReady(0, 90000);
    await h.waitReady(1, 90000);
    expect(h.podLabels('shared-pg-0')[LABELS.role]).toBe('primary');
    expect(h.podLabels('shared-pg-1')[LABELS.role]).toBe('replica');
    const su = h.secretData('shared-pg-superuser')!;
    const [checksums] = await query(h.direct(0, 'postgres', su.password, 'postgres'), 'SHOW data_checksums');
    expect(checksums.data_checksums).toBe('on');
    const replicas = await query(h.direct(0, 'postgres', su.password, 'postgres'), 'SELECT application_name, state FROM pg_stat_replication');
    expect(replicas).toEqual([{ application_name: 'shared-pg-1', state: 'streaming' }]);
    const slots = await query(h.direct(0, 'postgres', su.password, 'postgres'), 'SELECT slot_name, active FROM pg_replication_slots');
    expect(slots).toEqual([{ slot_name: 'shared_pg_1', active: true }]);
    const hba = fs.readFileSync(path.join(h.pods[0].dataDir, 'pgdata', 'pg_hba.conf'), 'utf8');
    // Passwords (SCRAM) for everyone; the one exception is the agent itself, on the pod's private socket, by peer
    // authentication mapped from its OS user (so a superuser password rotation cannot lock it out).
    const rules = hba
      .split('\n')
      .filter(l => l && !l.startsWith('#'))
      .map(l => l.split(/\s+/).join(' '));
    expect(rules.filter(l => !l.endsWith('scram-sha-256'))).toEqual(['local all postgres peer map=agent']);
    expect(fs.readFileSync(path.join(h.pods[0].dataDir, 'pgdata', 'pg_ident.conf'), 'utf8')).toMatch(/^agent +postgres +postgres$/m);
    // The agent logs JSON lines only.
    for (const line of h.pods[0].process!.lines) expect(() => JSON.parse(line)).not.toThrow();
  });

  test('the app user connects with uri, jdbc-uri and pgpass; a row on the primary reaches the replica', async () => {
    const data = app('mastodon');
    await query(h.connectionFromUri(data.uri), 'CREATE TABLE toots (id serial PRIMARY KEY, body text, at timestamptz DEFAULT now())');
    await query(h.connectionFromUri(data.uri), "INSERT INTO toots (body) VALUES ('hello')");
    const jdbc = /^jdbc:postgresql:\/\/([^:/]+):(\d+)\/([^?]+)\?password=([^&]+)&user=([^&]+)&sslmode=verify-full$/.exec(data['jdbc-uri'])!;
    expect(jdbc).not.toBeNull();
    const viaJdbc = await query(
      {
        host: h.serviceIps[jdbc[1].split('.')[0]],
        port: Number(jdbc[2]),
        database: jdbc[3],
        password: decodeURIComponent(jdbc[4]),
        user: jdbc[5],
        ssl: h.clientSsl(),
      },
      'SELECT count(*)::int AS n FROM toots',
    );
    expect(viaJdbc[0].n).toBe(1);
    const [host, port, db, user, password] = data.pgpass.trim().split(':');
    expect(host).toBe('shared-pg-rw');
    const viaPgpass = await query(
      { host: h.serviceIps[host], port: Number(port), database: db, user, password, ssl: h.clientSsl() },
      'SELECT current_user AS u',
    );
    expect(viaPgpass[0].u).toBe('mastodon');
    const onReplica = await eventually(async () => {
      const rows = await query(h.direct(1, 'mastodon', data.password, 'mastodon'), "SELECT body FROM toots WHERE body = 'hello'");
      if (rows.length !== 1) throw new Error('not replicated yet');
      return rows;
    }, 10000);
    expect(onReplica).toEqual([{ body: 'hello' }]);
  });

  test("an app user cannot connect to another app's database; the replica refuses writes", async () => {
    const mastodon = app('mastodon');
    await expect(query(h.direct(0, 'mastodon', mastodon.password, 'nextcloud'), 'SELECT 1')).rejects.toThrow(
      /permission denied for database "nextcloud"/,
    );
    await expect(query(h.direct(0, 'mastodon', 'wrong-password', 'mastodon'), 'SELECT 1')).rejects.toThrow(/password authentication failed/);
    await expect(query(h.direct(1, 'mastodon', mastodon.password, 'mastodon'), "INSERT INTO toots (body) VALUES ('x')")).rejects.toThrow(
      /read-only transaction/,
    );
    const ro = await query(h.connectionFromUri(mastodon.uri.replace('shared-pg-rw', 'shared-pg-ro')), 'SELECT pg_is_in_recovery() AS r');
    expect(ro[0].r).toBe(true);
  });

  test('metrics report role and replication lag', async () => {
    // Metrics reflect the last status tick (once a second): poll until the replica shows up.
    const m0 = await eventually(async () => {
      const m = await h.httpGet(0, '/metrics');
      if (!/replica="shared-pg-1"/.test(m.body)) throw new Error('replica not in metrics yet');
      return m;
    }, 10000);
    expect(m0.body).toContain('pgc_role{cluster="shared-pg",pod="shared-pg-0",role="primary"} 1');
    expect(m0.body).toMatch(/pgc_replication_lag_bytes\{cluster="shared-pg",pod="shared-pg-0",replica="shared-pg-1"\} \d+/);
    const m1 = await h.httpGet(1, '/metrics');
    expect(m1.body).toContain('role="replica"} 1');
    expect((await h.httpGet(0, '/healthz')).status).toBe(200);
  });

  test("kill -9 of the primary's postgres: the agent restarts it, the replica reconnects, nothing committed is lost", async () => {
    const data = app('mastodon');
    const rw = h.connectionFromUri(data.uri);
    for (let i = 0; i < 50; i++) await query(rw, 'INSERT INTO toots (body) VALUES ($1)', [`row ${i}`]);
    const committed = (await query(rw, 'SELECT count(*)::int AS n FROM toots'))[0].n;
    const postmasterPid = Number(fs.readFileSync(path.join(h.pods[0].dataDir, 'pgdata', 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(postmasterPid, 'SIGKILL');
    await h.pods[0].process!.waitForLog(l => /restarting/.test(l.msg ?? ''), 10000);
    await eventually(async () => {
      const n = (await query(rw, 'SELECT count(*)::int AS n FROM toots'))[0].n;
      expect(n).toBe(committed);
    }, 30000);
    await query(rw, "INSERT INTO toots (body) VALUES ('after crash')");
    await eventually(async () => {
      const rows = await query(h.direct(1, 'mastodon', data.password, 'mastodon'), 'SELECT count(*)::int AS n FROM toots');
      expect(rows[0].n).toBe(committed + 1);
    }, 30000);
    const metrics = await h.httpGet(0, '/metrics');
    // At least one restart (on a loaded machine a restart attempt can itself fail and be retried with backoff).
    const restarts = Number(/pgc_postgres_restarts_total\{cluster="shared-pg",pod="shared-pg-0"\} (\d+)/.exec(metrics.body)![1]);
    expect(restarts).toBeGreaterThanOrEqual(1);
  });

  test('SIGTERM stops both instances cleanly within the grace period', async () => {
    const started = Date.now();
    h.pods[1].process!.kill('SIGTERM');
    h.pods[0].process!.kill('SIGTERM');
    expect(await h.pods[1].process!.exited).toBe(0);
    expect(await h.pods[0].process!.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(55000);
    await sleep(10);
  });
});
