/**
 * What `pg-agent backup` reads from the environment the backup CronJob/Job gives it (lib/backup/cluster-backup.ts).
 */
import { BACKUP_ENV, DEFAULT_PORTS, ENV, INCREMENTAL_ENV, IncrementalSpec, RetentionSpec, fullEveryMs } from '../../../lib/contract';
import { boolEnv, jsonEnv, optionalEnv, requireEnv } from '../common/env';
import { AgentError } from '../common/errors';
import { StoreConfig, readRetention, readStoreConfig } from '../store/config';
import { BaseBackupSource } from './pg-basebackup';

export interface BackupConfig {
  readonly cluster: string;
  readonly store: StoreConfig;
  /** Where to take the backup: the `-ro` Service with fromStandby (and more than one instance), else `-rw`. */
  readonly source: BaseBackupSource;
  /** The `-rw` Service: the fallback when no standby answers. */
  readonly primary: BaseBackupSource;
  readonly fromStandby: boolean;
  /** Read and checked before the backup starts, so a bad policy fails the Job before, not after, a backup. */
  readonly retention: RetentionSpec;
  readonly replicationPassword: string;
  /** `backup.incremental.fullEvery` in ms; undefined: every backup is a full one. */
  readonly fullEveryMs?: number;
}

/** `host` or `host:port` (PostgreSQL's port by default). */
export function parseHostPort(name: string, value: string): BaseBackupSource {
  const m = /^([^:]+)(?::(\d+))?$/.exec(value);
  if (!m)
    throw new AgentError(
      `environment variable ${name}="${value}" is not host[:port]`,
      'Re-synthesize the manifests; this variable is written by the constructs.',
      { variable: name },
    );
  return { host: m[1], port: m[2] ? Number(m[2]) : DEFAULT_PORTS.postgres };
}

export function readBackupConfig(env: NodeJS.ProcessEnv = process.env): BackupConfig {
  const cluster = requireEnv(ENV.cluster, env);
  const password = optionalEnv(ENV.replicationPassword, env);
  if (!password) {
    throw new AgentError(
      `the replication password is missing (environment variable ${ENV.replicationPassword} is empty)`,
      `Make sure the Secret ${cluster}-replication exists with a non-empty "password" key (the ${cluster}-secrets Job creates it).`,
      { variable: ENV.replicationPassword },
    );
  }
  const source = parseHostPort(BACKUP_ENV.sourceHost, requireEnv(BACKUP_ENV.sourceHost, env));
  const primaryRaw = optionalEnv(ENV.primaryHost, env);
  return {
    cluster,
    store: readStoreConfig(env),
    source,
    primary: primaryRaw ? parseHostPort(ENV.primaryHost, primaryRaw) : source,
    fromStandby: boolEnv(BACKUP_ENV.fromStandby, env),
    retention: readRetention(env),
    replicationPassword: password,
    fullEveryMs: readFullEvery(env),
  };
}

/** PGC_BACKUP_INCREMENTAL (absent: incrementals off), checked against the contract. */
function readFullEvery(env: NodeJS.ProcessEnv): number | undefined {
  if (optionalEnv(INCREMENTAL_ENV.spec, env) === undefined) return undefined;
  const spec = jsonEnv<IncrementalSpec>(INCREMENTAL_ENV.spec, env);
  const ms = typeof spec?.fullEvery === 'string' ? fullEveryMs(spec.fullEvery) : undefined;
  if (ms === undefined)
    throw new AgentError(
      `environment variable ${INCREMENTAL_ENV.spec} has no valid fullEvery ("${spec?.fullEvery}")`,
      'Re-synthesize the manifests; this variable is written by the constructs from backup.incremental.',
      { variable: INCREMENTAL_ENV.spec },
    );
  return ms;
}
