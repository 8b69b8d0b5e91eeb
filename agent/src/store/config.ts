/**
 * The backup store as the agent sees it, read from the environment the constructs write (BACKUP_ENV). Shared by
 * WAL archiving, base backups, retention, listing and restore.
 */
import { BACKUP_DEFAULTS, BACKUP_ENV, COMPRESSIONS, Compression, RetentionSpec, WAL_MAX_PARALLEL_RANGE, isCompression } from '../../../lib/contract';
import { validateRetention } from '../../../lib/backup/retention';
import { boolEnv, jsonEnv, optionalEnv, presentEnv, rangedIntEnv, requireEnv } from '../common/env';
import { AgentError } from '../common/errors';
import type { S3Config } from '../s3/config';

export interface StoreConfig {
  readonly s3: S3Config;
  /** `<prefix>` before the server folder, '' or ending in '/'. */
  readonly prefix: string;
  readonly serverName: string;
  readonly compression: Compression;
  readonly walCompression: Compression;
  readonly walMaxParallel: number;
}

/** A compression the manifest always writes (never defaulted here: the constructs chose it). */
function compressionEnv(name: string, env: NodeJS.ProcessEnv): Compression {
  const v = requireEnv(name, env);
  if (!isCompression(v))
    throw new AgentError(
      `environment variable ${name}="${v}" is not a compression`,
      `Use one of ${COMPRESSIONS.join(', ')} (re-synthesize the manifests).`,
      { variable: name },
    );
  return v;
}

/** True when the pod was given a backup store (the cluster has `backup`). */
export function hasStore(env: NodeJS.ProcessEnv = process.env): boolean {
  return optionalEnv(BACKUP_ENV.endpoint, env) !== undefined;
}

/**
 * The store as the manifest describes it (lib/backup: BackupStore.env and backupEnv). Every setting the manifest
 * always writes is required: a missing one means the manifest is out of date, and guessing could e.g. write WAL in
 * a compression the constructs did not choose.
 */
export function readStoreConfig(env: NodeJS.ProcessEnv = process.env): StoreConfig {
  const prefix = presentEnv(BACKUP_ENV.prefix, env);
  return {
    s3: {
      endpoint: requireEnv(BACKUP_ENV.endpoint, env),
      bucket: requireEnv(BACKUP_ENV.bucket, env),
      region: optionalEnv(BACKUP_ENV.region, env),
      forcePathStyle: boolEnv(BACKUP_ENV.forcePathStyle, env),
      accessKeyId: requireEnv(BACKUP_ENV.accessKeyId, env),
      secretAccessKey: requireEnv(BACKUP_ENV.secretAccessKey, env),
      caBundle: optionalEnv(BACKUP_ENV.caFile, env),
    },
    prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`,
    serverName: requireEnv(BACKUP_ENV.serverName, env),
    compression: compressionEnv(BACKUP_ENV.compression, env),
    walCompression: compressionEnv(BACKUP_ENV.walCompression, env),
    walMaxParallel: rangedIntEnv(BACKUP_ENV.walMaxParallel, WAL_MAX_PARALLEL_RANGE, env),
  };
}

/**
 * The write settings of a store the agent only reads (a recovery source). Nothing is written there: the WAL
 * compression only says which variant of a WAL file to prefer when several exist (the one this cluster writes).
 */
export function readOnlyStoreSettings(env: NodeJS.ProcessEnv = process.env): Pick<StoreConfig, 'compression' | 'walCompression' | 'walMaxParallel'> {
  return {
    compression: BACKUP_DEFAULTS.compression,
    walCompression: hasStore(env) ? compressionEnv(BACKUP_ENV.walCompression, env) : BACKUP_DEFAULTS.walCompression,
    walMaxParallel: BACKUP_DEFAULTS.walMaxParallel,
  };
}

/** The retention policy, checked as at synth (the environment may have been edited by hand). */
export function readRetention(env: NodeJS.ProcessEnv = process.env): RetentionSpec {
  const spec = jsonEnv<RetentionSpec>(BACKUP_ENV.retention, env);
  try {
    return validateRetention(BACKUP_ENV.retention, spec);
  } catch (e) {
    throw new AgentError(
      `retention policy: ${(e as Error).message}`,
      "Fix the retention of the cluster's backup props and re-synthesize the manifests.",
      { retention: spec },
    );
  }
}
