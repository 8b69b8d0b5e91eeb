/**
 * The logical-backup half of the contract (issue 18): per-database `pg_dump -Fc` dumps beside the barman-compatible
 * layout, and `pg-agent restore-database`. Read by `pg-agent logical-backup`, `restore-database` and `list`; written
 * by the LogicalBackup and DatabaseRestore constructs.
 */

export const LOGICAL_ENV = {
  /** JSON array of {@link LogicalDatabaseSpec}: the databases to dump, and each one's declared owner. */
  databases: 'PGC_LOGICAL_DATABASES',
  /** JSON {@link RetentionSpec} of the logical dumps (separate from the base backups' PGC_RETENTION). */
  retention: 'PGC_LOGICAL_RETENTION',
  /**
   * The `postgres` superuser's password, as manifests before this version gave it (secretKeyRef). The Jobs now get
   * the Secret's name (ENV.superuserSecret, `PGC_SUPERUSER_SECRET`) and read the password through the API, with a ServiceAccount
   * that may get only that Secret. pg_dump must read every object of a database, and a restore creates databases
   * and sets roles. Written into a 0600 passfile, never passed to pg_dump or pg_restore on their command line or
   * environment.
   */
  superuserPassword: 'PGC_SUPERUSER_PASSWORD',
} as const;

export interface LogicalDatabaseSpec {
  readonly name: string;
  /** The owner the cluster declares for it: restored objects are owned by this role. */
  readonly owner: string;
}

/** `metadata.format` of a logical dump's metadata file. */
export const LOGICAL_FORMAT = 'pg-agent-logical-1';

/** What `<id>.json` beside a dump says; written after the dump is stored and verified, so its presence marks it complete. */
export interface LogicalBackupMeta {
  readonly format: typeof LOGICAL_FORMAT;
  /** barman-style id of the run (`YYYYMMDDTHHMMSS`, UTC start), shared by every database dumped in that run. */
  readonly backupId: string;
  readonly database: string;
  /** The declared owner when dumped. */
  readonly owner: string;
  /** Key of the dump object. */
  readonly key: string;
  /** Bytes of the dump (custom format, compressed). */
  readonly size: number;
  /** SHA-256 (hex) of the dump's bytes: a restore refuses a dump that does not match. */
  readonly sha256: string;
  /** `server_version_num` of the dumped server, e.g. 150018. */
  readonly serverVersion: number;
  /** `pg_dump --version`. */
  readonly pgDump: string;
  readonly startTime: string;
  readonly endTime: string;
}

/** Keys under `<prefix><serverName>/logical/`: barman-cloud reads only `base/` and `wals/`, so this folder is left alone. */
export const logicalLayout = {
  root: (prefix: string, server: string) => `${prefix}${server}/logical/`,
  databaseRoot: (prefix: string, server: string, db: string) => `${prefix}${server}/logical/${db}/`,
  dump: (prefix: string, server: string, db: string, backupId: string) => `${prefix}${server}/logical/${db}/${backupId}.dump`,
  meta: (prefix: string, server: string, db: string, backupId: string) => `${prefix}${server}/logical/${db}/${backupId}.json`,
} as const;

export const LOGICAL_COMPONENTS = { logicalBackup: 'logical-backup', databaseRestore: 'database-restore' } as const;

export const logicalNames = {
  logicalBackupCronJob: (c: string) => `${c}-logical-backup`,
  /** A DatabaseRestore Job: `<cluster>-restore-<database>` (`_` becomes `-`) unless named. */
  databaseRestoreJob: (c: string, db: string) => `${c}-restore-${db.replace(/_/g, '-')}`,
} as const;

/** Database names the constructs and the agent accept: unquoted identifiers, at most 63 bytes. */
export const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
