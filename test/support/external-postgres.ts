/**
 * A PostgreSQL server that is not ours (the reference user's old Nomad instance): a plain initdb with TLS,
 * a replication role and password authentication from loopback, started with pg_ctl. The source of a
 * `bootstrap.pgBasebackup` migration in tests.
 */
import { execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { ClientConfig } from 'pg';
import { freePort, query } from './cluster-harness';
import { PG_BIN, podUser, tempDir } from './pod-runner';

const run = promisify(execFile);

export interface ExternalPostgres {
  readonly port: number;
  /** Superuser connection (password auth over TCP, as an admin would use). */
  connection(database?: string, user?: string, password?: string): ClientConfig;
  query<T = any>(sql: string, params?: unknown[], database?: string): Promise<T[]>;
  log(): string;
  stop(): Promise<void>;
}

export const EXTERNAL_SUPERUSER_PASSWORD = 'nomad-superuser-pw';

/** initdb, a self-signed certificate (ssl = on), roles and pg_hba.conf for the migration, then pg_ctl start. */
/** `opts.pgBin`: another major's server binaries (initdb, pg_ctl, postgres), e.g. PostgreSQL 17 from test/support/pg17.ts. */
export async function startExternalPostgres(opts: {
  replicationUser: string;
  replicationPassword: string;
  pgBin?: string;
}): Promise<ExternalPostgres> {
  const bin = opts.pgBin ?? PG_BIN;
  const user = podUser();
  const as = { uid: user?.uid, gid: user?.gid };
  const dir = tempDir('nomad-pg', user);
  const dataDir = path.join(dir, 'data');
  const socketDir = path.join(dir, 'run');
  fs.mkdirSync(socketDir);
  if (user) fs.chownSync(socketDir, user.uid, user.gid);
  const pwfile = path.join(dir, 'pw');
  fs.writeFileSync(pwfile, EXTERNAL_SUPERUSER_PASSWORD + '\n');
  if (user) fs.chownSync(pwfile, user.uid, user.gid);
  await run(
    path.join(bin, 'initdb'),
    ['-D', dataDir, '-U', 'postgres', `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--locale=C', '--encoding=UTF8'],
    as,
  );
  await run('openssl', [
    'req',
    '-x509',
    '-nodes',
    '-newkey',
    'rsa:2048',
    '-days',
    '2',
    '-subj',
    '/CN=localhost',
    '-keyout',
    path.join(dataDir, 'server.key'),
    '-out',
    path.join(dataDir, 'server.crt'),
  ]);
  fs.chmodSync(path.join(dataDir, 'server.key'), 0o600);
  if (user) for (const f of ['server.key', 'server.crt']) fs.chownSync(path.join(dataDir, f), user.uid, user.gid);
  const port = await freePort();
  fs.appendFileSync(
    path.join(dataDir, 'postgresql.conf'),
    [
      '',
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${socketDir}'`,
      'ssl = on',
      "wal_level = 'replica'",
      'max_wal_senders = 10',
      "wal_keep_size = '256MB'",
      "logging_collector = 'off'",
      // A setting the clone must not carry over (the agent clears postgresql.auto.conf).
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    path.join(dataDir, 'pg_hba.conf'),
    [
      'local all postgres trust',
      `hostssl replication ${opts.replicationUser} 127.0.0.1/32 scram-sha-256`,
      'host all all 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'),
  );
  const logFile = path.join(dir, 'postgres.log');
  const pgCtl = (args: string[]) =>
    new Promise<number | null>(resolve => spawn(path.join(bin, 'pg_ctl'), args, { ...as, stdio: 'ignore' }).on('exit', resolve));
  const readLog = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '');
  if ((await pgCtl(['-D', dataDir, '-l', logFile, '-w', 'start'])) !== 0) throw new Error(`external server did not start:\n${readLog()}`);
  const connection = (database = 'postgres', u = 'postgres', password = EXTERNAL_SUPERUSER_PASSWORD): ClientConfig => ({
    host: '127.0.0.1',
    port,
    user: u,
    password,
    database,
    connectionTimeoutMillis: 5000,
  });
  const server: ExternalPostgres = {
    port,
    connection,
    log: readLog,
    query: (sql, params = [], database = 'postgres') => query(connection(database), sql, params),
    async stop() {
      await pgCtl(['-D', dataDir, '-m', 'fast', '-w', 'stop']);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.query(`CREATE ROLE ${opts.replicationUser} WITH LOGIN REPLICATION PASSWORD '${opts.replicationPassword}'`);
  await server.query("ALTER SYSTEM SET work_mem = '7MB'");
  return server;
}
