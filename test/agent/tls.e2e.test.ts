/**
 * Issue 15, TLS everywhere (dist/shared-apps.k8s.yaml, shared-pg, 2 instances, mode "generated"), with real
 * clients: a plaintext connection is refused; psql, node `pg` and JDBC connect with sslmode=verify-full against the
 * CA of Secret <cluster>-ca, by the Service's name; the replica streams over TLS (pg_stat_ssl of its walsender); a
 * certificate close to expiry is renewed by the primary and picked up by both instances with a reload (same
 * postmaster, new serial seen by a client).
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Client } from 'pg';
import { TLSSocket, checkServerIdentity } from 'tls';
import { TLS_KEYS, tlsNames } from '../../lib/contract';
import { createServerCertificate, describeCertificate } from '../../agent/src/tls/certificates';
import { ClusterHarness, eventually, query } from '../support/cluster-harness';
import { say } from '../support/safety-drills';

jest.setTimeout(300000);

const NAME = 'shared-pg';
const RW_NAME = `${NAME}-rw.databases.svc.cluster.local`;

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise(resolve =>
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout: 120000 }, (e, out, err) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out: String(out), err: String(err) }),
    ),
  );
}

describe('TLS everywhere (generated CA, 2 instances)', () => {
  const h = new ClusterHarness('shared-apps.k8s.yaml', NAME);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgc-tls-'));
  const caFile = path.join(dir, 'ca.crt');
  let su = '';
  const rwIp = () => h.serviceIps[`${NAME}-rw`];
  /** node pg over the -rw Service, verifying the chain and the Service's FQDN. */
  const verified = (database = 'postgres') =>
    new Client({
      host: rwIp(),
      port: 5432,
      user: 'postgres',
      password: su,
      database,
      connectionTimeoutMillis: 5000,
      ssl: { ca: fs.readFileSync(caFile, 'utf8'), servername: RW_NAME, checkServerIdentity: (_h, cert) => checkServerIdentity(RW_NAME, cert) },
    });
  async function servedSerial(c: Client): Promise<string> {
    await c.connect();
    try {
      const stream = (c as unknown as { connection: { stream: TLSSocket } }).connection.stream;
      return stream.getPeerCertificate().serialNumber.toLowerCase();
    } finally {
      await c.end();
    }
  }

  beforeAll(async () => {
    await h.start();
    h.seedSecret('rook-ceph-object-user-rgw-bulk-cnpg-backup-shared', { AccessKey: 'unused-here', SecretKey: 'unused-here' });
    const secrets = await h.runSecretsJob();
    if ((await secrets.exited) !== 0) throw new Error(secrets.lines.join('\n'));
    su = h.secretData(`${NAME}-superuser`)!.password;
    // What an application mounts: key ca.crt of Secret <cluster>-ca.
    fs.writeFileSync(caFile, h.secretData(tlsNames.caSecret(NAME))![TLS_KEYS.ca]);
    h.startInstance(0);
    h.startInstance(1);
    await h.waitReady(0, 120000);
    await h.waitReady(1, 120000);
  });
  afterAll(async () => {
    await h.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the secrets Job generated the CA and certificate in-cluster; <cluster>-ca holds only ca.crt; the app URIs ask for verify-full', () => {
    const server = h.secretData(tlsNames.serverSecret(NAME))!;
    const ca = h.secretData(tlsNames.caSecret(NAME))!;
    expect(Object.keys(ca)).toEqual([TLS_KEYS.ca]);
    expect(Object.keys(server).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(server['ca.crt']).toBe(ca['ca.crt']);
    expect(describeCertificate(server['tls.crt']).sans).toEqual(
      expect.arrayContaining([`${NAME}-rw`, RW_NAME, `${NAME}-ro`, `${NAME}-r`, `${NAME}-1`]),
    );
    const app = h.secretData(`${NAME}-app`)!;
    expect(app.uri).toMatch(/\?sslmode=verify-full$/);
    expect(app['jdbc-uri']).toMatch(/&sslmode=verify-full$/);
    // Nothing of it in dist/.
    const dist = fs.readFileSync(path.join(__dirname, '../../dist/shared-apps.k8s.yaml'), 'utf8');
    expect(dist).not.toContain('PRIVATE KEY');
    expect(dist).not.toContain('BEGIN CERTIFICATE');
  });

  test('psql: sslmode=disable is refused, verify-full with the CA by the Service name works', async () => {
    const base = [`port=5432`, `hostaddr=${rwIp()}`, `host=${RW_NAME}`, 'user=postgres', 'dbname=postgres', 'connect_timeout=5'];
    const plain = await run('psql', ['-XAtc', 'SELECT 1', [...base, 'sslmode=disable'].join(' ')], { PGPASSWORD: su });
    expect(plain.code).not.toBe(0);
    expect(plain.err).toMatch(/no pg_hba.conf entry .*no encryption/);
    const tls = await run(
      'psql',
      [
        '-XAtc',
        'SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
        [...base, 'sslmode=verify-full', `sslrootcert=${caFile}`].join(' '),
      ],
      { PGPASSWORD: su },
    );
    expect(tls).toMatchObject({ code: 0, out: expect.stringMatching(/^t\|TLSv1\.[23]\n$/) });
    // A name the certificate does not carry is refused by verify-full.
    const wrong = await run(
      'psql',
      [
        '-XAtc',
        'SELECT 1',
        [...base.slice(0, 2), 'host=not-this-cluster', 'user=postgres', 'dbname=postgres', 'sslmode=verify-full', `sslrootcert=${caFile}`].join(' '),
      ],
      {
        PGPASSWORD: su,
      },
    );
    expect(wrong.err).toMatch(/does not match host name/);
  });

  test('node pg: plaintext refused, verify-full with the CA works', async () => {
    await expect(query({ host: rwIp(), port: 5432, user: 'postgres', password: su, database: 'postgres', ssl: false }, 'SELECT 1')).rejects.toThrow(
      /no encryption/,
    );
    const c = verified();
    await c.connect();
    const [row] = (await c.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows;
    await c.end();
    expect(row.ssl).toBe(true);
  });

  test('JDBC (pgJDBC from Debian) with sslmode=verify-full and the CA file', async () => {
    // The Service name resolves to its loopback IP for the JVM only (what cluster DNS does in a pod).
    const hosts = path.join(dir, 'hosts');
    fs.writeFileSync(hosts, `${rwIp()} ${RW_NAME}\n`);
    const src = path.join(dir, 'TlsCheck.java');
    fs.writeFileSync(
      src,
      `import java.sql.*;
public class TlsCheck {
  public static void main(String[] a) throws Exception {
    try (Connection c = DriverManager.getConnection(a[0], "postgres", a[1]);
         ResultSet r = c.createStatement().executeQuery("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")) {
      r.next();
      System.out.println("ssl=" + r.getBoolean(1));
    }
  }
}
`,
    );
    const url = (mode: string) => `jdbc:postgresql://${RW_NAME}:5432/postgres?sslmode=${mode}&sslrootcert=${caFile}&connectTimeout=10`;
    const java = (mode: string) => run('java', [`-Djdk.net.hosts.file=${hosts}`, '-cp', '/usr/share/java/postgresql.jar', src, url(mode), su]);
    const ok = await java('verify-full');
    expect({ code: ok.code, out: ok.out.trim(), err: ok.code ? ok.err.slice(0, 2000) : '' }).toEqual({ code: 0, out: 'ssl=true', err: '' });
    const plain = await java('disable');
    expect(plain.code).not.toBe(0);
    expect(plain.err).toMatch(/no encryption/);
  });

  test('the replica streams with verify-full: pg_stat_ssl shows TLS on its walsender', async () => {
    const rows = await eventually(async () => {
      const r = await query(
        h.direct(0, 'postgres', su, 'postgres'),
        'SELECT r.application_name, s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)',
      );
      if (r.length !== 1) throw new Error(`walsenders: ${JSON.stringify(r)}`);
      return r;
    }, 30000);
    expect(rows).toEqual([{ application_name: `${NAME}-1`, ssl: true }]);
    const conf = fs.readFileSync(path.join(h.pods[1].dataDir, 'pgdata', 'postgresql.conf'), 'utf8');
    expect(conf).toMatch(/^primary_conninfo = '.*sslmode=verify-full sslrootcert=\S+ca\.crt.*'$/m);
    const hba = fs.readFileSync(path.join(h.pods[0].dataDir, 'pgdata', 'pg_hba.conf'), 'utf8');
    expect(
      hba
        .split('\n')
        .filter(l => /^host/.test(l))
        .every(l => l.startsWith('hostssl')),
    ).toBe(true);
    // The key is on the socket emptyDir, 0600, never on the data volume.
    const key = fs.statSync(path.join(h.pods[0].runDir, 'tls', 'server.key'));
    expect(key.mode & 0o777).toBe(0o600);
  });

  test('a certificate close to expiry is renewed by the primary and picked up with a reload: same postmaster, new serial', async () => {
    const pid = (ordinal: number) => fs.readFileSync(path.join(h.pods[ordinal].dataDir, 'pgdata', 'postmaster.pid'), 'utf8').split('\n')[0];
    const pids = [pid(0), pid(1)];
    const first = await servedSerial(verified());
    // A certificate past two thirds of its life (valid from 5 minutes ago for 6 minutes), issued by the same CA.
    const caKey = h.secretData(tlsNames.caKeySecret(NAME))!;
    const current = h.secretData(tlsNames.serverSecret(NAME))!;
    const old = await createServerCertificate(
      { cert: caKey['ca.crt'], key: caKey['ca.key'] },
      describeCertificate(current['tls.crt']).sans,
      1 / 1440,
    );
    h.seedSecret(tlsNames.serverSecret(NAME), { 'tls.crt': old.cert, 'tls.key': old.key, 'ca.crt': caKey['ca.crt'] });
    const oldSerial = describeCertificate(old.cert).serial.toLowerCase();
    const t0 = Date.now();
    // The short-lived one is served first (picked up), then the primary's renewal replaces it.
    const renewed = await eventually(
      async () => {
        const s = await servedSerial(verified());
        if (s === first || s === oldSerial) throw new Error(`still serving ${s}`);
        return s;
      },
      90000,
      500,
    ).catch(e => {
      const agent = h.pods[0].process!.lines.filter(l => /TLS|certificate/.test(l)).slice(-10);
      throw new Error(`${(e as Error).message}\nprimary:\n${agent.join('\n')}`);
    });
    const secret = describeCertificate(h.secretData(tlsNames.serverSecret(NAME))!['tls.crt']);
    expect(renewed).toBe(secret.serial.toLowerCase());
    expect(secret.notAfter.getTime() - Date.now()).toBeGreaterThan(80 * 24 * 3600 * 1000);
    // The replica serves it too, without a restart either.
    const onReplica = await eventually(async () => {
      const s = await servedSerial(new Client({ ...h.direct(1, 'postgres', su, 'postgres'), ssl: { ca: fs.readFileSync(caFile, 'utf8') } }));
      if (s !== renewed) throw new Error(`replica serves ${s}`);
      return s;
    }, 30000);
    expect(onReplica).toBe(renewed);
    expect([pid(0), pid(1)]).toEqual(pids);
    say(
      `[tls] renewal of a certificate past 2/3 of its life served by both instances after ${((Date.now() - t0) / 1000).toFixed(1)} s, postmasters ${pids.join(', ')} unchanged`,
    );
  });
});
