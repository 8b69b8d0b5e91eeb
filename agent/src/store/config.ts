/**
 * The backup store as the agent sees it, read from the environment the constructs write (BACKUP_ENV). Shared by
 * WAL archiving, base backups, retention, listing and restore.
 */
import { BACKUP_ENV, Compression, RetentionSpec } from '../../../lib/contract';
import { intEnv, jsonEnv, optionalEnv, requireEnv } from '../common/env';
import { AgentError } from '../common/errors';
import type { S3Config } from '../s3/client';

export interface StoreConfig {
  readonly s3: S3Config;
  /** `<prefix>` before the server folder, '' or ending in '/'. */
  readonly prefix: string;
  readonly serverName: string;
  readonly compression: Compression;
  readonly walCompression: Compression;
  readonly walMaxParallel: number;
}

const COMPRESSIONS: Compression[] = ['gzip', 'zstd', 'lz4', 'none'];

function compressionEnv(name: string, env: NodeJS.ProcessEnv): Compression {
  const v = (optionalEnv(name, env) ?? 'gzip') as Compression;
  if (!COMPRESSIONS.includes(v))
    throw new AgentError(
      `environment variable ${name}="${v}" is not a compression`,
      `Use one of ${COMPRESSIONS.join(', ')} (re-synthesize the manifests).`,
    );
  return v;
}

/** True when the pod was given a backup store (the cluster has `backup`). */
export function hasStore(env: NodeJS.ProcessEnv = process.env): boolean {
  return optionalEnv(BACKUP_ENV.endpoint, env) !== undefined;
}

export function readStoreConfig(env: NodeJS.ProcessEnv = process.env): StoreConfig {
  const prefix = optionalEnv(BACKUP_ENV.prefix, env) ?? '';
  return {
    s3: {
      endpoint: requireEnv(BACKUP_ENV.endpoint, env),
      bucket: requireEnv(BACKUP_ENV.bucket, env),
      region: optionalEnv(BACKUP_ENV.region, env),
      forcePathStyle: (optionalEnv(BACKUP_ENV.forcePathStyle, env) ?? 'true') === 'true',
      accessKeyId: requireEnv(BACKUP_ENV.accessKeyId, env),
      secretAccessKey: requireEnv(BACKUP_ENV.secretAccessKey, env),
      caBundle: optionalEnv(BACKUP_ENV.caFile, env),
    },
    prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`,
    serverName: requireEnv(BACKUP_ENV.serverName, env),
    compression: compressionEnv(BACKUP_ENV.compression, env),
    walCompression: compressionEnv(BACKUP_ENV.walCompression, env),
    walMaxParallel: intEnv(BACKUP_ENV.walMaxParallel, env, 4),
  };
}

export function readRetention(env: NodeJS.ProcessEnv = process.env): RetentionSpec {
  return jsonEnv<RetentionSpec>(BACKUP_ENV.retention, env);
}
