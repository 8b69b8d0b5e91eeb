/**
 * What `pg-agent logical-backup` and `restore-database` read from the environment the LogicalBackup and
 * DatabaseRestore constructs give them (lib/backup/logical-backup.ts), and how they reach the primary.
 */
import { ClientConfig } from 'pg';
import { pgSslFromEnv } from '../common/pg-tls';
import { DATABASE_NAME, DatabaseSpec, ENV, LOGICAL_ENV, LogicalDatabaseSpec, RetentionSpec, SUPERUSER } from '../../../lib/contract';
import { jsonEnv, optionalEnv, requireEnv } from '../common/env';
import { AgentError } from '../common/errors';
import { parseHostPort } from '../basebackup/config';
import { StoreConfig, readStoreConfig } from '../store/config';
import { connectKube } from '../k8s/client';

/** Where the superuser reaches the primary: the `-rw` Service with the password, or (in an instance pod) the local socket. */
export interface PrimaryConnection {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Undefined on the local socket (peer authentication). */
  readonly password?: string;
  /** node pg's TLS options from the Job's libpq variables (verify-full against `<cluster>-ca`); none on the socket. */
  readonly ssl?: ReturnType<typeof pgSslFromEnv>;
}

export interface LogicalConfig {
  readonly cluster: string;
  readonly store: StoreConfig;
  readonly primary: PrimaryConnection;
  /** The databases with their declared owners (the Job's list, else the cluster's databases). */
  readonly databases: LogicalDatabaseSpec[];
  readonly retention?: RetentionSpec;
}

/**
 * The configuration with the superuser's password: read through the API from the Secret the manifest names (the
 * Job's ServiceAccount may get only that Secret), else from the environment of older manifests, else none (the
 * local socket in an instance pod).
 */
export async function readLogicalConfigWithPassword(env: NodeJS.ProcessEnv = process.env): Promise<LogicalConfig> {
  const cfg = readLogicalConfig(env);
  const secret = optionalEnv(ENV.superuserSecret, env);
  if (!secret || cfg.primary.password || cfg.primary.host === optionalEnv(ENV.socketDir, env)) return cfg;
  const kube = await connectKube(requireEnv(ENV.namespace, env));
  const data = (await kube.getSecret(secret))?.data?.password;
  if (!data)
    throw new AgentError(
      `the superuser Secret ${secret} is missing or has no "password" key`,
      `Make sure the Secret ${secret} exists with a non-empty "password" key (the ${cfg.cluster}-secrets Job creates it).`,
      { secret },
    );
  return { ...cfg, primary: { ...cfg.primary, password: Buffer.from(data, 'base64').toString('utf8') } };
}

export function readLogicalConfig(env: NodeJS.ProcessEnv = process.env): LogicalConfig {
  const cluster = requireEnv(ENV.cluster, env);
  const password = optionalEnv(LOGICAL_ENV.superuserPassword, env);
  let primary: PrimaryConnection;
  const rw = () => parseHostPort(ENV.primaryHost, requireEnv(ENV.primaryHost, env));
  if (password) {
    primary = { ...rw(), user: SUPERUSER, password, ssl: pgSslFromEnv(env) };
  } else if (optionalEnv(ENV.socketDir, env) && optionalEnv(ENV.pgdata, env)) {
    // `kubectl exec <primary pod> -- pg-agent …`: the agent's own peer login on the pod's private socket.
    primary = { host: requireEnv(ENV.socketDir, env), port: Number(optionalEnv(ENV.port, env) ?? 5432), user: SUPERUSER };
  } else if (optionalEnv(ENV.superuserSecret, env)) {
    // A LogicalBackup or DatabaseRestore Job: the password is read through the API (readLogicalConfigWithPassword).
    primary = { ...rw(), user: SUPERUSER, ssl: pgSslFromEnv(env) };
  } else {
    throw new AgentError(
      `the superuser password is missing (environment variable ${LOGICAL_ENV.superuserPassword} is empty)`,
      `Make sure the Secret ${cluster}-superuser exists with a non-empty "password" key (the ${cluster}-secrets Job creates it), or run the command in the primary's pod.`,
      { variable: LOGICAL_ENV.superuserPassword },
    );
  }
  let databases: LogicalDatabaseSpec[];
  if (optionalEnv(LOGICAL_ENV.databases, env)) databases = jsonEnv<LogicalDatabaseSpec[]>(LOGICAL_ENV.databases, env);
  else if (optionalEnv(ENV.databases, env)) databases = jsonEnv<DatabaseSpec[]>(ENV.databases, env).map(d => ({ name: d.name, owner: d.owner }));
  else databases = [];
  for (const d of databases)
    if (!DATABASE_NAME.test(d?.name ?? '') || typeof d.owner !== 'string')
      throw new AgentError(
        `environment variable ${LOGICAL_ENV.databases} holds an entry that is not {name, owner}: ${JSON.stringify(d)}`,
        'Re-synthesize the manifests; this variable is written by the LogicalBackup and DatabaseRestore constructs.',
      );
  return {
    cluster,
    store: readStoreConfig(env),
    primary,
    databases,
    retention: optionalEnv(LOGICAL_ENV.retention, env) ? jsonEnv<RetentionSpec>(LOGICAL_ENV.retention, env) : undefined,
  };
}

export function clientConfig(p: PrimaryConnection, database: string): ClientConfig {
  return {
    host: p.host,
    port: p.port,
    user: p.user,
    password: p.password,
    database,
    ...(p.ssl !== undefined ? { ssl: p.ssl } : {}),
    connectionTimeoutMillis: 5000,
    application_name: 'pg-agent',
  };
}

/** libpq environment for pg_dump/pg_restore: the password only in a 0600 passfile. */
export function libpqEnv(p: PrimaryConnection, passfile?: string): NodeJS.ProcessEnv {
  return { PGHOST: p.host, PGPORT: String(p.port), PGUSER: p.user, ...(passfile ? { PGPASSFILE: passfile } : {}), PGCONNECT_TIMEOUT: '10' };
}
