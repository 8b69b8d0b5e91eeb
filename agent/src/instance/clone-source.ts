/**
 * Bootstrap by streaming a running PostgreSQL server that is not part of this cluster (`bootstrap.pgBasebackup`):
 * a migration. The first instance clones it, then follows it as a standby while the manifest says `follow`, and
 * promotes (a new timeline: the cluster becomes independent) once the manifest says otherwise.
 *
 * Two files beside the data directory (on the volume, never copied to replicas by pg_basebackup) carry the state
 * across restarts: `.following-source` while the data is a standby of the source, `.roles-pending` until the
 * first reconcile has given the source's roles this cluster's passwords.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CLONE_ENV, CloneSourceSpec } from '../../../lib/contract';
import { jsonEnv, optionalEnv } from '../common/env';
import { AgentError } from '../common/errors';
import { execTool } from '../common/exec';
import { log } from '../common/log';
import { writePassfile } from '../common/passfile';

export interface CloneConfig {
  readonly source: CloneSourceSpec;
  readonly password: string;
  /** Keep following the source (true) or promote (false). */
  readonly follow: boolean;
}

export function readCloneConfig(env: NodeJS.ProcessEnv): CloneConfig | undefined {
  if (optionalEnv(CLONE_ENV.source, env) === undefined) return undefined;
  const source = jsonEnv<CloneSourceSpec>(CLONE_ENV.source, env);
  if (typeof source?.host !== 'string' || !Number.isInteger(source.port) || typeof source.user !== 'string') {
    throw new AgentError(
      `environment variable ${CLONE_ENV.source} is not a {host, port, user, sslmode} object`,
      'Re-synthesize the manifests; this variable is written by the constructs.',
    );
  }
  const password = optionalEnv(CLONE_ENV.password, env);
  if (password === undefined) {
    throw new AgentError(
      `the password for the clone source (environment variable ${CLONE_ENV.password}) is missing`,
      "Create the Secret named in bootstrap.pgBasebackup.passwordSecret with the source role's password, then restart the pod.",
      { variable: CLONE_ENV.password },
    );
  }
  const follow = optionalEnv(CLONE_ENV.follow, env) ?? 'false';
  if (follow !== 'true' && follow !== 'false') {
    throw new AgentError(
      `environment variable ${CLONE_ENV.follow} is "${follow}", not true or false`,
      'Re-synthesize the manifests; set bootstrap.pgBasebackup.follow on the construct.',
    );
  }
  return { source, password, follow: follow === 'true' };
}

export function describeSource(s: CloneSourceSpec): string {
  return `${s.user}@${s.host}:${s.port}`;
}

const followingFile = (pgdata: string) => `${pgdata}.following-source`;
const rolesPendingFile = (pgdata: string) => `${pgdata}.roles-pending`;

/** True while this data directory is a standby of the external source (cloned, not yet promoted). */
export function isFollowingSource(pgdata: string): boolean {
  return fs.existsSync(followingFile(pgdata));
}

export function stopFollowingSource(pgdata: string): void {
  fs.rmSync(followingFile(pgdata), { force: true });
}

/** True until the first reconcile after a bootstrap that brought another cluster's roles (and passwords) along. */
export function rolesPending(pgdata: string): boolean {
  return fs.existsSync(rolesPendingFile(pgdata));
}

export function markRolesPending(pgdata: string): void {
  fs.writeFileSync(rolesPendingFile(pgdata), new Date().toISOString() + '\n', { mode: 0o600 });
}

export function clearRolesPending(pgdata: string): void {
  fs.rmSync(rolesPendingFile(pgdata), { force: true });
}

/** The libpq passfile with the source role's password, on the socket emptyDir (never on the volume). */
export function writeSourcePassfile(socketDir: string, clone: CloneConfig): string {
  const { host, port, user } = clone.source;
  return writePassfile(path.join(socketDir, '.pgpass-clone-source'), { host, port, user, password: clone.password });
}

