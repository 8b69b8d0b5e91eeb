/**
 * The backup half of the contract: the environment the agent's backup commands read, and the S3 layout, which
 * is barman-cloud's (what CloudNativePG writes) so that backups move both ways between the two.
 */

export const BACKUP_ENV = {
  /** S3 endpoint URL, e.g. `http://rook-ceph-rgw-rgw-bulk.rook-cluster.svc:80`. */
  endpoint: 'PGC_S3_ENDPOINT',
  bucket: 'PGC_S3_BUCKET',
  /** Key prefix inside the bucket before `<serverName>/` (barman's destinationPath path part), '' or ending in '/'. */
  prefix: 'PGC_S3_PREFIX',
  region: 'PGC_S3_REGION',
  /** `true` for path-style addressing (Ceph RGW, MinIO). */
  forcePathStyle: 'PGC_S3_FORCE_PATH_STYLE',
  /** PEM bundle to trust for a TLS endpoint with a private CA. */
  caFile: 'PGC_S3_CA_FILE',
  /** Standard AWS names, filled by secretKeyRef from the user's credentials Secret. */
  accessKeyId: 'AWS_ACCESS_KEY_ID',
  secretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  /** Folder of this cluster in the store: the cluster name unless the user says otherwise. */
  serverName: 'PGC_BACKUP_SERVER_NAME',
  /** Data tar compression: `gzip` (barman-cloud can restore it), `zstd`, `lz4`, `none`. */
  compression: 'PGC_BACKUP_COMPRESSION',
  /** WAL compression: `gzip` (barman-compatible), `zstd`, `lz4`, `none`. */
  walCompression: 'PGC_WAL_COMPRESSION',
  /** JSON {@link RetentionSpec}. */
  retention: 'PGC_RETENTION',
  /** `true`: take base backups from a replica when one is streaming. */
  fromStandby: 'PGC_BACKUP_FROM_STANDBY',
  /** Segments archived in parallel. */
  walMaxParallel: 'PGC_WAL_MAX_PARALLEL',
  /** Where the backup job connects: the `-rw` or `-ro` Service (`host` or `host:port`). */
  sourceHost: 'PGC_BACKUP_SOURCE_HOST',
} as const;

export type Compression = 'gzip' | 'zstd' | 'lz4' | 'none';

/** Retention: a recovery window and/or grandfather-father-son counts. A backup kept by any rule is kept. */
export interface RetentionSpec {
  /** Keep every backup needed to restore to any point within this window, e.g. `90d`, `4w`, `6m`. */
  readonly recoveryWindow?: string;
  /** Keep the newest backup of each of the last N days. */
  readonly daily?: number;
  readonly weekly?: number;
  readonly monthly?: number;
  readonly yearly?: number;
}

/** File extension of a compressed object, as barman-cloud names it. */
export const COMPRESSION_EXTENSION: Record<Compression, string> = { gzip: '.gz', zstd: '.zst', lz4: '.lz4', none: '' };

/** Keys of the barman-cloud layout under `<prefix><serverName>/`. */
export const s3Layout = {
  serverRoot: (prefix: string, server: string) => `${prefix}${server}/`,
  walsRoot: (prefix: string, server: string) => `${prefix}${server}/wals/`,
  /** `wals/<first 16 hex: timeline + log>/<segment>[.gz]`; timeline history files sit in `wals/` itself (barman's hash_dir). */
  walKey: (prefix: string, server: string, walName: string, compression: Compression) =>
    `${prefix}${server}/wals/${walDir(walName)}${walName}${COMPRESSION_EXTENSION[compression]}`,
  baseRoot: (prefix: string, server: string) => `${prefix}${server}/base/`,
  backupDir: (prefix: string, server: string, backupId: string) => `${prefix}${server}/base/${backupId}/`,
  backupInfo: (prefix: string, server: string, backupId: string) => `${prefix}${server}/base/${backupId}/backup.info`,
  dataTar: (prefix: string, server: string, backupId: string, compression: Compression) =>
    `${prefix}${server}/base/${backupId}/data.tar${COMPRESSION_EXTENSION[compression]}`,
  /**
   * Our full backups' list of relation files (JSON, beside data.tar; barman-cloud ignores it): the first incremental
   * on a full backup stores a relation file the full did not have whole (docs/backups-incremental.md).
   */
  relationFiles: (prefix: string, server: string, backupId: string) => `${prefix}${server}/base/${backupId}/relation-files.json`,
} as const;

/** Is this key a backup's `backup.info` (the file that makes a `base/<id>/` folder a backup)? */
export function isBackupInfoKey(key: string): boolean {
  return key.endsWith('/backup.info');
}

/** WAL file names PostgreSQL archives: segments, partial segments, backup history and timeline history files. */
export const WAL_FILE = /^[0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?$|^[0-9A-F]{8}\.history$/;

function walDir(walName: string): string {
  return /\.history$/.test(walName) ? '' : `${walName.slice(0, 16)}/`;
}

/** barman backup ids are the start time in UTC: `YYYYMMDDTHHMMSS`. */
export function backupIdFor(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, '');
}

/** The environment of a cluster that bootstraps from another cluster's backups (`bootstrap.recovery`). */
export const RECOVERY_ENV = {
  /** JSON {@link RecoverySourceSpec}: where the source cluster's backups are. */
  source: 'PGC_RECOVERY_SOURCE',
  /** JSON {@link RecoveryTargetSpec}; absent = replay all archived WAL ("latest"). */
  target: 'PGC_RECOVERY_TARGET',
  /** The source store's keys (secretKeyRef into its credentials Secret). */
  accessKeyId: 'PGC_RECOVERY_ACCESS_KEY_ID',
  secretAccessKey: 'PGC_RECOVERY_SECRET_ACCESS_KEY',
} as const;

export interface RecoverySourceSpec {
  readonly endpoint: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly region: string;
  readonly forcePathStyle: boolean;
  readonly serverName: string;
  readonly caFile?: string;
}

/** Where recovery stops. At most one of time, lsn, xid, name; none = the end of the archive. */
export interface RecoveryTargetSpec {
  /** ISO 8601 time with a zone, e.g. `2026-11-27T10:00:00Z`. */
  readonly time?: string;
  readonly lsn?: string;
  readonly xid?: string;
  /** A restore point made with pg_create_restore_point(). */
  readonly name?: string;
  /** Stop just after (true) or just before (false) the target. @default true */
  readonly inclusive?: boolean;
}
