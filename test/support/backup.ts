/**
 * Test helpers for base backups: the store's environment mapped to the test S3 (as Services map to loopback
 * IPs), agent commands run with that environment, and a PostgreSQL server started from a restored data
 * directory with a restore_command, the way a recovery would.
 */
import { execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { BACKUP_DEFAULTS, BACKUP_ENV } from '../../lib/contract';
import { freePort, query, sleep } from './cluster-harness';
import { AGENT_BUNDLE, PG_BIN, podUser, tempDir } from './pod-runner';
import type { S3Endpoint } from './s3';

const run = promisify(execFile);

/** The BackupStore env of the manifests, pointed at the test S3 and a bucket of the test's own. */
export function storeEnvRewrite(endpoint: string, bucket: string): (name: string, value: string) => string {
  return (name, value) => (name === BACKUP_ENV.endpoint ? endpoint : name === BACKUP_ENV.bucket ? bucket : value);
}

/** The environment agent commands (list, wal-fetch) need to reach a store folder, without a manifest: what backupEnv renders by default. */
export function storeEnv(ep: S3Endpoint, bucket: string, serverName: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    [BACKUP_ENV.endpoint]: ep.endpoint,
    [BACKUP_ENV.bucket]: bucket,
    [BACKUP_ENV.prefix]: '',
    [BACKUP_ENV.region]: ep.region,
    [BACKUP_ENV.forcePathStyle]: 'true',
    [BACKUP_ENV.serverName]: serverName,
    [BACKUP_ENV.accessKeyId]: ep.accessKeyId,
    [BACKUP_ENV.secretAccessKey]: ep.secretAccessKey,
    [BACKUP_ENV.compression]: BACKUP_DEFAULTS.compression,
    [BACKUP_ENV.walCompression]: BACKUP_DEFAULTS.walCompression,
    [BACKUP_ENV.walMaxParallel]: String(BACKUP_DEFAULTS.walMaxParallel),
    ...extra,
  };
}

/** Runs the agent bundle with `args` and `env` (plus PATH), collecting output; as `user` when given (the pod's). */
export async function runAgent(
  args: string[],
  env: Record<string, string>,
  user?: { uid: number; gid: number },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise(resolve => {
    const child = spawn(process.execPath, [AGENT_BUNDLE, ...args], {
      env: { PATH: `${PG_BIN}:${process.env.PATH}`, HOME: '/tmp', ...env },
      uid: user?.uid,
      gid: user?.gid,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', d => {
      stdout += d;
    });
    child.stderr.on('data', d => {
      stderr += d;
    });
    child.on('exit', code => resolve({ code, stdout, stderr }));
  });
}

/** Parsed JSON log lines (one object per line). */
export function logLines(text: string | string[]): any[] {
  return (Array.isArray(text) ? text : text.split('\n'))
    .filter(l => l.trim())
    .map(l => {
      try {
        return JSON.parse(l);
      } catch {
        return { raw: l };
      }
    });
}