/** primary_conninfo of an instance that follows the source. */
export function sourceConninfo(socketDir: string, clone: CloneConfig, applicationName: string): string {
  const s = clone.source;
  return [
    `host=${s.host}`,
    `port=${s.port}`,
    `user=${s.user}`,
    `passfile=${writeSourcePassfile(socketDir, clone)}`,
    `application_name=${applicationName}`,
    `sslmode=${s.sslmode}`,
    ...(s.sslRootCert ? [`sslrootcert=${s.sslRootCert}`] : []),
    'connect_timeout=5',
  ].join(' ');
}

/**
 * Clones the source into `dir` with pg_basebackup (WAL streamed alongside, so the copy is consistent on its own).
 * Retries while the source cannot be reached; authentication and version errors are final.
 */
export async function cloneSource(
  clone: CloneConfig,
  socketDir: string,
  dir: string,
  opts: { deadlineMs?: number; retryMs?: number } = {},
): Promise<void> {
  const s = clone.source;
  const passfile = writeSourcePassfile(socketDir, clone);
  const deadline = Date.now() + (opts.deadlineMs ?? 5 * 60 * 1000);
  for (let attempt = 1; ; attempt++) {
    fs.rmSync(dir, { recursive: true, force: true });
    try {
      log.info({ source: describeSource(s), sslmode: s.sslmode, attempt }, 'cloning the external source with pg_basebackup');
      await execTool(
        'pg_basebackup',
        ['-h', s.host, '-p', String(s.port), '-U', s.user, '-D', dir, '-X', 'stream', '--checkpoint=fast', '--no-password', '--progress'],
        {
          env: {
            PGPASSFILE: passfile,
            PGSSLMODE: s.sslmode,
            PGCONNECT_TIMEOUT: '5',
            PGAPPNAME: 'cdk8s-postgres-clone',
            ...(s.sslRootCert ? { PGSSLROOTCERT: s.sslRootCert } : {}),
          },
          fix: 'Check bootstrap.pgBasebackup (host, port, user, sslmode), the password Secret, and that the source\'s pg_hba.conf allows "replication" for this user from the pods.',
        },
      );
      break;
    } catch (e) {
      const message = (e as Error).message;
      fs.rmSync(dir, { recursive: true, force: true });
      if (/incompatible server version/i.test(message)) {
        throw new AgentError(
          `the source ${describeSource(s)} runs another PostgreSQL major version than this image: ${message}`,
          "Streaming needs the same major version: set postgresVersion to the source's major, clone, promote, then upgrade.",
        );
      }
      if (/password authentication failed|no pg_hba.conf entry|must have replication|permission denied/i.test(message)) {
        throw new AgentError(
          `the source ${describeSource(s)} refused the clone: ${message}`,
          'Give the user the REPLICATION attribute, allow "replication" for it in the source\'s pg_hba.conf, and check the password Secret.',
        );
      }
      if (Date.now() > deadline)
        throw new AgentError(
          `cannot clone the source ${describeSource(s)}: ${message}`,
          'Check that the source is reachable from the pods (host, port, network policies); this pod restarts and tries again.',
        );
      log.warn({ attempt, err: message }, 'the source cannot be cloned yet; retrying');
      await new Promise(r => setTimeout(r, opts.retryMs ?? 3000));
    }
  }
  // The source's own settings and state do not apply here: its ALTER SYSTEM settings, its signal files.
  fs.writeFileSync(path.join(dir, 'postgresql.auto.conf'), '# cleared by the agent after the clone\n', { mode: 0o600 });
  for (const f of ['standby.signal', 'recovery.signal']) fs.rmSync(path.join(dir, f), { force: true });
  fs.chmodSync(dir, 0o700);
}

/** After the clone lands in place: the data follows the source and its roles still have the source's passwords. */
export function markClonedFromSource(pgdata: string): void {
  fs.writeFileSync(followingFile(pgdata), new Date().toISOString() + '\n', { mode: 0o600 });
  markRolesPending(pgdata);
}
