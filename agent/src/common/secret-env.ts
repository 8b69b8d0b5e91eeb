/**
 * No secret in PostgreSQL's environment. The instance's own environment still holds the S3 keys (and the clone
 * source's password) as the manifest gives them; PostgreSQL, and so every backend, `archive_command`,
 * `restore_command` and `COPY … FROM PROGRAM`, is started without them. The children that need the S3 keys
 * (`wal-fetch` as restore_command) read them from a file only the pod's user can read (mode 0600, on the pod's
 * private run directory, an emptyDir), named by {@link SECRET_FILE_ENV}. Passwords of the roles are not in any
 * environment at all: the instance reads them from the Secrets through the API.
 */
import * as fs from 'fs';
import * as path from 'path';
import { BACKUP_ENV, CLONE_ENV, ENV, IMPORT_ENV, LOGICAL_ENV, RECOVERY_ENV } from '../../../lib/contract';

/** Points PostgreSQL's children at the file with the secrets their environment no longer has. */
export const SECRET_FILE_ENV = 'PGC_SECRET_FILE';

/** Environment variables that carry a secret and never reach PostgreSQL. */
export const SECRET_ENV_NAMES: readonly string[] = [
  BACKUP_ENV.accessKeyId,
  BACKUP_ENV.secretAccessKey,
  RECOVERY_ENV.accessKeyId,
  RECOVERY_ENV.secretAccessKey,
  CLONE_ENV.password,
  IMPORT_ENV.password,
  ENV.replicationPassword,
  LOGICAL_ENV.superuserPassword,
  'PGPASSWORD',
];

/** `env` without any secret: for the tools our Jobs run (pg_dump, pg_restore), which get passwords from a passfile. */
export function withoutSecrets(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const scrubbed = { ...env };
  for (const n of SECRET_ENV_NAMES) delete scrubbed[n];
  return scrubbed;
}

/**
 * Writes the secrets of `env` that PostgreSQL's children need into `<dir>/.pg-agent-secrets` (0600) and returns
 * the environment PostgreSQL gets: `env` without any secret, plus the file's name.
 */
export function postgresEnvironment(dir: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const file = path.join(dir, '.pg-agent-secrets');
  const secrets = Object.fromEntries(
    SECRET_ENV_NAMES.filter(
      n => n !== CLONE_ENV.password && n !== IMPORT_ENV.password && n !== LOGICAL_ENV.superuserPassword && env[n] !== undefined,
    ).map(n => [n, env[n]]),
  );
  fs.writeFileSync(file, JSON.stringify(secrets), { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  const scrubbed: NodeJS.ProcessEnv = { ...env, [SECRET_FILE_ENV]: file };
  for (const n of SECRET_ENV_NAMES) delete scrubbed[n];
  return scrubbed;
}

/** In a child of PostgreSQL (wal-fetch, wal-push): the secrets from the file, into this process's memory only. */
export function loadSecretFile(env: NodeJS.ProcessEnv = process.env): void {
  const file = env[SECRET_FILE_ENV];
  if (!file || !fs.existsSync(file)) return;
  const secrets = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>;
  for (const [k, v] of Object.entries(secrets)) if (env[k] === undefined && SECRET_ENV_NAMES.includes(k)) env[k] = v;
}