export interface RestoredServer {
  readonly port: number;
  readonly dataDir: string;
  readonly socketDir: string;
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts PostgreSQL on a restored data directory: recovery through `restoreCommand` (`%f %p` appended) to the end
 * of the archive, then promotion. The restored postgresql.conf is the source's; what points at the source pod
 * (port, sockets, hba_file, archiving) is overridden at its end.
 */
export async function startRestored(dataDir: string, restoreCommand: string, opts: { pgBin?: string } = {}): Promise<RestoredServer> {
  const user = podUser();
  const port = await freePort();
  const socketDir = tempDir('restored-sock', user);
  const logFile = path.join(socketDir, 'postgres.log');
  const conf = path.join(dataDir, 'postgresql.conf');
  const overrides = [
    '',
    '# test: restored copy',
    `port = ${port}`,
    "listen_addresses = '127.0.0.1'",
    `unix_socket_directories = '${socketDir}'`,
    `hba_file = '${path.join(dataDir, 'pg_hba.conf')}'`,
    "archive_mode = 'off'",
    `restore_command = '${restoreCommand} %f %p'`,
    "cluster_name = 'restored'",
    "primary_conninfo = ''",
    "primary_slot_name = ''",
    "logging_collector = 'off'",
    // The source's certificate lives in its pod's socket directory, not in the backup: plaintext on loopback here.
    "ssl = 'off'",
  ];
  if (fs.existsSync(conf)) fs.appendFileSync(conf, overrides.join('\n') + '\n');
  else fs.writeFileSync(conf, overrides.join('\n') + '\n');
  const hba = path.join(dataDir, 'pg_hba.conf');
  if (!fs.existsSync(hba)) fs.writeFileSync(hba, 'host all all 127.0.0.1/32 scram-sha-256\nlocal all all trust\n');
  // The source's hostssl rules, as plain host rules (ssl is off above).
  else fs.writeFileSync(hba, fs.readFileSync(hba, 'utf8').replace(/^hostssl /gm, 'host    '));
  fs.rmSync(path.join(dataDir, 'standby.signal'), { force: true });
  fs.writeFileSync(path.join(dataDir, 'recovery.signal'), '');
  fs.chmodSync(dataDir, 0o700);
  if (user) await run('chown', ['-R', `${user.uid}:${user.gid}`, dataDir]);
  const pgBin = opts.pgBin ?? PG_BIN;
  const child = spawn(path.join(pgBin, 'pg_ctl'), ['-D', dataDir, '-l', logFile, '-w', '-t', '300', 'start'], {
    uid: user?.uid,
    gid: user?.gid,
    stdio: 'ignore',
  });
  const code = await new Promise<number | null>(resolve => child.on('exit', resolve));
  const readLog = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '');
  if (code !== 0) throw new Error(`restored server did not start (pg_ctl exit ${code}):\n${readLog().split('\n').slice(-30).join('\n')}`);
  return {
    port,
    dataDir,
    socketDir,
    log: readLog,
    async stop() {
      const stop = spawn(path.join(pgBin, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', 'stop'], {
        uid: user?.uid,
        gid: user?.gid,
        stdio: 'ignore',
      });
      await new Promise(resolve => stop.on('exit', resolve));
      fs.rmSync(socketDir, { recursive: true, force: true });
    },
  };
}

/** Waits until the restored server has finished recovery and accepts writes. */
export async function waitPromoted(server: RestoredServer, user: string, password: string, timeoutMs = 120000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const [r] = await query(
        { host: '127.0.0.1', port: server.port, user, password, database: 'postgres', connectionTimeoutMillis: 3000 },
        'SELECT pg_is_in_recovery() AS r',
      );
      if (!r.r) return;
    } catch {
      // still starting
    }
    if (Date.now() > deadline) throw new Error(`restored server still in recovery:\n${server.log().split('\n').slice(-30).join('\n')}`);
    await sleep(250);
  }
}

/** Directories of the restore_command scripts made by this process, removed by {@link removeScripts}. */
const scriptDirs: string[] = [];

export function removeScripts(): void {
  for (const d of scriptDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** A shell script running barman-cloud-wal-restore against a store folder: CloudNativePG's restore_command. */
export function barmanWalRestoreScript(ep: S3Endpoint, bucket: string, serverName: string): string {
  const dir = tempDir('barman-cmd', podUser());
  scriptDirs.push(dir);
  const file = path.join(dir, 'wal-restore.sh');
  fs.writeFileSync(
    file,
    [
      '#!/bin/sh',
      `export AWS_ACCESS_KEY_ID='${ep.accessKeyId}' AWS_SECRET_ACCESS_KEY='${ep.secretAccessKey}'`,
      `exec barman-cloud-wal-restore --cloud-provider aws-s3 --endpoint-url ${ep.endpoint} s3://${bucket}/ ${serverName} "$@"`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  const user = podUser();
  if (user) fs.chownSync(file, user.uid, user.gid);
  return file;
}

/** A shell script running `wal-fetch` with the store env: PostgreSQL's restore_command for a restored copy. */
export function walFetchScript(env: Record<string, string>): string {
  const dir = tempDir('restore-cmd', podUser());
  scriptDirs.push(dir);
  const file = path.join(dir, 'wal-fetch.sh');
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const exports = Object.entries({ ...env, PATH: `${PG_BIN}:${process.env.PATH}`, HOME: '/tmp' }).map(([k, v]) => `export ${k}=${q(v)}`);
  fs.writeFileSync(file, ['#!/bin/sh', ...exports, `exec ${q(process.execPath)} ${q(AGENT_BUNDLE)} wal-fetch "$@"`, ''].join('\n'), { mode: 0o755 });
  const user = podUser();
  if (user) fs.chownSync(file, user.uid, user.gid);
  return file;
}
